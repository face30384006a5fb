"""ONNX export of a c2fbench checkpoint (or of a state dict with the network ``--arch`` names,
:mod:`deploy.user_models`), verified by running it.

The exported graph maps normalised images ``image`` (B, 3, H, W) float32 to ``logits``
(B, C, H, W) float32, exactly like the torch model. Preprocessing (RGB to [0, 1], minus
mean, over std) stays outside the graph, in :func:`c2fbench.inference.normalise`, so every
runtime feeds its model the same tensor. The file's ``metadata_props`` carry what a runtime
needs to stand in for the checkpoint (:mod:`deploy.onnx_meta`): class names and
normalisation (JSON), the architecture, the c2fbench version and the checkpoint's sha256.

Exporter: torch 2.14's default (``dynamo=True``, torch.export based) needs the
``onnxscript`` package, which c2fbench does not depend on; the TorchScript exporter
(``dynamo=False``) exports every c2fbench model, DeepLab and DFPN, static or with dynamic
height and width, and is what this module uses (its deprecation warning is silenced here).
Dynamic exports mark batch, height and width dynamic with ``dynamic_axes``; the bilinear
upsampling to the input size reads ``x.shape[-2:]``, which traces as a Shape op, so one
graph serves every size (checked at two sizes by :func:`verify_onnx`).
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from c2fbench.errors import InputError
from deploy import DEFAULT_OPSET, EXPORT_SIZE
from deploy.foreign import MetadataOverride
from deploy.onnx_meta import INPUT, OUTPUT, metadata_props
from deploy.user_models import Arch


@dataclass(frozen=True)
class ExportReport:
    """What :func:`export_onnx` wrote and how well the file agrees with PyTorch."""

    path: Path
    dynamic: bool
    input_shape: tuple            # (1, 3, H, W), or ("batch", 3, "height", "width")
    opset: int
    checks: list = field(default_factory=list)  # one dict per verification input, see verify_onnx


def export_onnx(checkpoint: Path, out: Path, *, dynamic: bool = False, height: int = EXPORT_SIZE,
                width: int = EXPORT_SIZE, opset: int = DEFAULT_OPSET, verify: bool = True,
                images: list[Path] | None = None, seed: int | None = None, arch: Arch | None = None,
                override: MetadataOverride | None = None) -> ExportReport:
    """Export ``checkpoint`` to ``out``, check it with ``onnx.checker`` and (with ``verify``)
    compare ONNX Runtime's output with PyTorch's on fresh random inputs (at H x W, and with
    ``dynamic`` also at a second size) and on ``images``.

    With ``arch``, ``checkpoint`` is a state dict and ``arch`` its network
    (:func:`deploy.user_models.load_network`); ``override`` then gives the class names and
    normalisation written into the file. For a c2fbench checkpoint, ``override`` must agree
    with what the checkpoint says.

    ``out`` must lie apart from ``checkpoint`` and ``images`` (refused before anything is
    read). It appears only when all of that succeeded: the images are read before anything
    is exported, verification runs on a temporary copy, and the file is then written
    atomically. A bad image or a graph ONNX Runtime cannot run leaves no ``out`` behind.
    """
    import tempfile

    import torch

    from c2fbench.atomic import atomic_write_bytes
    from c2fbench.data.images import read_rgb
    from c2fbench.files import check_output_apart, file_sha256

    check_output_apart(out, {"--model": checkpoint, "--arch": arch.file if arch is not None else None,
                             **{"an image to verify": image for image in images or []}})
    if height < 8 or width < 8:
        raise InputError(f"{out}: export size {height}x{width} is too small (at least 8x8)")
    if opset < 11:
        raise InputError(f"{out}: opset {opset} lacks Resize with coordinate_transformation_mode; use 11 or later")
    pictures = [(Path(p).name, read_rgb(p)) for p in (images or [])] if verify else []
    model, meta = _load(checkpoint, arch, override)
    meta["checkpoint_sha256"] = file_sha256(checkpoint)
    data = _export_bytes(model, torch.zeros(1, 3, height, width), dynamic=dynamic, opset=opset)
    data = _with_metadata(data, meta, out)
    shape = ("batch", 3, "height", "width") if dynamic else (1, 3, height, width)
    report = ExportReport(path=Path(out), dynamic=dynamic, input_shape=shape, opset=opset)
    if verify:
        sizes = [(height, width)] + ([(height + 32, width + 24)] if dynamic else [])
        with tempfile.TemporaryDirectory(prefix="c2fbench-export-") as tmp:
            candidate = Path(tmp) / Path(out).name
            candidate.write_bytes(data)
            report.checks.extend(verify_onnx(model, candidate, sizes=sizes, images=pictures,
                                             normalization=meta["normalization"], seed=seed))
    atomic_write_bytes(out, data)
    return report


def _load(checkpoint: Path, arch: Arch | None, override: MetadataOverride | None):
    """(model in eval mode, meta with ``classes``, ``normalization``, ``arch``, ``kwargs``)."""
    if arch is not None:
        from c2fbench.console import info
        from deploy.user_models import load_network

        model, meta = load_network(checkpoint, arch, override=override)
        info(f"--arch {arch.text}: weights from {meta['weights_from']}; output: {meta['output']}")
        return model, {k: meta[k] for k in ("classes", "normalization", "arch", "kwargs")}
    from c2fbench.models.checkpoint import load_checkpoint

    model, meta = load_checkpoint(checkpoint)
    if override is not None:  # flags given for a checkpoint: they must agree with it
        override.apply({"classes": meta["classes"], "normalization": meta["normalization"]}, path=Path(checkpoint),
                       channels=len(meta["classes"]), hint="drop the flags")
    return model, meta


def _export_bytes(model, example, *, dynamic: bool, opset: int) -> bytes:
    """The ONNX protobuf of ``model`` traced on ``example`` (1, 3, H, W)."""
    import torch

    axes = {INPUT: {0: "batch", 2: "height", 3: "width"}, OUTPUT: {0: "batch", 2: "height", 3: "width"}}
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # legacy-exporter deprecation, and the traced shape check in forward
        with torch.no_grad():
            torch.onnx.export(model.eval(), (example,), buf, dynamo=False, input_names=[INPUT],
                              output_names=[OUTPUT], opset_version=opset, do_constant_folding=True,
                              dynamic_axes=axes if dynamic else None)
    return buf.getvalue()


def _with_metadata(data: bytes, meta: dict, out: Path) -> bytes:
    """``data`` checked by ``onnx.checker``, with the c2fbench metadata_props added."""
    import onnx

    proto = onnx.load_from_string(data)
    try:
        onnx.checker.check_model(proto, full_check=True)
    except onnx.checker.ValidationError as e:
        raise InputError(f"{out}: exported graph fails onnx.checker: {str(e).splitlines()[0]}") from None
    onnx.helper.set_model_props(proto, metadata_props(meta))
    return proto.SerializeToString()


def label_maps(logits: np.ndarray) -> np.ndarray:
    """(B, C, H, W) logits -> (B, H, W) labels: argmax, or ``logit > 0`` for one channel."""
    return logits[:, 0] > 0 if logits.shape[1] == 1 else logits.argmax(axis=1)


def compare_logits(reference: np.ndarray, other: np.ndarray, *, what: str) -> dict:
    """Max and mean absolute difference and argmax agreement (%) of two (B, C, H, W) arrays."""
    diff = np.abs(reference.astype(np.float64) - other.astype(np.float64))
    agree = float((label_maps(reference) == label_maps(other)).mean() * 100)
    return {"input": what, "shape": list(reference.shape), "max_abs_diff": float(diff.max()),
            "mean_abs_diff": float(diff.mean()), "argmax_agreement": agree}


def verify_onnx(model, onnx_path: Path, *, sizes: list[tuple[int, int]], images: list,
                normalization: dict, seed: int | None = None) -> list[dict]:
    """Run ``model`` (torch) and ``onnx_path`` (ONNX Runtime, CPU) on the same inputs:
    fresh N(0, 1) tensors (1, 3, H, W) at each size, then each image (a path, or a ``(name,
    (H, W, 3) uint8 RGB)`` pair already read; normalised, resized to the graph's size when it
    is static). One :func:`compare_logits` dict per input."""
    import torch

    from c2fbench.data.images import read_rgb
    from c2fbench.inference import normalise
    from deploy.runtimes import OnnxRuntime

    runtime = OnnxRuntime(onnx_path, device="cpu")
    rng = np.random.default_rng(seed)
    inputs = [(f"random {h}x{w}", rng.standard_normal((1, 3, h, w)).astype(np.float32)) for h, w in sizes]
    for image in images:
        name, rgb = image if isinstance(image, tuple) else (Path(image).name, read_rgb(image))
        if runtime.static_hw is not None and rgb.shape[:2] != runtime.static_hw:
            import cv2

            rgb = cv2.resize(rgb, runtime.static_hw[::-1], interpolation=cv2.INTER_LINEAR)
        inputs.append((name, normalise(rgb, normalization).unsqueeze(0).numpy()))
    checks = []
    with torch.inference_mode():
        for what, x in inputs:
            reference = model(torch.from_numpy(x)).numpy()
            checks.append(compare_logits(reference, runtime.infer(x), what=what))
    return checks
