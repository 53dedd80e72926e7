# Two entry points for a fresh machine:
#   make quickstart   set up .venv and train the quickstart recipe
#   make test         set up .venv and run the whole test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup quickstart test clean

$(BIN)/mmzoo: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --constraint constraints.txt --editable ".[test]"
	touch $@

setup: $(BIN)/mmzoo

quickstart: setup
	$(BIN)/mmzoo fit recipes/quickstart.yaml

test: setup
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) runs
