# Two commands do all the set-up on a fresh machine (Python 3.10+ with venv):
#   make demo   - create .venv, install ember with the demo extras, run the demo training job
#   make test   - create .venv, install ember with the dev extras (torch CPU as the test oracle), lint, run the tests
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test lint bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV)

$(VENV)/.demo-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e ".[demo]"
	touch $@

$(VENV)/.dev-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $@ $(VENV)/.demo-installed

demo: $(VENV)/.demo-installed
	$(BIN)/ember demo $(ARGS)

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check src tests bench

test: $(VENV)/.dev-installed lint
	$(BIN)/python -m pytest -n 2 --dist loadfile -p no:cacheprovider tests

bench: $(VENV)/.dev-installed
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) build *.egg-info
