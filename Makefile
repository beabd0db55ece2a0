# Two commands: `make run` and `make test`. Everything they need is set up on the way.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SHARED ?= ../shared
PACKAGE_SOURCE ?= $(SHARED)/fhir/packages
R4_CORE := hl7.fhir.r4.core\#4.0.1

IG := profiles
SUSHI := $(IG)/node_modules/.bin/sushi

.PHONY: setup packages run test lint bench clean fsh sushi-tools browser-tools

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
	$(BIN)/oncolink serve --dev

lint: setup
	$(BIN)/ruff check .

# pytest exits 5 when it collects nothing: that is a broken setup, and make treats it as the failure it is.
test: setup lint sushi-tools browser-tools
	$(BIN)/python -m pytest -q -p no:cacheprovider; rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "pytest collected no tests: the test setup is broken" >&2; fi; exit $$rc

$(SUSHI): $(IG)/package.json $(IG)/package-lock.json
	cd $(IG) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

# SUSHI lets `make test` check that the committed FHIR package matches the FSH sources. Without npm or
# its registry, that one test is skipped and says so; everything else runs on the committed JSON.
sushi-tools:
	@if command -v npm >/dev/null 2>&1; then $(MAKE) --no-print-directory $(SUSHI) || \
	  echo "SUSHI could not be installed: the FSH up-to-date test will be skipped" >&2; \
	else echo "npm not found: the FSH up-to-date test will be skipped" >&2; fi

# The web-page tests drive Debian's Chromium (never a downloaded browser). Installed when missing and
# possible; otherwise those tests fail, or skip with the reason under CI=true.
browser-tools:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  (apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null) || \
	  echo "chromium is not installed: the browser tests will not run" >&2; }

# Recompile the FSH and rebuild the package; commit profiles/fsh-generated and profiles/dist.
fsh: packages $(SUSHI)
	cd $(IG) && npm_config_fetch_retries=0 node_modules/.bin/sushi build . -l warn
	$(BIN)/oncolink ig build

bench: setup
	$(BIN)/python -m bench.run

clean:
	rm -rf $(VENV) var
