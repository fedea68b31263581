# The two commands of the README, and a few helpers. Everything runs in .venv (created on demand).
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
SAMPLE := data/landing

.PHONY: demo test lint install sample run ui bench clean

$(BIN)/vip-pipeline: pyproject.toml
	@command -v $(PY) >/dev/null || (echo "need $(PY)"; exit 1)
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[dev]"
	touch $@

install: $(BIN)/vip-pipeline

## demo: generate the sample bank and run the whole pipeline into SQLite (data/vip.db), then show the result;
## the run is recorded in .dagster_home, so `make ui` shows it
demo: install
	rm -rf $(SAMPLE) data/staging data/vip.db* .dagster_home
	$(BIN)/vip-pipeline generate-sample --out $(SAMPLE)
	DAGSTER_HOME=$(CURDIR)/.dagster_home $(BIN)/vip-pipeline run --landing $(SAMPLE) --database-url sqlite:///data/vip.db

## lint: pyflakes/pycodestyle on the package and its tests (formatting: ruff format vip_pipeline)
lint: install
	$(BIN)/ruff check vip_pipeline vip_pipeline_tests

## test: lint, then the whole test suite (needs Debian's postgresql and chromium packages)
test: lint
	$(BIN)/python -m pytest -n 2 --dist loadfile -q -p no:cacheprovider; rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "no tests ran"; exit 1; fi; exit $$rc

## ui: the Dagster UI on http://127.0.0.1:3000 (runs and assets persist in .dagster_home)
ui: install
	$(BIN)/python -m vip_pipeline.instance .dagster_home
	DAGSTER_HOME=$(CURDIR)/.dagster_home $(BIN)/dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000

bench: install
	$(BIN)/vip-pipeline bench

clean:
	rm -rf data .dagster_home

## screenshot: only the UI tests: the real webserver + GraphQL, and docs/img/asset-graph.png (needs Debian's chromium)
.PHONY: screenshot
screenshot: install
	$(BIN)/python -m pytest vip_pipeline_tests/test_ui.py -q

## mutate: mutation testing of the business rules (metrics/, decisions/, landing/validation.py) against the pure
## tests, then the score and the survivors (docs/testing.md). Slow (tens of minutes): not run by CI. Results are
## kept in mutants/, so an interrupted run resumes; `rm -rf mutants` starts afresh.
.PHONY: mutate
mutate: install
	$(BIN)/mutmut run --max-children $${MUTMUT_CHILDREN:-2} || true
	$(BIN)/python scripts/mutation_report.py
