# Two entry points for a fresh machine:
#   make quickstart   set up .venv and train the quickstart recipe
#   make test         set up .venv and run the whole test suite
#   make docs         set up .venv and build the documentation site (strict: broken links fail)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup quickstart test docs clean

$(BIN)/mmzoo: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --constraint constraints.txt --editable ".[test,docs]"
	touch $@

setup: $(BIN)/mmzoo

quickstart: setup
	$(BIN)/mmzoo fit recipes/quickstart.yaml

test: setup
	$(BIN)/python -m pytest

docs: setup
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

clean:
	rm -rf $(VENV) runs
