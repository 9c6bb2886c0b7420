# pdv-alert — one entry point for developers and CI.
#   make run    the demo on http://127.0.0.1:8000 (SQLite in var/, demo data seeded)
#   make test   the whole test suite (PostgreSQL/Redis tests skip when unreachable)
#   make lint   ruff format --check, ruff check, mypy
#   make bench  the benchmarks in bench/: fan-out, then push (not part of the tests; ~4 min)
#   make docs   regenerate the endpoint and error tables in docs/api.md

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.pdv-alert-installed
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=

PDV_DATABASE_URL ?= sqlite+aiosqlite:///var/pdv-alert.db
export PDV_DATABASE_URL

.PHONY: help run test lint bench docs clean

help:
	@sed -n '2,7p' Makefile | sed 's/^# \{0,1\}//'

$(PY):
	$(PYTHON) -m venv $(VENV)

# Reinstall only when pyproject.toml changed since the last install.
$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	@mkdir -p var
	$(VENV)/bin/pdv-alert demo
	@echo
	@echo "Öppna (open):"
	@echo "  http://$(HOST):$(PORT)/dashboard    ledningens översikt (the leaders' dashboard)"
	@echo "  http://$(HOST):$(PORT)/             personalens app (the staff PWA)"
	@echo "  http://$(HOST):$(PORT)/docs         API-dokumentation (API docs)"
	@echo "  http://$(HOST):$(PORT)/api/v1/health hälsa (health)"
	@echo "Logga in med kontona ovan (log in with the demo accounts above). Ctrl-C stoppar."
	@echo
	exec $(VENV)/bin/pdv-alert serve --host $(HOST) --port $(PORT)

# QtMultimedia needs libpulse0; the run under a real X server (tests/desktop_client/
# test_xvfb.py) needs Xvfb, a window manager, a system tray and xcb's libraries.
DESKTOP_TEST_PACKAGES = libpulse0 xvfb xauth openbox trayer libxcb-cursor0 libxcb-icccm4 \
	libxcb-keysyms1

test: $(STAMP)
	@if [ "$$(id -u)" = 0 ] && ! command -v chromium >/dev/null 2>&1; then \
		echo "installing chromium for the browser tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	fi
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		missing=""; \
		for pkg in $(DESKTOP_TEST_PACKAGES); do \
			dpkg-query -W -f='$${Status}' $$pkg 2>/dev/null | grep -q 'ok installed' || \
				missing="$$missing $$pkg"; \
		done; \
		if [ -n "$$missing" ]; then \
			echo "installing$$missing for the desktop client tests (QtMultimedia, Xvfb + tray)"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
		fi; \
	fi
	@if [ ! -d tests/web/node_modules/axe-core ] && command -v npm >/dev/null 2>&1; then \
		echo "installing axe-core for the browser tests (npm ci --prefix tests/web)"; \
		npm ci --prefix tests/web --no-audit --no-fund --silent; \
	fi
	$(PY) -m pytest -q $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

bench: $(STAMP)
	bash bench/run.sh
	bash bench/run.sh push

docs: $(STAMP)
	$(PY) -m tests.server.test_docs --write

clean:
	rm -rf var .pytest_cache .mypy_cache .ruff_cache
