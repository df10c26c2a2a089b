# planstream: every target creates what it needs (virtualenv, packages, test tools).
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
HOST   ?= 127.0.0.1
PORT   ?= 8080

.PHONY: run test lint bench bench-full tools clean check-deploy

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test,bench]'
	touch $(STAMP)

# Independent ZIP readers the tests check archives with, the PDF reader the print
# tests use, the Chromium (with CJK fonts) the print and browser tests drive, and
# nginx for the proxy tests (Debian packages).
tools:
	@missing=""; \
	command -v 7zz    >/dev/null || missing="$$missing 7zip"; \
	command -v bsdtar >/dev/null || missing="$$missing libarchive-tools"; \
	command -v unzip  >/dev/null || missing="$$missing unzip"; \
	command -v javac  >/dev/null || missing="$$missing default-jdk-headless"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v pdfinfo  >/dev/null || missing="$$missing poppler-utils"; \
	fc-list 2>/dev/null | grep -q "Noto Sans CJK" || missing="$$missing fonts-noto-cjk"; \
	command -v nginx  >/dev/null || [ -x /usr/sbin/nginx ] || missing="$$missing nginx"; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

run: $(STAMP)
	$(PY) -m server --host $(HOST) --port $(PORT) $(ARGS)

test: $(STAMP) tools
	$(PY) -m ruff check .
	$(PY) -m mypy
	$(PY) -m pytest -q -n 2 --durations=10

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy

bench: $(STAMP)
	$(PY) bench/archive_speed.py
	$(PY) bench/plan_speed.py
	timeout --kill-after=30 420 $(PY) bench/abort_storm.py
	timeout --kill-after=60 720 $(PY) bench/compare.py --profile short
	timeout --kill-after=30 600 $(PY) bench/s3.py
	timeout --kill-after=30 600 $(PY) bench/scale.py --clients 2000 --hold-timeout 120

bench-full: $(STAMP)
	timeout --kill-after=60 14400 $(PY) bench/compare.py --profile full

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache .hypothesis

# Post-deploy check against any deployment: make check-deploy URL=https://host
check-deploy: $(STAMP)
	@test -n "$(URL)" || { echo "usage: make check-deploy URL=https://host"; exit 2; }
	$(PY) tools/check_deploy.py $(URL)
