# Two entry points: `make serve` and `make test`. Both create or reuse .venv by themselves.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: serve demo test lint typecheck pytest bench clean

$(STAMP): pyproject.toml setup.py $(wildcard src/deepseek_free_api/upstream/pow/*.c)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

serve: $(STAMP)
	$(BIN)/deepseek-free-api serve --host $(HOST) --port $(PORT) $(ARGS)

demo: $(STAMP)
	$(BIN)/deepseek-free-api serve --demo --host $(HOST) --port $(PORT) $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy
	$(BIN)/mypy --config-file tests/mypy.ini tests $(wildcard bench/*.py)

pytest: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test: lint typecheck pytest

bench: $(STAMP)
	$(BIN)/python bench/pow.py

clean:
	rm -rf $(VENV) build src/*.egg-info src/deepseek_free_api/upstream/pow/*.so
