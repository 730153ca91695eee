#!/usr/bin/env bash
# Install the asmp package (without re-resolving dependencies) into the rule environment.
set -euo pipefail
pip install --no-deps --no-build-isolation -e "$(dirname "$0")/.."
