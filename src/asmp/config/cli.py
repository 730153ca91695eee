"""``asmp config CFG``: print the resolved configuration as YAML."""

from __future__ import annotations

import argparse

import yaml

from asmp.config import config_hash, load_config


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", help="dataset config YAML (e.g. workflow/config/synth.yaml)")


def run(args: argparse.Namespace) -> int:
    cfg = load_config(args.config)
    print(f"# config_hash: {config_hash(cfg)}")
    print(yaml.safe_dump(cfg, sort_keys=False), end="")
    return 0
