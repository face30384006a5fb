"""What the GPU check's modules share: constants, a step, its outcomes, and the run's state.

Imports only the standard library and numpy: ``benchmarks/gpu_check.py --prepared`` runs
where only torch, torchvision, numpy, pillow and onnxruntime are installed.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]

DEMO_ARCH = json.loads((ROOT / "trainers" / "recipes" / "demo.json").read_text())["arch"]  # the demo's model
MODELS = {"demo": DEMO_ARCH, "resnet101": "deeplab_v2_resnet101"}
TORCH_VARIANTS = {"torch-fp32": (False, False), "torch-fp32-channels-last": (False, True),
                  "torch-amp": (True, False), "torch-amp-channels-last": (True, True)}  # (amp, channels_last)
FIRST_VARIANTS = ("torch-fp32", "torch-amp", "onnxruntime-cuda")  # the most important, first (module docstring)
THRESHOLDS = {"fp32": 99.9, "fp16": 99.0, "int8": None}  # argmax agreement (%) with the reference
TRT_PRECISIONS = ("fp32", "fp16", "int8")
DRY_RUN = "dry run: stops before the first CUDA call"
SEED, PARITY_INPUTS, CALIB_IMAGES, RESIDUAL_SCALE = 0, 3, 8, 0.1
ESTIMATE_S = {"probe": 2, "checkpoint": 10, "export": 30, "quantize": 60, "reference": 15, "profile": 15,
              "parity": 10, "build-demo": 30, "build-resnet101": 90, "pytest": 0}
PACKAGES = ("torch", "torchvision", "numpy", "onnx", "onnxruntime", "onnxruntime-gpu", "tensorrt", "tensorrt-cu12",
            "tensorrt-cu13", "onnxconverter-common", "pillow", "opencv-contrib-python-headless", "click", "rich",
            "scikit-learn", "matplotlib", "zlib-ng", "pytest", "hypothesis")
PREPARED_MAX_BYTES = 64 * 2**20  # what travels with the repository to the GPU machine
MANIFEST = "manifest.json"  # in the prepared folder: options, the CPU steps' records, the plan


class Outcome(Exception):
    """Raised by a step to end as ``status`` with a one-line reason, keeping its result."""

    status = ""

    def __init__(self, reason: str, result: dict | None = None) -> None:
        super().__init__(reason)
        self.result = result or {}


class Skip(Outcome):
    status = "skipped"


class CheckFailed(Outcome):
    status = "failed"


@dataclass
class Step:
    """One isolated unit of the check; ``needs`` names steps that must have passed."""

    name: str
    run: Callable[[], dict | None]
    kind: str
    needs: tuple[str, ...] = ()
    gpu: bool = False
    labels: dict = field(default_factory=dict)  # model, shape, variant: the tables' columns


class Check:
    """Options, paths and what the steps hand to each other (files, reference logits).

    ``work`` holds the files the steps make: the prepared folder itself with ``--prepare``,
    else ``scratch``, a temporary folder. ``prepared`` is the prepared folder's manifest
    (``--prepared``), whose files the CPU steps take instead of making them."""

    def __init__(self, args: argparse.Namespace, scratch: Path, *, prepared: dict | None = None) -> None:
        self.args, self.scratch, self.prepared = args, scratch, prepared
        self.work = Path(args.prepare).resolve() if args.prepare else scratch
        self.not_prepared: dict[str, str] = {}  # step -> why --prepare did not make its file
        self.out = Path(args.prepare if args.prepare else args.out).resolve()
        self.started = time.monotonic()
        self.deadline = self.started + args.budget_s
        self.files: dict[tuple, Path] = {}  # ("checkpoint", model), ("onnx", model), ("engine", model, shape, p)
        self.references: dict[tuple, tuple[list, list]] = {}  # (model, shape) -> (inputs, logits)
        self.pytest = None  # the PytestRun of a GPU run
        self.environment: dict = {}


def first_line(e: BaseException) -> str:
    text = str(e).strip()
    return f"{type(e).__name__}: {text.splitlines()[0][:300]}" if text else type(e).__name__


def name(shape: tuple) -> str:
    return "x".join(map(str, shape))
