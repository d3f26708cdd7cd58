# The two commands of the README:
#   make demo   set everything up, then run the whole pipeline on the bundled sample
#   make test   set everything up, then run the test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test install system-deps clean

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

test: $(STAMP) system-deps
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) .goldkeeper .pytest_cache
