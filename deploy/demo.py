"""The demo's deployment step: export the final checkpoint, quantize it to INT8 for ONNX
Runtime on the CPU (the measured defaults of ``deploy quantize``), check both files' accuracy
parity on a benchmark, and profile PyTorch, ONNX Runtime FP32 and INT8 in one interleaved run,
writing the files ``c2fbench report`` reads (``parity.json``, ``profile.json``; the INT8 ones in
``int8/``, whose row keeps its ratio against ONNX Runtime FP32). It says each parity and each
latency in one line: :func:`export_and_check`, then :func:`profile_deployed`."""

from __future__ import annotations

from pathlib import Path

from c2fbench.console import info, progress, warn


def export_and_check(checkpoint: Path, out: Path, benchmark, *, calib_images: Path | None = None,
                     shape=(1, 3, 128, 128), threads: int | None = None) -> dict:
    """``out/<stem>.onnx`` (dynamic H and W) and ``out/parity.json`` on ``benchmark``; with
    ``calib_images``, also ``out/int8/<stem>-int8.onnx`` and its ``parity.json``. Each parity
    is said in one line; returns ``{"parity": ..., "int8_parity": ...}``. The demo runs this
    while its side runs finish, and :func:`profile_deployed` once they are done."""
    from deploy.export import export_onnx
    from deploy.parity import write_parity

    out = Path(out)
    onnx_path = out / f"{Path(checkpoint).stem}.onnx"
    export_onnx(checkpoint, onnx_path, dynamic=True, height=shape[2], width=shape[3])
    checked = _parity(checkpoint, onnx_path, benchmark, threads)
    write_parity(out, checked)
    _say_parity(checked, "FP32")
    result = {"parity": checked}
    if calib_images is not None:
        from deploy.quantize import quantize_static_int8

        int8_path = _int8_path(checkpoint, out)
        int8_path.parent.mkdir(parents=True, exist_ok=True)
        quantize_static_int8(onnx_path, int8_path, calib_images=calib_images)
        result["int8_parity"] = _parity(checkpoint, int8_path, benchmark, threads)
        write_parity(int8_path.parent, result["int8_parity"])
        _say_parity(result["int8_parity"], "INT8")
    return result


def profile_deployed(result: dict, checkpoint: Path, out: Path, *, shape=(1, 3, 128, 128), iterations: int = 30,
                     threads: int | None = None) -> dict:
    """``result`` of :func:`export_and_check` with the profiles of PyTorch, ONNX Runtime FP32 and
    (when ``result`` has it) INT8, timed in one interleaved run and written beside the models."""
    from deploy.profile import profile_of, write_profile

    out = Path(out)
    more = [_int8_path(checkpoint, out)] if "int8_parity" in result else []
    # one interleaved run of all three, so that INT8's ratio against ONNX Runtime FP32 (and
    # both against torch) comes from runs that shared the machine's state turn by turn
    timed = _profile_child(checkpoint, more, shape=shape, iterations=iterations, threads=threads)
    for line in latency_lines(timed["results"]):
        info(line)
    if any(row.get("unstable") for row in timed["results"]):
        warn("a latency above is unstable: other work shared the CPU, so its speed-ups may not hold; time it again "
             "on idle cores with `c2fbench deploy profile`")
    result = {**result, "profile": profile_of(timed, checkpoint)}
    write_profile(out, result["profile"])
    if more:
        result["int8_profile"] = profile_of(timed, more[0])
        write_profile(more[0].parent, result["int8_profile"])
    return result


def _int8_path(checkpoint: Path, out: Path) -> Path:
    return Path(out) / "int8" / f"{Path(checkpoint).stem}-int8.onnx"


def _profile_child(checkpoint: Path, more: list[Path], *, shape, iterations: int, threads: int | None) -> dict:
    """``c2fbench deploy profile`` of the checkpoint and ``more`` in a child process: latency is
    timed under OpenMP's default wait policy, as deployed, while the demo's own process waits
    passively for its training (c2fbench/threads.py; passive waiting doubled PyTorch eager's
    latency of a small model, benchmarks/README.md)."""
    import subprocess
    import sys
    import tempfile

    from c2fbench.errors import InputError
    from c2fbench.jsonfile import read_json_object
    from c2fbench.threads import default_threads, latency_environment

    names = ", ".join(["torch", "onnxruntime", *(["onnxruntime int8"] if more else [])])
    info(f"profile {names} (a child process, OpenMP's default wait policy)")
    with tempfile.TemporaryDirectory(prefix="c2fbench-profile-") as folder:
        command = [sys.executable, "-m", "c2fbench", "deploy", "profile", "--model", str(checkpoint),
                   *[a for m in more for a in ("--model", str(m))], "--shape", "x".join(map(str, shape)),
                   "--warmup", "5", "--duration", "0", "--iterations", str(iterations),
                   "--threads", str(threads or default_threads()), "--out", folder]
        done = subprocess.run(command, env=latency_environment(), capture_output=True, text=True)
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise InputError(f"deploy profile of {checkpoint} failed (exit status {done.returncode}): {last}")
        return read_json_object(Path(folder) / "profile.json")


def _parity(checkpoint: Path, deployed_path: Path, benchmark, threads: int | None) -> dict:
    from deploy.parity import parity
    from deploy.runtimes import load_runtime

    reference = load_runtime(checkpoint, threads=threads)
    deployed = load_runtime(deployed_path, threads=threads)
    with progress(len(benchmark.samples), f"parity {benchmark.name} ({deployed.precision})") as advance:
        return parity(reference, deployed, benchmark, advance=advance)


def _say_parity(result: dict, precision: str) -> None:
    """One line; a warning when the deployed model is outside the tolerance."""
    line = parity_line(result, precision)
    (info if result["within_tolerance"] else warn)(line)


def parity_line(result: dict, precision: str) -> str:
    """``deploy.parity.parity``'s result in one line: both scores, the delta, the tolerance."""
    key, tolerance = result["metric"], result["tolerance"]
    where = "within" if result["within_tolerance"] else "OUTSIDE"
    return (f"parity on {result['benchmark']}: ONNX Runtime {precision} {key} {result['deployed'][key]:.2f}, "
            f"PyTorch {result['reference'][key]:.2f} (delta {result['delta']:+.3f} points, {where} the "
            f"{tolerance} tolerance)")


def latency_lines(rows: list[dict]) -> list[str]:
    """One line for each row of a profile (``deploy.profile.profile_model``'s ``results``): its
    median, marked stable or unstable, and its speed-ups (``vs``), each marked when a
    measurement it comes from was unstable; the first line gives the shape and threads they share."""
    lines = []
    for i, row in enumerate(rows):
        ratios = [f"{v['ratio']:.2f}x vs {v['backend']} {v['precision']}" + (" (unstable)" if v["unstable"] else "")
                  for v in row.get("vs", []) if v.get("ratio") is not None]
        setting = f" at {'x'.join(map(str, row['shape']))}, {row['threads']} threads" if i == 0 else ""
        speed = f", speed-up {', '.join(ratios)}" if ratios else ""
        lines.append(f"latency {row['backend']} {row['precision']}: median {row['median_ms']:.2f} ms{setting}{speed}; "
                     + ("unstable" if row.get("unstable") else "stable"))
    return lines
