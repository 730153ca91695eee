# Two commands a new user needs (README): `make demo` and `make test`.
# Both set everything up first: uv (if missing), the system libraries open3d loads,
# and the locked Python environment in .venv.

SHELL := /bin/bash
UV := $(or $(shell command -v uv 2>/dev/null),$(CURDIR)/.uv/bin/uv)
# Shared libraries the open3d wheel loads, and the Debian packages that provide them.
SYSTEM_LIBS := libusb-1.0.so.0 libGL.so.1 libEGL.so.1 libX11.so.6 libudev.so.1
SYSTEM_PKGS := libusb-1.0-0 libgl1 libegl1 libx11-6 libudev1
DEMO_ARGS ?=
PYTEST_ARGS ?=

.PHONY: setup system-libs demo test lint bench

$(UV):
	python3 -m venv $(CURDIR)/.uv && $(CURDIR)/.uv/bin/pip install --quiet uv

system-libs:
	@missing=$$(for l in $(SYSTEM_LIBS); do /sbin/ldconfig -p | grep -q "$$l" || echo $$l; done); \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing system libraries for open3d ($$missing)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(SYSTEM_PKGS) >/dev/null; \
	  else \
	    echo "open3d needs system libraries ($$missing); run: sudo apt-get install -y $(SYSTEM_PKGS)"; exit 1; \
	  fi; \
	fi

setup: $(UV) system-libs
	$(UV) sync --locked

# The synthetic dataset end to end: generated, preprocessed, trained, evaluated, reported
# (docs/workflow.md); DEMO_ARGS passes extra Snakemake arguments.
demo: setup
	$(UV) run snakemake demo --cores 2 $(DEMO_ARGS)

test: setup
	# One BLAS/OpenMP thread per xdist worker: two workers share the two cores.
	OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 $(UV) run pytest -n 2 $(PYTEST_ARGS)

lint: setup
	$(UV) run ruff check src tests benchmarks
