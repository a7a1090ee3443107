# cxm — the two commands: `make run` and `make test`. See README.md.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
export PORT

.PHONY: run test lint bench messages assets install system-test-deps clean help

help:
	@echo "make run    — install, migrate, load demo data, serve on http://127.0.0.1:$(PORT) with a worker"
	@echo "make test   — the whole suite on real PostgreSQL, Redis, Celery and Chromium"
	@echo "make lint   — ruff and mypy"
	@echo "make bench  — benchmarks (figures go to docs/performance.md)"

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip 2>&1 | grep -v "is ignored" || true
	$(PY) -m pip install --quiet -e ".[test,lint,bench]" 2>&1 | grep -v "is ignored" || true
	$(PY) -c "import django, celery, playwright" # fail here, not later, if the install did not work
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

install: $(VENV)/.installed
assets: node_modules/.installed

run: install assets
	$(PY) manage.py migrate --noinput
	$(PY) manage.py demo_data
	@echo
	@echo "  cxm is starting on http://127.0.0.1:$(PORT)/  (Ctrl-C stops the web app and the worker)"
	@echo "  Nothing leaves this machine: sent email and SMS show on the Outbox page (/inbox/outbox/)."
	@echo
	$(VENV)/bin/honcho -f Procfile.dev start

# Debian packages the suite needs: installed when missing and we are root; otherwise we say so.
system-test-deps:
	@missing=""; \
	command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	test -x /usr/bin/chromium || missing="$$missing chromium"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else \
	    echo "missing Debian packages:$$missing (run as root, or: sudo apt-get install$$missing)"; exit 1; \
	  fi; \
	fi

test: install assets system-test-deps
	$(PY) tests/harness.py $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy cxm journeys inbox surveys metrics

bench: install system-test-deps
	@command -v wrk >/dev/null || { [ "$$(id -u)" = 0 ] && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; } || echo "wrk not installed: the benchmarks fall back to a Python load generator"
	$(PY) tests/harness.py --run $(PY) benchmarks/run.py $(BENCH_ARGS)

messages: install
	cd $(CURDIR) && $(PY) manage.py makemessages -l nl -l ro -l fy --no-obsolete --ignore=.venv --ignore=node_modules --ignore=var --ignore=tests --ignore=benchmarks
	$(PY) manage.py compilemessages --ignore=.venv

clean:
	rm -rf $(VENV) node_modules var
