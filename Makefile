# The README's two commands: `make demo` and `make test`. Both create .venv and install.
PYTHON ?= python3
.DEFAULT_GOAL := install
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test install clean bench gpu-prepare gpu-check

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

# The GPU check, in two halves (benchmarks/README.md). `make gpu-prepare` runs here, in .venv: the
# checkpoints, ONNX and INT8 files and references that need onnx, onnxconverter-common, rich or
# click, into gpu-check/prepared/ (under 64 MiB, so it travels with the repository: name it in
# what carries ignored paths), with pytest's pure-Python wheels in its wheels/ (and what it needs on 3.10).
# `make gpu-check` runs on the bare GPU machine with its own python3 (torch, torchvision, numpy,
# pillow, onnxruntime; no network, no venv): pytest from gpu-check/prepared/wheels when it lacks
# it, then the check of the prepared folder. Without that folder it runs everything in one
# process, installing what it lacks from wheels/ when that folder exists (one pip call; if one
# is missing there, a call per package). The whole target ends within 8 minutes: the check
# gets what pip left of 470 s (its --budget-s 20 s less, at most 450), and `timeout` stops it
# there. It writes gpu-check/gpu_check.json and gpu_check.md.
GPU_PREPARED := gpu-check/prepared
GPU_CHECK_PACKAGES := click rich opencv-contrib-python-headless onnx scikit-learn matplotlib pillow zlib-ng \
	onnxconverter-common pytest hypothesis
# more packages from wheels/. Not TensorRT: tensorrt-cu12 (and -cu13) on PyPI is an 18 KB source
# package that fetches TensorRT's libraries from NVIDIA's own index when it is installed, so it
# cannot be installed offline from wheels/. TensorRT is checked where the machine has it.
GPU_CHECK_EXTRA ?=

gpu-prepare: install
	$(BIN)/python benchmarks/gpu_check.py --prepare $(GPU_PREPARED)
	$(BIN)/pip download -q --only-binary=:all: -d $(GPU_PREPARED)/wheels pytest exceptiongroup tomli
	@du -sh $(GPU_PREPARED)

gpu-check:
	@start=$$(date +%s); prepared=; \
	export PIP_BREAK_SYSTEM_PACKAGES=1 PIP_DISABLE_PIP_VERSION_CHECK=1; \
	if [ -f $(GPU_PREPARED)/manifest.json ]; then \
	  prepared="--prepared $(GPU_PREPARED)"; \
	  $(PYTHON) -c 'import pytest' 2>/dev/null || $(PYTHON) -m pip install -q --no-index \
	    --find-links $(GPU_PREPARED)/wheels pytest || echo "gpu-check: pytest not installed; its step will say so"; \
	elif [ -d wheels ]; then \
	  $(PYTHON) -m pip install -q --no-index --find-links wheels $(GPU_CHECK_PACKAGES) $(GPU_CHECK_EXTRA) 2>/dev/null || \
	  for p in $(GPU_CHECK_PACKAGES) $(GPU_CHECK_EXTRA); do $(PYTHON) -m pip install -q --no-index --find-links wheels $$p 2>/dev/null \
	    || echo "gpu-check: $$p not installed (not in wheels/); the steps that need it will say so"; done; \
	fi; \
	left=$$((470 - $$(date +%s) + start)); budget=$$((left - 20)); \
	[ $$budget -gt 450 ] && budget=450; [ $$budget -lt 0 ] && budget=0; \
	echo "gpu-check: $$left s left, --budget-s $$budget"; \
	PYTHONPATH=. timeout -k 5 $$left $(PYTHON) benchmarks/gpu_check.py --out gpu-check $$prepared --budget-s $$budget

clean:
	rm -rf $(VENV) build *.egg-info
