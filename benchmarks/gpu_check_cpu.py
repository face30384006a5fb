"""The GPU check's CPU steps: checkpoint, ONNX export, INT8 Q/DQ file, reference logits.

With ``--prepare DIR`` they run on the CPU machine and write their files into DIR (the
models whose files fit in :data:`PREPARED_MAX_BYTES`; the others are skipped "too large to
prepare"). With ``--prepared DIR`` a step takes DIR's file when ``--prepare`` made it, and
otherwise makes it on the GPU machine if it can with what is installed there: a checkpoint
needs torch only, an export or a quantization needs ``onnx`` and is skipped without it. The
reference is always computed where it is used (the same fixed-seed inputs, ONNX Runtime on
the CPU; torch on the CPU where no ONNX file exists) and checked against the argmax
labels ``--prepare`` stored.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np

from benchmarks.gpu_check_base import (CALIB_IMAGES, MODELS, PARITY_INPUTS, PREPARED_MAX_BYTES, RESIDUAL_SCALE, SEED,
                                       Check, CheckFailed, Skip, Step, name)

REFERENCE_AGREEMENT = 99.9  # % of argmax labels the GPU machine's reference shares with --prepare's


def make_checkpoint(check: Check, model: str) -> dict:
    """A fixed-seed random checkpoint of ``model``, conditioned for FP16 (gpu_check.py's docstring)."""
    from benchmarks.inference_latency import random_checkpoint

    taken = from_prepared(check, f"checkpoint {model}", ("checkpoint", model))
    if taken is not None:
        return taken
    if check.args.prepare:
        fits(check, model)
    path = random_checkpoint(check.work / f"{model}.pt", MODELS[model])
    check.files["checkpoint", model] = path
    return {"arch": MODELS[model], "seed": SEED, **condition(path), **file_result(check, path)}


def fits(check: Check, model: str) -> None:
    """Skip "too large to prepare" unless the model's checkpoint, FP32 and INT8 ONNX files
    (about 2.3 times its weights) fit in what the prepared folder has left."""
    import torch

    from c2fbench.models import build_model

    with torch.device("meta"):  # shapes only, no memory
        net = build_model(MODELS[model], num_classes=21)
    weights = sum(t.numel() * t.element_size() for t in [*net.parameters(), *net.buffers()])
    used = folder_bytes(check.work)
    if used + 2.3 * weights + 2**20 > PREPARED_MAX_BYTES:
        raise Skip(f"too large to prepare: {model}'s checkpoint and ONNX files take about "
                   f"{2.3 * weights / 2**20:.0f} MiB, the prepared folder holds {PREPARED_MAX_BYTES / 2**20:.0f} MiB "
                   f"({used / 2**20:.1f} used)")


def condition(path: Path) -> dict:
    """Residual branches scaled by RESIDUAL_SCALE and BatchNorm statistics recomputed on
    fixed-seed (2, 3, 97, 97) N(0, 1) batches, written back to the checkpoint ``path``."""
    import torch

    from c2fbench.models.checkpoint import load_checkpoint, save_checkpoint

    model, meta = load_checkpoint(path)
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    branches = [n for n in map(residual_norm, model.modules()) if n is not None]
    generator = torch.Generator().manual_seed(SEED)
    with torch.no_grad():
        for norm in branches:
            norm.weight.fill_(RESIDUAL_SCALE)
        for norm in norms:
            norm.reset_running_stats()
            norm.momentum = None  # a plain average over the batches
        model.train()
        for _ in range(2):
            model(torch.randn(2, 3, 97, 97, generator=generator))
    save_checkpoint(path, model.eval(), arch=meta["arch"], kwargs=meta["kwargs"], classes=meta["classes"],
                    normalization=meta["normalization"])
    return {"conditioned": f"{len(branches)} residual branches scaled by {RESIDUAL_SCALE}, "
                           f"{len(norms)} BatchNorm statistics recomputed"}


def residual_norm(block):
    """The last BatchNorm of a residual branch (torchvision's ResNet blocks, MobileNet's
    inverted residuals with a skip connection), else None."""
    import torch

    if type(block).__name__ == "Bottleneck":
        return block.bn3
    if type(block).__name__ == "BasicBlock":
        return block.bn2
    if getattr(block, "use_res_connect", False):
        return [m for m in block.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)][-1]
    return None


def export(check: Check, model: str) -> dict:
    """The dynamic (batch, height, width) FP32 ONNX file of the checkpoint."""
    taken = from_prepared(check, f"export {model}", ("onnx", model))
    if taken is not None:
        return taken
    needs_onnx(check, f"export {model}")
    from deploy.export import export_onnx

    path = check.work / f"{model}.onnx"
    h, w = check.args.shapes[0][2:]
    export_onnx(check.files["checkpoint", model], path, dynamic=True, height=h, width=w, verify=False)
    check.files["onnx", model] = path
    return {"dynamic": True, **file_result(check, path)}


def quantize(check: Check, model: str) -> dict:
    """The INT8 Q/DQ file TensorRT builds (symmetric S8S8), calibrated on noise images."""
    taken = from_prepared(check, f"quantize {model}", ("int8", model))
    if taken is not None:
        return taken
    needs_onnx(check, f"quantize {model}")
    from deploy.quantize import quantize_static_int8

    path = check.work / f"{model}-int8.onnx"
    record = quantize_static_int8(check.files["onnx", model], path, calib_images=calibration_images(check),
                                  num=CALIB_IMAGES, method="minmax", target="tensorrt")
    check.files["int8", model] = path
    return {"quantization": record, **file_result(check, path)}


def calibration_images(check: Check) -> Path:
    """CALIB_IMAGES fixed-seed noise PNGs at the smallest shape, written once (not in the
    prepared folder: only the quantization reads them)."""
    from PIL import Image

    folder = check.scratch / "calibration"
    if not folder.is_dir():
        folder.mkdir(parents=True)
        h, w = min((s[2:] for s in check.args.shapes), key=lambda hw: hw[0] * hw[1])
        rng = np.random.default_rng(SEED)
        for i in range(CALIB_IMAGES):
            Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(folder / f"{i:02d}.png")
    return folder


def reference(check: Check, model: str, shape: tuple) -> dict:
    """Logits of PARITY_INPUTS fixed-seed N(0, 1) inputs of ``shape``: ONNX Runtime (CPU,
    FP32) on the export, or torch (CPU, FP32: oneDNN, not the GPU's cuDNN) on the checkpoint
    where there is no export (the result's ``by`` says which). ``--prepare`` stores their
    argmax labels; a prepared run checks its own against them."""
    rng = np.random.default_rng(SEED)
    inputs = [rng.standard_normal(shape, dtype=np.float32) for _ in range(PARITY_INPUTS)]
    if ("onnx", model) in check.files:
        logits, by = onnxruntime_cpu(check.files["onnx", model], inputs), "onnxruntime-cpu-fp32"
    else:
        logits, by = torch_cpu(check.files["checkpoint", model], inputs), "torch-cpu-fp32"
    check.references[model, shape] = (inputs, logits)
    labels = np.stack([v.argmax(axis=1) for v in logits]).astype(np.uint8)
    result = {"by": by, "inputs": len(inputs), "seed": SEED, "logits_min": float(min(v.min() for v in logits)),
              "logits_max": float(max(v.max() for v in logits))}
    if check.args.prepare:
        path = check.work / f"reference-{model}-{name(shape)}.npz"
        np.savez_compressed(path, labels=labels)
        return {**result, **file_result(check, path)}
    prepared = (check.prepared or {}).get("steps", {}).get(f"reference {model} {name(shape)}")
    if prepared and prepared["status"] == "passed" and prepared["result"]["by"] == by:
        with np.load(Path(check.prepared["folder"]) / prepared["result"]["file"]) as stored:
            agree = float((stored["labels"] == labels).mean() * 100)
        result["prepared_argmax_agreement"] = agree
        if agree < REFERENCE_AGREEMENT:
            raise CheckFailed(f"this machine's reference shares {agree:.3f}% of its argmax labels with --prepare's "
                              f"(< {REFERENCE_AGREEMENT}%): the inputs or {by} differ between the machines", result)
    return result


def onnxruntime_cpu(path: Path, inputs: list) -> list:
    """(B, C, H, W) logits of an exported file by an ONNX Runtime session on the CPU, opened
    here rather than by deploy.runtimes.OnnxRuntime, which reads the graph with ``onnx``."""
    import onnxruntime

    from deploy.onnx_meta import INPUT, OUTPUT

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = os.cpu_count() or 1
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return [session.run([OUTPUT], {INPUT: x})[0] for x in inputs]


def torch_cpu(checkpoint: Path, inputs: list) -> list:
    """(B, C, H, W) float32 logits of the checkpoint's model on the CPU."""
    import torch

    from c2fbench.models.checkpoint import load_checkpoint

    model = load_checkpoint(checkpoint)[0].eval()
    with torch.inference_mode():
        return [model(torch.from_numpy(x)).numpy() for x in inputs]


def from_prepared(check: Check, step: str, key: tuple) -> dict | None:
    """The prepared file of ``step`` (put in ``check.files[key]``) and ``--prepare``'s result;
    None where there is no prepared folder or ``--prepare`` skipped the step (then the step
    is made here); CheckFailed where ``--prepare`` failed it."""
    if check.prepared is None:
        return None
    record = check.prepared["steps"].get(step)
    if record is None or record["status"] == "skipped":
        check.not_prepared[step] = record["reason"] if record else "not in the prepared folder"
        return None
    if record["status"] == "failed":
        raise CheckFailed(f"failed in --prepare: {record['reason']}")
    path = Path(check.prepared["folder"]) / record["result"]["file"]
    if not path.is_file():
        raise CheckFailed(f"{path}: the prepared file is missing")
    check.files[key] = path
    return {**record["result"], "prepared": True}


def needs_onnx(check: Check, step: str) -> None:
    """Skip a step that needs the ``onnx`` package where it is not installed."""
    if importlib.util.find_spec("onnx") is None:
        why = check.not_prepared.get(step)
        raise Skip("needs onnx, which is not installed here" + (f" (not prepared: {why})" if why else ""))


def file_result(check: Check, path: Path) -> dict:
    """The file's name (relative to the prepared folder) and size, for a step's result."""
    return {"file": path.name if path.parent == check.work else str(path), "mb": round(path.stat().st_size / 2**20, 2)}


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def check_size(check: Check) -> list[Step]:
    """With ``--prepare``, the last step: the prepared folder must stay under PREPARED_MAX_BYTES."""
    def size() -> dict:
        total = folder_bytes(check.work)
        result = {"mb": round(total / 2**20, 2), "limit_mb": PREPARED_MAX_BYTES / 2**20}
        if total >= PREPARED_MAX_BYTES:
            raise CheckFailed(f"{check.work} holds {total / 2**20:.1f} MiB, more than the "
                              f"{PREPARED_MAX_BYTES / 2**20:.0f} MiB that travel with the repository", result)
        return result

    return [Step("prepared size", size, "probe")] if check.args.prepare else []
