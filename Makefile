# Two commands: `make run` and `make test`. Everything they need is set up on the way.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SHARED ?= ../shared
PACKAGE_SOURCE ?= $(SHARED)/fhir/packages
R4_CORE := hl7.fhir.r4.core\#4.0.1

.PHONY: setup packages run test lint bench clean

$(BIN)/oncolink: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

packages: $(BIN)/oncolink
	$(BIN)/oncolink packages install $(R4_CORE) --source $(PACKAGE_SOURCE)

setup: $(BIN)/oncolink packages
	mkdir -p var

run: setup
	$(BIN)/oncolink serve

lint: setup
	$(BIN)/ruff check .

# pytest exits 5 when it collects nothing: that is a broken setup, and make treats it as the failure it is.
test: setup lint
	$(BIN)/python -m pytest -q -p no:cacheprovider; rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "pytest collected no tests: the test setup is broken" >&2; fi; exit $$rc

bench: setup
	$(BIN)/python -m bench.run

clean:
	rm -rf $(VENV) var
