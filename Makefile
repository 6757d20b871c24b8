# Two commands do all set-up on a fresh machine:
#   make serve      - install into .venv if needed, build the demo data if missing, serve on :8080
#   make test       - install into .venv (and PostgreSQL, Node.js, Chromium, the STAC API and the
#                     openEO aggregator in their own venvs, if missing), run every test
# and, for the daily round:
#   make test-fast  - the in-process tier (tests/fast): API, errors, auth, layers; about 20 s
# PYTHON must be a Python 3.11 (`make test PYTHON=python3.11` where python3 is another).
PYTHON ?= python3
VENV ?= .venv
HOST ?= 127.0.0.1
PORT ?= 8080
BIN := $(VENV)/bin
STAMP := $(VENV)/.cropcube-installed
JS_STAMP := tests/js/node_modules/.cropcube-installed

.PHONY: install serve test test-fast lint conformance js-deps pg-deps stac-deps aggregator-deps browser-deps docs

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' \
	  || { echo "cropcube needs Python 3.11; $(PYTHON) is another: make ... PYTHON=python3.11"; exit 1; }
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
	(ls /usr/lib/postgresql/*/bin/initdb && ls /usr/share/postgresql/*/extension/postgis.control) \
	  >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq postgresql postgresql-postgis)

# A real STAC API for the tests (stac-fastapi-pgstac on PostGIS), in its own virtual
# environment: it pins its own FastAPI stack.
STAC_VENV := .cache/stac-venv
STAC_STAMP := $(STAC_VENV)/.cropcube-installed
$(STAC_STAMP): tests/stac-api-requirements.txt
	test -x $(STAC_VENV)/bin/python || $(PYTHON) -m venv $(STAC_VENV)
	$(STAC_VENV)/bin/python -m pip install --quiet -r tests/stac-api-requirements.txt
	touch $(STAC_STAMP)

stac-deps: $(STAC_STAMP)

# The real openeo-aggregator for the federation tests, in its own virtual environment: it
# pins its own Flask and gunicorn.
AGG_VENV := .cache/aggregator-venv
AGG_STAMP := $(AGG_VENV)/.cropcube-installed
$(AGG_STAMP): tests/aggregator-requirements.txt
	test -x $(AGG_VENV)/bin/python || $(PYTHON) -m venv $(AGG_VENV)
	$(AGG_VENV)/bin/python -m pip install --quiet -r tests/aggregator-requirements.txt
	touch $(AGG_STAMP)

aggregator-deps: $(AGG_STAMP)

# Debian's Chromium for the Web Editor test (driven by playwright-core; never a downloaded browser)
browser-deps:
	test -x /usr/bin/chromium || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)

test: $(STAMP) $(JS_STAMP) pg-deps $(STAC_STAMP) $(AGG_STAMP) browser-deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python -m pytest

test-fast: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest tests/fast

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

docs: $(STAMP)
	$(BIN)/mkdocs build --strict

conformance: $(STAMP)
	$(BIN)/python tests/conformance/run_suite.py
