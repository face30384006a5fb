"""The demo's deployment step: export the final checkpoint, check its accuracy parity on a
benchmark, and profile PyTorch against ONNX Runtime, writing the files ``c2fbench report``
reads (``parity.json``, ``profile.json``)."""

from __future__ import annotations

from pathlib import Path

from c2fbench.console import progress


def deploy_checkpoint(checkpoint: Path, out: Path, benchmark, *, shape=(1, 3, 128, 128), iterations: int = 30,
                      threads: int | None = None) -> dict:
    """``out/<stem>.onnx`` (dynamic H and W), ``out/parity.json`` on ``benchmark``, ``out/profile.json``
    (torch and onnxruntime at ``shape``); returns the parity and profile dicts."""
    from deploy.export import export_onnx
    from deploy.parity import parity, write_parity
    from deploy.profile import profile_model, write_profile
    from deploy.runtimes import load_runtime

    out = Path(out)
    onnx_path = out / f"{Path(checkpoint).stem}.onnx"
    export_onnx(checkpoint, onnx_path, dynamic=True, height=shape[2], width=shape[3])
    reference = load_runtime(checkpoint, threads=threads)
    deployed = load_runtime(onnx_path, threads=threads)
    with progress(len(benchmark.samples), f"parity {benchmark.name}") as advance:
        checked = parity(reference, deployed, benchmark, advance=advance)
    write_parity(out, checked)
    with progress(2, "profile torch, onnxruntime") as advance:
        timed = profile_model(checkpoint, backends=["torch", "onnxruntime"], shape=shape, warmup=5, duration_s=0.0,
                              iterations=iterations, threads=threads, advance=lambda name: advance(1))
    write_profile(out, timed)
    return {"parity": checked, "profile": timed}
