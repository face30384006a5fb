"""Runtimes by file type: eval through --model model.onnx equals eval through the checkpoint."""

from __future__ import annotations

import json

import numpy as np
import pytest

from c2fbench.data.images import read_rgb
from c2fbench.errors import InputError
from c2fbench.inference import ModuleRuntime, Runtime
from deploy.runtimes import OnnxRuntime, load_runtime
from deploy_helpers import write_checkpoint


@pytest.fixture(scope="module")
def synth_pair(tmp_path_factory):
    """Tiny synthetic data, a 21-class checkpoint and its dynamic ONNX export."""
    from c2fbench.data.synth import write_synth
    from deploy.export import export_onnx

    root = tmp_path_factory.mktemp("synth")
    write_synth(root, preset="tiny")
    write_checkpoint(root / "m.pt", "deeplab_v2_mobilenet", 21)
    export_onnx(root / "m.pt", root / "m.onnx", dynamic=True, height=64, width=64, verify=False)
    return root


def run(*args):
    """``c2fbench ARGS`` in-process; click is imported here, not with the module, so that the
    gpu tests collect where it is not installed (benchmarks/gpu_check.py --prepared)."""
    from cli_helpers import run

    return run(*args)


def test_eval_through_onnx_equals_eval_through_checkpoint(synth_pair):
    root = synth_pair
    for name in ("m.pt", "m.onnx"):
        result = run("eval", "voc-val", "--data-root", root, "--model", root / name, "--out", root / f"res-{name}",
                     "--no-figures")
        assert result.exit_code == 0, result.output
    pt, ox = (json.loads((root / f"res-{n}" / "metrics.json").read_text()) for n in ("m.pt", "m.onnx"))
    assert ox["source"]["model"].endswith("m.onnx") and len(ox["source"]["sha256"]) == 64
    assert ox["confusion_matrix"] == pt["confusion_matrix"] and ox["mIoU"] == pt["mIoU"]


def test_parity_command_reports_zero_delta(synth_pair):
    root = synth_pair
    result = run("deploy", "parity", "--model", root / "m.pt", "--deployed", root / "m.onnx",
                 "--data-root", root, "--out", root / "parity")
    assert result.exit_code == 0, result.output
    report = json.loads((root / "parity" / "parity.json").read_text())
    assert report["delta"] == 0.0 and report["within_tolerance"]
    assert report["logits"]["argmax_agreement"] > 99.99 and report["logits"]["max_abs_diff"] < 1e-3


def test_runtimes_share_the_interface(synth_pair):
    root = synth_pair
    torch_rt, onnx_rt = load_runtime(root / "m.pt"), load_runtime(root / "m.onnx", threads=1)
    assert isinstance(torch_rt, ModuleRuntime) and isinstance(onnx_rt, OnnxRuntime)
    assert isinstance(torch_rt, Runtime) and isinstance(onnx_rt, Runtime)  # every member of the protocol
    assert (torch_rt.backend, torch_rt.precision, torch_rt.memory_format, torch_rt.threads) == (
        "torch", "fp32", "contiguous", None)
    assert (onnx_rt.backend, onnx_rt.precision, onnx_rt.memory_format, onnx_rt.threads) == (
        "onnxruntime", "fp32", "contiguous", 1)
    assert torch_rt.classes == onnx_rt.classes and torch_rt.normalization == onnx_rt.normalization
    rgb = read_rgb(sorted((root / "VOCdevkit" / "VOC2012" / "JPEGImages").iterdir())[0])
    a, b = torch_rt.logits(rgb), onnx_rt.logits(rgb)
    assert a.shape == b.shape == (21, *rgb.shape[:2])
    np.testing.assert_allclose(a, b, atol=1e-3)
    x = np.random.default_rng().standard_normal((1, 3, 40, 56)).astype(np.float32)
    onnx_rt.prepare(x).compute()  # what the profiler times runs
    assert torch_rt.infer(x).shape == onnx_rt.infer(x).shape == (1, 21, 40, 56)


def test_bad_model_files_are_input_errors(tmp_path):
    (tmp_path / "m.txt").write_text("x")
    with pytest.raises(InputError, match=r"m.txt: unknown model file type '.txt'"):
        load_runtime(tmp_path / "m.txt")
    (tmp_path / "bad.onnx").write_bytes(b"garbage")
    with pytest.raises(InputError, match="bad.onnx: ONNX Runtime cannot load it"):
        load_runtime(tmp_path / "bad.onnx")
    with pytest.raises(InputError, match="missing.onnx: model file not found"):
        load_runtime(tmp_path / "missing.onnx")
    (tmp_path / "img").mkdir()
    result = run("predict", "--model", tmp_path / "bad.onnx", "--images", tmp_path / "img", "--out", tmp_path / "o")
    assert result.exit_code == 2 and "bad.onnx" in result.output


def test_a_fifo_or_device_as_model_is_refused_without_reading_it(tmp_path, voc_tree):
    """Every command that opens a model file: a FIFO would block it forever, /dev/zero fill memory."""
    import os
    import subprocess
    import sys

    os.mkfifo(tmp_path / "fifo.onnx")
    os.mkfifo(tmp_path / "fifo.pt")
    os.symlink("/dev/zero", tmp_path / "zero.onnx")
    (tmp_path / "img").mkdir()
    commands = [
        ["eval", "voc-val", "--data-root", voc_tree[0], "--model", tmp_path / "fifo.pt"],
        ["predict", "--model", tmp_path / "fifo.onnx", "--images", tmp_path / "img", "--out", tmp_path / "o"],
        ["deploy", "export", "--model", tmp_path / "fifo.pt", "--out", tmp_path / "o.onnx"],
        ["deploy", "quantize", "--onnx", tmp_path / "fifo.onnx", "--out", tmp_path / "o.onnx",
         "--calib-images", tmp_path / "img"],
        ["deploy", "quantize", "--onnx", tmp_path / "zero.onnx", "--out", tmp_path / "o.onnx",
         "--calib-images", tmp_path / "img"],
        ["deploy", "profile", "--model", tmp_path / "fifo.onnx"],
    ]
    # subprocesses, so that a hang is a timeout rather than a stuck test run; all at once (each spends
    # most of its time importing torch)
    running = [(args, subprocess.Popen([sys.executable, "-m", "c2fbench.cli.main", *map(str, args)],
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)) for args in commands]
    for args, process in running:
        try:
            _, stderr = process.communicate(timeout=120)
        finally:
            process.kill()
        lines = stderr.strip().splitlines()
        assert process.returncode == 2 and len(lines) == 1, (args, stderr)
        assert lines[0].startswith("error: ") and "not a regular file" in lines[0], (args, lines)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("o")]


def test_onnx_runtime_on_cuda_asks_for_fp32_and_refuses_a_silent_cpu_fallback(tmp_path, monkeypatch):
    """The CUDA provider gets use_tf32 = 0 (its default rounds FP32 convolutions to TF32), and
    a session that came up on the CPU instead (CUDA libraries missing) is refused, not timed
    or scored as a GPU run. ONNX Runtime is replaced by a stand-in that records its arguments."""
    import onnxruntime as ort

    from deploy.runtimes import _ort_session

    asked = {}

    class Session:
        def __init__(self, path, sess_options, providers):
            asked["providers"] = providers

        def get_providers(self):
            return asked["answer"]
    monkeypatch.setattr(ort, "get_available_providers", lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"])
    monkeypatch.setattr(ort, "InferenceSession", Session)
    asked["answer"] = ["CUDAExecutionProvider", "CPUExecutionProvider"]
    _ort_session(tmp_path / "m.onnx", device="cuda:1", threads=1)
    assert asked["providers"][0] == ("CUDAExecutionProvider", {"device_id": 1, "use_tf32": 0})
    _ort_session(tmp_path / "m.onnx", device="cuda:1", threads=1, stream=0x7F00)  # the runtime's torch stream
    assert asked["providers"][0] == ("CUDAExecutionProvider", {"device_id": 1, "use_tf32": 0,
                                                               "user_compute_stream": str(0x7F00)})
    asked["answer"] = ["CPUExecutionProvider"]
    with pytest.raises(InputError, match=r"m.onnx: --device cuda: ONNX Runtime's CUDA provider did not start "
                                         r"\(running on CPUExecutionProvider\)"):
        _ort_session(tmp_path / "m.onnx", device="cuda", threads=1)
    assert _ort_session(tmp_path / "m.onnx", device="cpu", threads=1) is not None  # the CPU asks no CUDA
    assert asked["providers"] == ["CPUExecutionProvider"]


@pytest.mark.gpu
def test_onnx_runtime_on_cuda_is_timed_with_io_binding_and_events(synth_pair):
    """On CUDA, ONNX Runtime runs on the runtime's torch stream with I/O binding, so the
    profiler splits each run into H2D, GPU compute and D2H by CUDA events, as for TensorRT;
    what the last timed run copied back is the session's answer."""
    import onnxruntime as ort
    import torch

    from deploy.timing import time_steps

    if not torch.cuda.is_available() or "CUDAExecutionProvider" not in ort.get_available_providers():
        pytest.skip("needs a CUDA GPU and onnxruntime-gpu")
    runtime = OnnxRuntime(synth_pair / "m.onnx", device="cuda")
    x = np.random.default_rng().standard_normal((1, 3, 40, 56)).astype(np.float32)
    steps = runtime.prepare(x)
    result = time_steps(steps, batch=1, warmup_ms=0, iterations=5, duration_s=0)
    assert result["gpu_events"] and 0 < result["gpu_median_ms"] and result["h2d_median_ms"] > 0
    np.testing.assert_allclose(steps.keep[3].numpy(), runtime.infer(x), atol=1e-5, rtol=1e-5)
    cpu = OnnxRuntime(synth_pair / "m.onnx").infer(x)
    assert float(np.abs(steps.keep[3].numpy() - cpu).max()) <= 1e-3 * max(1.0, float(np.abs(cpu).max()))
