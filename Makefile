# The README's two commands: `make demo` and `make test`. Both create .venv and install.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test install clean bench gpu-check

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

# The GPU check on a bare GPU machine (benchmarks/README.md): the machine's own python3, no
# network, no venv. Packages it lacks are installed from wheels/ when that folder exists
# (one pip call; if one is missing there, a call per package). The whole target ends within
# 8 minutes: the check gets what pip left of 470 s (its --budget-s 20 s less, at most 450),
# and `timeout` stops it there. It writes gpu-check/gpu_check.json and gpu_check.md.
GPU_CHECK_PACKAGES := click rich opencv-contrib-python-headless onnx scikit-learn matplotlib pillow zlib-ng \
	onnxconverter-common pytest hypothesis
# more packages from wheels/, e.g. GPU_CHECK_EXTRA=tensorrt-cu12
GPU_CHECK_EXTRA ?=

gpu-check:
	@start=$$(date +%s); \
	if [ -d wheels ]; then \
	  export PIP_BREAK_SYSTEM_PACKAGES=1 PIP_DISABLE_PIP_VERSION_CHECK=1; \
	  $(PYTHON) -m pip install -q --no-index --find-links wheels $(GPU_CHECK_PACKAGES) $(GPU_CHECK_EXTRA) 2>/dev/null || \
	  for p in $(GPU_CHECK_PACKAGES) $(GPU_CHECK_EXTRA); do $(PYTHON) -m pip install -q --no-index --find-links wheels $$p 2>/dev/null \
	    || echo "gpu-check: $$p not installed (not in wheels/); the steps that need it will say so"; done; \
	fi; \
	left=$$((470 - $$(date +%s) + start)); budget=$$((left - 20)); \
	[ $$budget -gt 450 ] && budget=450; [ $$budget -lt 0 ] && budget=0; \
	echo "gpu-check: $$left s left, --budget-s $$budget"; \
	PYTHONPATH=. timeout -k 5 $$left $(PYTHON) benchmarks/gpu_check.py --out gpu-check --budget-s $$budget

clean:
	rm -rf $(VENV) build *.egg-info
