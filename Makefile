# Two commands for a fresh machine with Python 3.11+ and make: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test install lint clean vendor

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/sharpeyes demo $(DEMO_ARGS)

test: $(STAMP)
	@command -v chromium >/dev/null || $(BIN)/python -m playwright install chromium >/dev/null 2>&1 \
		|| echo "note: no Chromium found or downloadable; the dashboard's browser test will be skipped"
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)  ## ruff, mypy (strict, whole package) and the import-linter layer contracts
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports

vendor:  ## re-copy the pinned front-end packages into api/static/vendor (needs npm)
	sh frontend/vendor.sh

clean:
	rm -rf $(VENV) .cache build *.egg-info
