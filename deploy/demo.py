"""The demo's deployment step: export the final checkpoint, quantize it to INT8 for ONNX
Runtime on the CPU (the measured defaults of ``deploy quantize``), check both files' accuracy
parity on a benchmark, and profile PyTorch against ONNX Runtime FP32 and INT8, writing the
files ``c2fbench report`` reads (``parity.json``, ``profile.json``; the INT8 ones in
``int8/``)."""

from __future__ import annotations

from pathlib import Path

from c2fbench.console import progress


def deploy_checkpoint(checkpoint: Path, out: Path, benchmark, *, calib_images: Path | None = None,
                      shape=(1, 3, 128, 128), iterations: int = 30, threads: int | None = None) -> dict:
    """``out/<stem>.onnx`` (dynamic H and W), ``out/parity.json`` on ``benchmark``, ``out/profile.json``
    (torch and onnxruntime at ``shape``); with ``calib_images``, also ``out/int8/<stem>-int8.onnx``
    and its ``parity.json`` and ``profile.json``. Returns the parity and profile dicts."""
    from deploy.export import export_onnx
    from deploy.parity import write_parity
    from deploy.profile import profile_model, write_profile

    out = Path(out)
    onnx_path = out / f"{Path(checkpoint).stem}.onnx"
    export_onnx(checkpoint, onnx_path, dynamic=True, height=shape[2], width=shape[3])
    checked = _parity(checkpoint, onnx_path, benchmark, threads)
    write_parity(out, checked)
    with progress(2, "profile torch, onnxruntime") as advance:
        timed = profile_model(checkpoint, backends=["torch", "onnxruntime"], shape=shape, warmup=5, duration_s=0.0,
                              iterations=iterations, threads=threads, advance=lambda name: advance(1))
    write_profile(out, timed)
    result = {"parity": checked, "profile": timed}
    if calib_images is not None:
        from deploy.quantize import quantize_static_int8

        int8_path = out / "int8" / f"{Path(checkpoint).stem}-int8.onnx"
        int8_path.parent.mkdir(parents=True, exist_ok=True)
        quantize_static_int8(onnx_path, int8_path, calib_images=calib_images)
        result["int8_parity"] = _parity(checkpoint, int8_path, benchmark, threads)
        write_parity(int8_path.parent, result["int8_parity"])
        result["int8_profile"] = profile_model(int8_path, backends=["onnxruntime"], shape=shape, warmup=5,
                                               duration_s=0.0, iterations=iterations, threads=threads)
        write_profile(int8_path.parent, result["int8_profile"])
    return result


def _parity(checkpoint: Path, deployed_path: Path, benchmark, threads: int | None) -> dict:
    from deploy.parity import parity
    from deploy.runtimes import load_runtime

    reference = load_runtime(checkpoint, threads=threads)
    deployed = load_runtime(deployed_path, threads=threads)
    with progress(len(benchmark.samples), f"parity {benchmark.name} ({deployed.precision})") as advance:
        return parity(reference, deployed, benchmark, advance=advance)
