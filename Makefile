# The two commands of the course: `make course` and `make test`. Both create .venv when missing.
PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
STAMP := $(VENV)/.installed
OUT ?= outputs
TEST_RUNS := $(CURDIR)/.test-runs
export PATH := $(BIN):$(PATH)
export HF_HUB_OFFLINE ?= 1

.PHONY: setup course test clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)  ## create .venv and install the package with its pinned dependencies

course: $(STAMP)  ## execute every notebook with its defaults into $(OUT)/
	$(BIN)/python -m svl_lib.course --out $(OUT)

test: $(STAMP)  ## unit tests, notebook execution (papermill) and validation (nbval)
	rm -rf $(TEST_RUNS)
	SVL_TEST_RUNS_DIR=$(TEST_RUNS) $(BIN)/python -m pytest --nbval-lax tests notebooks

clean:
	rm -rf $(OUT) $(TEST_RUNS) .pytest_cache

SITE_STAMP := $(VENV)/.installed-site
.PHONY: site

$(SITE_STAMP): $(STAMP) pyproject.toml constraints.txt
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[site]'
	touch $(SITE_STAMP)

site: $(SITE_STAMP)  ## render the README, the glossary, the workshop plan and the executed notebooks into docs/_build/html
	$(BIN)/python -m sphinx -b html -c docs -d docs/_build/doctrees -W --keep-going -q . docs/_build/html
	@echo "the course website: docs/_build/html/index.html"
