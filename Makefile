# The two entry points of the README: `make demo` and `make test`.
# Each creates .venv when missing and installs what it needs, with PyTorch pinned to
# the local CPU build through constraints/cpu.txt (make and CI only).

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip
CONSTRAINTS := constraints/cpu.txt
PIP_FLAGS := --disable-pip-version-check -q -c $(CONSTRAINTS)

.PHONY: demo test lint typecheck unit bench bench-peers clean chromium

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --disable-pip-version-check -q --upgrade pip

# Stamps: reinstall only when the project metadata or the pins change.
$(VENV)/.demo-installed: pyproject.toml $(CONSTRAINTS) | $(BIN)/python
	$(PIP) install $(PIP_FLAGS) -e ".[demo]"
	touch $@

$(VENV)/.test-installed: pyproject.toml $(CONSTRAINTS) | $(BIN)/python
	$(PIP) install $(PIP_FLAGS) -e ".[dev,compare,metrics,plot,cli,labs,lightning,faiss]"
	touch $@

# The lab pages are checked in headless Chromium (Debian's package); install it when absent.
# Not fatal: without it those tests skip with a clear reason.
chromium:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	  ( (apt-get update -qq && apt-get install -y -qq chromium) >/dev/null 2>&1 || \
	    echo "note: chromium could not be installed; the page-rendering tests will skip" )

demo: $(VENV)/.demo-installed
	$(BIN)/infotorch demo

lint: $(VENV)/.test-installed
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: $(VENV)/.test-installed
	$(BIN)/mypy src

unit: $(VENV)/.test-installed chromium
	$(BIN)/python -m pytest

test: lint typecheck unit

# The peers of the count estimators (pyitlib, infomeasure) in their own environment, for benchmarks only.
PEERS ?= .peers-venv
$(PEERS)/bin/python:
	$(PYTHON) -m venv $(PEERS)
	$(PEERS)/bin/python -m pip install --disable-pip-version-check -q pyitlib infomeasure

bench-peers: $(PEERS)/bin/python

bench: $(VENV)/.test-installed $(PEERS)/bin/python
	$(BIN)/python benchmarks/bench_classical.py
	$(BIN)/python benchmarks/bench_interpolated.py
	$(BIN)/python benchmarks/bench_interpolated.py --bias
	$(BIN)/python benchmarks/bench_penalties.py
	$(BIN)/python benchmarks/bench_gaussian.py
	$(BIN)/python benchmarks/bench_gaussian.py --bias
	$(BIN)/python benchmarks/bench_spectral.py
	$(BIN)/python benchmarks/bench_spectral.py --approx
	$(BIN)/python benchmarks/bench_labs.py
	$(BIN)/python benchmarks/bench_knn.py accuracy
	$(BIN)/python benchmarks/bench_knn.py speed
	$(BIN)/python benchmarks/bench_knn.py memory
	$(BIN)/python benchmarks/bench_counts.py --peer-python $(PEERS)/bin/python
	$(BIN)/python benchmarks/bench_variational.py
	$(BIN)/python benchmarks/bench_monitor.py

clean:
	rm -rf $(VENV) $(PEERS) .pytest_cache .mypy_cache .ruff_cache .hypothesis
