# The README's two commands: `make demo` and `make test`. Both create .venv and install.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test install clean bench

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -qq --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -qq -e '.[test]'
	touch $@

install: $(VENV)/.installed

demo: install
	$(BIN)/c2fbench demo

test: install
	$(BIN)/python -m pytest -q

bench: install
	$(BIN)/python benchmarks/eval_throughput.py

clean:
	rm -rf $(VENV) build *.egg-info
