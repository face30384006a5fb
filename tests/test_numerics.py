"""What decides the floats (c2fbench/numerics.py) and the thread count (c2fbench/threads.py)."""

import os
import subprocess
import sys

import pytest

AVX512 = {"avx512f", "avx512bw", "avx512vl", "avx512dq"}
BASE = {"sse4_1", "avx", "avx2", "fma"}


@pytest.mark.parametrize("flags, cap, expected", [
    (BASE, "ALL", "AVX2"),
    (BASE, None, "AVX2"),  # unset: no cap
    (BASE | AVX512, "ALL", "AVX512_CORE"),
    (BASE | AVX512 | {"avx512_vnni"}, "ALL", "AVX512_CORE_VNNI"),
    (BASE | AVX512 | {"avx512_vnni"}, "avx2", "AVX2"),  # the cap, in any case
    (BASE | AVX512 | {"avx512_vnni"}, "AVX512_CORE", "AVX512_CORE"),
    (BASE | {"avx_vnni"}, "ALL", "AVX2_VNNI"),
    (BASE | AVX512 | {"avx512_vnni", "avx_vnni"}, "AVX2_VNNI", "AVX2_VNNI"),
    (BASE - {"avx2"}, "ALL", "AVX"),
    ({"sse4_1"}, "ALL", "SSE41"),
    (BASE, "SSE41", "SSE41"),
    (set(), "ALL", "unknown"),
])
def test_onednn_isa_from_flags_and_cap(monkeypatch, flags, cap, expected):
    """Hand-ranked cases: the most capable set the flags allow, no higher than the cap."""
    from c2fbench import numerics

    monkeypatch.setattr(numerics.platform, "machine", lambda: "x86_64")
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    monkeypatch.delenv("DNNL_MAX_CPU_ISA", raising=False)
    if cap is None:
        assert numerics.onednn_isa(flags) == expected
    else:
        assert numerics.onednn_isa(flags, cap) == expected
        monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", cap)
        assert numerics.onednn_isa(flags) == expected


# oneDNN's own words for each instruction set in its verbose log (oneDNN's cpu_isa_traits)
VERBOSE_NAMES = {
    "Intel SSE4.1": "SSE41", "Intel AVX": "AVX", "Intel AVX2": "AVX2", "Intel AVX2 with Intel DL Boost": "AVX2_VNNI",
    "Intel AVX-512 with AVX512BW, AVX512VL, and AVX512DQ extensions": "AVX512_CORE",
    "Intel AVX-512 with Intel DL Boost": "AVX512_CORE_VNNI",
    "Intel AVX-512 with Intel DL Boost and bfloat16 support": "AVX512_CORE_BF16",
}


def _onednn_says(cap: str | None) -> str:
    """The instruction set oneDNN's verbose log names when torch runs a convolution."""
    env = {**os.environ, "ONEDNN_VERBOSE": "1"}
    env.pop("ONEDNN_MAX_CPU_ISA", None)
    if cap:
        env["ONEDNN_MAX_CPU_ISA"] = cap
    code = "import torch; torch.set_num_threads(1); torch.nn.Conv2d(16, 32, 3)(torch.randn(2, 16, 32, 32))"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    line = next(line for line in out.splitlines() if ",cpu,isa:" in line)
    return line.partition(",cpu,isa:")[2].strip()


@pytest.mark.skipif(not os.path.exists("/proc/cpuinfo"), reason="needs Linux's /proc/cpuinfo")
@pytest.mark.parametrize("cap", [None, "AVX2", "AVX"])
def test_onednn_isa_is_what_onednn_reports(cap):
    """The oracle is oneDNN itself: its verbose log on this machine, uncapped and capped."""
    import platform

    from c2fbench.numerics import onednn_isa

    if platform.machine().lower() not in ("x86_64", "amd64"):
        pytest.skip("oneDNN's x86 instruction sets only")
    said = _onednn_says(cap)
    if said not in VERBOSE_NAMES:
        pytest.skip(f"oneDNN names an instruction set this test does not map: {said}")
    assert onednn_isa(cap=cap or "ALL") == VERBOSE_NAMES[said]


def test_default_threads_ignore_the_load(monkeypatch):
    """The count is the CPUs this process may use; neither the load average nor /proc/stat is read."""
    from c2fbench import threads

    monkeypatch.setattr(threads.os, "getloadavg", lambda: pytest.fail("the load average was read"))
    monkeypatch.setattr(threads, "default_workers", lambda: 3)
    assert threads.default_threads() == 3
    assert not hasattr(threads, "busy_cores")


def test_passive_waiting_keeps_a_policy_the_user_chose(monkeypatch):
    from c2fbench.threads import passive_waiting

    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    passive_waiting()
    assert os.environ["OMP_WAIT_POLICY"] == "PASSIVE"
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    passive_waiting()
    assert os.environ["OMP_WAIT_POLICY"] == "ACTIVE"


def test_the_command_line_starts_openmp_passive():
    """A fresh `c2fbench` process: the policy is set before torch loads (the CLI's module)."""
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    code = ("import c2fbench.cli.main, os, sys; assert 'torch' not in sys.modules; "
            "print(os.environ['OMP_WAIT_POLICY'])")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "PASSIVE"


@pytest.mark.parametrize("argv, policy", [(["deploy", "profile", "--model", "m.onnx"], None),
                                          (["--debug", "deploy", "profile"], None),
                                          (["deploy", "parity"], "PASSIVE"), (["train", "recursive"], "PASSIVE"),
                                          (["eval", "voc-val", "--model", "profile"], "PASSIVE")])
def test_latency_is_timed_under_openmps_default_policy_and_all_else_passive(argv, policy):
    """`deploy profile` times what a deployed model gets (OpenMP's default wait), every other
    command waits passively; a fresh process, as the command line starts it."""
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    code = (f"import sys; sys.argv = ['c2fbench', *{argv!r}]; import c2fbench.cli.main, os; "
            f"print(os.environ.get('OMP_WAIT_POLICY'))")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == str(policy)


def test_record_reads_only_loaded_libraries():
    """Recording in a process without torch imports nothing: its fields are None."""
    code = ("import json, sys; from c2fbench.numerics import numerics; r = numerics(workers=2); "
            "print(json.dumps([r['torch_threads'], r['workers'], 'torch' in sys.modules, r['numpy'] is not None]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[null, 2, false, true]"


def test_record_and_line_name_the_thread_count():
    import torch

    from c2fbench.numerics import numerics, numerics_line

    torch.set_num_threads(1)
    record = numerics(workers=3)
    assert record["torch_threads"] == 1 and record["workers"] == 3
    assert record["torch"].split("+")[0] == torch.__version__.split("+")[0]
    line = numerics_line(record)
    assert line.startswith("numerics: torch 1 threads") and "3 workers" in line and record["onednn_isa"] in line
