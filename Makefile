# Two entry points: `make serve` and `make test`. Both create or reuse .venv by themselves.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# --host/--port only when given on the command line (`make serve HOST=0.0.0.0 PORT=9000`), so that
# server.host/server.port from the config file or the environment are not overridden. An exported
# HOST is ignored on purpose: some shells export it as the machine's name.
LISTEN := $(if $(filter command line,$(origin HOST)),--host $(HOST)) \
          $(if $(filter command line,$(origin PORT)),--port $(PORT))

.PHONY: serve demo test lint typecheck agents pytest bench bench-pow clean

$(STAMP): pyproject.toml setup.py $(wildcard src/deepseek_free_api/upstream/pow/*.c)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

serve: $(STAMP)
	$(BIN)/deepseek-free-api serve $(strip $(LISTEN)) $(ARGS)

demo: $(STAMP)
	$(BIN)/deepseek-free-api serve --demo $(strip $(LISTEN)) $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src tests bench api
	$(BIN)/ruff format --check src tests bench api

typecheck: $(STAMP)
	$(BIN)/mypy
	$(BIN)/mypy --config-file tests/mypy.ini tests $(wildcard bench/*.py) bench/timeline_site/sitecustomize.py api/index.py
	$(BIN)/mypy --config-file tests/mypy.ini bench/calls_site/sitecustomize.py  # one sitecustomize per run
	$(BIN)/mypy --config-file tests/mypy.ini bench/memory_site/sitecustomize.py

# Two worker processes, each taking whole files (a file's tests share its servers and fixtures);
# `make pytest PYTEST_WORKERS=0` runs in one process.
PYTEST_WORKERS ?= 2
pytest: $(STAMP)
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

# The coding agents that tests/agents drives, from npm into .agents/ (a no-op once installed;
# an agent that cannot be installed is skipped by its test with the reason printed).
agents:
	tests/agents/install.sh

test: lint typecheck agents pytest

# The server against an HTTP pass-through, direct and a TCP splice (BENCHMARKS.md): 3-6 minutes;
# `make bench ARGS=--quick` for fewer bursts and 200 streams, ARGS=--smoke to check that it runs.
bench: $(STAMP)
	$(BIN)/python bench/table.py $(ARGS)

bench-pow: $(STAMP)
	$(BIN)/python bench/pow.py $(ARGS)

clean:
	rm -rf $(VENV) build src/*.egg-info src/deepseek_free_api/upstream/pow/*.so
