# The two commands: `make run` (install, then the main job) and `make test` (install, then the suite).
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
DEBIAN_PACKAGES := ffmpeg chromium chromium-driver
export NUMBA_CACHE_DIR ?= $(CURDIR)/.cache/numba
export MPLBACKEND ?= Agg
PYTEST_WORKERS ?= 2

.PHONY: install run test lint format bench clean debian

install: $(STAMP)

# Debian packages (ffmpeg is the reference loudness meter; Chromium drives browser tests).
debian:
	@missing=""; for p in $(DEBIAN_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  else echo "Missing Debian packages:$$missing (run as root or: sudo apt-get install$$missing)"; fi; \
	fi

$(STAMP): pyproject.toml constraints.txt
	$(MAKE) debian
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q -U pip
	$(PY) -m pip install -q -c constraints.txt -e '.[all,dev]'
	touch $(STAMP)

# The main job: the demo song in the library (only when the library is empty), then the
# web platform on http://127.0.0.1:8000 (PORT=... to change; Ctrl+C stops it).
PORT ?= 8000
run: install
	@test -f demo-out/mix.wav || $(VENV)/bin/stemforge demo --out demo-out --seed 7
	@if [ "$$($(VENV)/bin/stemforge library list --limit 1 --json)" = "[]" ]; then \
	  echo "The library is empty: adding the demo song (analysis takes a minute)..."; \
	  $(VENV)/bin/stemforge library add demo-out/mix.wav --workers 1; \
	fi
	$(VENV)/bin/stemforge serve --port $(PORT)

test: install
	$(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadfile -q

lint: install
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: install
	$(PY) benchmarks/run.py

clean:
	rm -rf $(VENV) .cache .pytest_cache .ruff_cache .hypothesis demo-out
