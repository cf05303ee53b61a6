# Switchboard: the one command surface. `make` lists the targets.
# Every target that needs Python sets up $(VENV) first; a second run installs nothing.

VENV ?= .venv
PY = $(VENV)/bin/python
PIP = $(PY) -m pip --disable-pip-version-check
PYTHON3 ?= python3
PYTEST_ARGS ?=

STAMP = $(VENV)/.installed
PACKAGES = shared services/ingest-calls services/ingest-mail services/classifier services/crm-store \
	tools/importer
MYPY_TARGETS = shared/src/switchboard_shared \
	services/ingest-calls/src/ingest_calls \
	services/ingest-mail/src/ingest_mail \
	services/classifier/src/classifier \
	services/crm-store/src/crm_store \
	tools/importer/src/switchboard_import \
	scripts \
	tests

.DEFAULT_GOAL := help
.PHONY: help install run test lint format schemas i18n bench eval compose-check replay-rejected import \
	clean distclean

help: ## List the targets
	@echo "Switchboard - make <target>:"
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  %-14s %s\n", $$1, $$2}' $(MAKEFILE_LIST)
	@echo "Variables: VENV=$(VENV)  PYTEST_ARGS='...' (passed to the test runner)"

install: $(STAMP) ## Create the venv and install every package (editable) with the dev tools

$(STAMP): constraints.txt requirements-dev.txt shared/pyproject.toml $(wildcard services/*/pyproject.toml) \
	tools/importer/pyproject.toml
	@test -x $(PY) || $(PYTHON3) -m venv $(VENV)
	$(PIP) install --quiet --upgrade -c constraints.txt pip
	$(PIP) install --quiet -c constraints.txt setuptools wheel
	$(PIP) install --quiet -c constraints.txt --no-build-isolation \
		$(addprefix -e ,$(PACKAGES)) -r requirements-dev.txt
	@touch $@

run: $(STAMP) ## Start broker, topics, database and the four services (Ctrl-C stops)
	$(PY) scripts/devrun.py

test: $(STAMP) ## Run the test tiers (PYTEST_ARGS='-k name' to narrow)
	$(PY) scripts/test.py $(PYTEST_ARGS)

lint: $(STAMP) ## ruff check, ruff format --check, mypy (strict)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy $(MYPY_TARGETS)

format: $(STAMP) ## Sort imports, apply safe fixes and format with ruff
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

schemas: $(STAMP) ## Regenerate the event JSON Schema snapshots, docs/asyncapi.yaml and crm-store's OpenAPI
	$(PY) -m switchboard_shared.schemas --write
	$(PY) -m crm_store.openapi --write

i18n: $(STAMP) ## Extract the page's text and update every language's catalogue (then translate what it lists)
	$(PY) -m crm_store.web.catalogues

bench: $(STAMP) ## Run the throughput benchmark (scripts/bench.py)
	@test -f scripts/bench.py || { \
		echo "make bench: scripts/bench.py does not exist yet - there is no benchmark to run" >&2; \
		exit 2; }
	$(PY) scripts/bench.py $(ARGS)

eval: $(STAMP) ## Classifier quality on a seeded month of calls and mail plus the sisimai corpus; mail parsing on public corpora
	$(PY) scripts/eval.py $(ARGS)
	$(PY) scripts/eval_mail.py

replay-rejected: $(STAMP) ## Re-parse and publish call records on ingest.rejected.v1 (ARGS='--dry-run')
	$(PY) -m ingest_calls.replay $(ARGS)

import: $(STAMP) ## Import past calls or mail (ARGS='calls --format asterisk Master.csv', see README)
	$(VENV)/bin/switchboard import $(ARGS)

compose-check: $(STAMP) ## Validate docker-compose.yml against the compose spec (offline)
	$(VENV)/bin/check-jsonschema --builtin-schema vendor.compose-spec docker-compose.yml

clean: ## Remove var/ (logs, development database) and caches; keeps the venv
	rm -rf var .mypy_cache .ruff_cache .pytest_cache build dist
	find . -path ./$(VENV) -prune -o \
		\( -name __pycache__ -o -name '*.egg-info' \) -type d -prune -exec rm -rf {} +

distclean: clean ## clean, and remove the venv
	rm -rf $(VENV)
