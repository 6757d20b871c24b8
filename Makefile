# Two commands do all set-up on a fresh machine:
#   make serve   - install into .venv if needed, build the demo data if missing, serve on :8080
#   make test    - install into .venv if needed, then run the whole test suite
PYTHON ?= python3
VENV ?= .venv
HOST ?= 127.0.0.1
PORT ?= 8080
BIN := $(VENV)/bin
STAMP := $(VENV)/.cropcube-installed
JS_STAMP := tests/js/node_modules/.cropcube-installed

.PHONY: install serve test lint conformance js-deps pg-deps

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

$(JS_STAMP): tests/js/package.json tests/js/package-lock.json
	command -v npm >/dev/null || (apt-get update -qq && apt-get install -y -qq nodejs npm)
	npm ci --prefix tests/js --no-audit --no-fund --loglevel=error
	touch $(JS_STAMP)

js-deps: $(JS_STAMP)

serve: $(STAMP)
	$(BIN)/cropcube user add demo --password demo --if-missing
	$(BIN)/cropcube serve --host $(HOST) --port $(PORT)

pg-deps:
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || \
	  (apt-get update -qq && apt-get install -y -qq postgresql)

test: $(STAMP) $(JS_STAMP) pg-deps
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .

conformance: $(STAMP)
	$(BIN)/python tests/conformance/run_suite.py
