# The two commands of the README:
#   make demo   set everything up, then run the whole pipeline on the bundled sample
#   make test   set everything up, then run the test suite
# and, for humans, `make lint`: the architecture checks that the test suite also runs
# (tests/test_architecture.py; rules in docs/architecture.md, configuration in pyproject.toml).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test lint install system-deps clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

# Debian packages the tests need (headless Chromium for the dashboard tests).
system-deps:
	@bash scripts/system-deps.sh

demo: $(STAMP)
	$(BIN)/goldkeeper demo

# -n auto: one worker per core (pytest-xdist); `.venv/bin/python -m pytest tests/x.py` runs serially
test: $(STAMP) system-deps
	$(BIN)/python -m pytest -n auto

# Runs every check, then fails if any failed. Import cycles are checked by the test suite (grimp).
lint: $(STAMP)
	@status=0; \
	$(BIN)/lint-imports --no-cache --no-logo || status=1; \
	$(BIN)/ruff check src tests benchmarks scripts || status=1; \
	$(BIN)/mypy || status=1; \
	exit $$status

clean:
	rm -rf $(VENV) .goldkeeper .pytest_cache .mypy_cache .ruff_cache
