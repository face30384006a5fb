# The README's two commands: `make demo` and `make test`. Both create .venv and install.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test install clean bench

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -qq --upgrade pip

# tensorrt-stubs (TensorRT's API as .pyi files, for tests/deploy/test_tensorrt_types.py) goes in a
# folder of its own: its dependencies are TensorRT itself (NVIDIA's index only), and installed
# beside the code its stub-only "tensorrt" folder would import as an empty package.
TRT_STUBS := tensorrt-stubs==10.13.0.35.1

$(VENV)/.installed: pyproject.toml Makefile | $(BIN)/python
	$(BIN)/pip install -qq -e '.[test]'
	$(BIN)/pip install -qq --no-deps --upgrade --target $(VENV)/typestubs '$(TRT_STUBS)'
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
