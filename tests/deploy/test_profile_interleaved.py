"""Profiler on a shared machine: backends take turns run by run, percentiles and CV on scripted
durations (a fake clock), the instability rule, ratios that carry their stability, every
--model profiled, the thread count printed first, and the report's INT8 against FP32."""

from __future__ import annotations

import json

import numpy as np
import pytest

from c2fbench.inference import Steps
from deploy_helpers import deeplab_ckpt, deeplab_onnx  # noqa: F401 (fixtures)
from deploy.timing import time_interleaved


class FakeClock:
    """Seconds that only the stand-in runtimes advance, by the durations scripted for them."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def runtime(self, name, durations_ms, log):
        """Steps whose compute logs ``name`` and takes the next of ``durations_ms`` (cycled)."""
        def compute():
            log.append(name)
            self.now += durations_ms[len([n for n in log if n == name]) - 1] / 1000.0
        return Steps(compute=compute)


def test_backends_take_turns_run_by_run_in_warm_up_and_timed_loop():
    clock, log = FakeClock(), []
    a = clock.runtime("A", [1.0] * 100, log)
    b = clock.runtime("B", [2.0] * 100, log)
    # warm-up: at least 2 cycles and 5 ms per target (10 ms in all: 3 cycles of 3 ms and a 4th);
    # timed: at least 3 timed runs each and 0.005 s per target (10 ms): one cycle of
    # A (untimed) A A A, B (untimed) B B B takes 12 ms and gives 3 timed runs each
    results = time_interleaved([a, b], batch=1, warmup_ms=5, warmup=2, iterations=3, duration_s=0.005, clock=clock)
    assert log == ["A", "B"] * 4 + ["A"] * 4 + ["B"] * 4
    assert [r["warmup_runs"] for r in results] == [4, 4] and [r["iterations"] for r in results] == [3, 3]
    assert results[0]["median_ms"] == pytest.approx(1.0) and results[1]["median_ms"] == pytest.approx(2.0)
    assert results[1]["wall_s"] == pytest.approx(3 * 0.002)  # its own timed runs, not the loop's
    assert results[1]["throughput_ips"] == pytest.approx(500.0)


def test_the_run_after_another_backends_is_not_timed():
    """A run right after another backend's is slowed by it (its spinning threads, the caches):
    scripted here as 3x; each turn's first run is untimed, so no timed run is slowed."""
    clock, log = FakeClock(), []

    def runtime(name):
        def compute():
            slowed = log and log[-1] != name  # the first run after the other backend's
            log.append(name)
            clock.now += (3.0 if slowed else 1.0) / 1000.0
        return Steps(compute=compute)

    results = time_interleaved([runtime("A"), runtime("B")], batch=1, warmup_ms=0, warmup=1, iterations=30,
                               duration_s=0, clock=clock)
    assert [r["median_ms"] for r in results] == pytest.approx([1.0, 1.0])
    assert [r["max_ms"] for r in results] == pytest.approx([1.0, 1.0]) and not any(r["unstable"] for r in results)
    alone = time_interleaved([runtime("A")], batch=1, warmup_ms=0, warmup=0, iterations=5, duration_s=0, clock=clock)
    assert alone[0]["iterations"] == 5  # a lone target: every run timed, no turn to switch


def test_statistics_of_scripted_durations_and_which_one_is_unstable():
    rng = np.random.default_rng()
    steady = list(20.0 + rng.uniform(0.0, 1.0, size=40))  # idle: within 5% of each other
    stalled = list(steady)
    for i in rng.choice(40, size=12, replace=False):  # a neighbour took the core for 12 of 40 runs
        stalled[i] *= 3.0
    clock, log = FakeClock(), []
    results = time_interleaved([clock.runtime("steady", steady, log), clock.runtime("stalled", stalled, log)],
                               batch=1, warmup_ms=0, warmup=0, iterations=40, duration_s=0, clock=clock,
                               switch_runs=0, timed_runs=1)  # one scripted duration per timed run
    for result, times in zip(results, (steady, stalled)):
        t = np.asarray(times)
        for q in (90, 95, 99):
            assert result[f"p{q}_ms"] == pytest.approx(np.percentile(t, q))
        assert result["min_ms"] == pytest.approx(t.min()) and result["median_ms"] == pytest.approx(np.median(t))
        assert result["cv"] == pytest.approx(t.std() / t.mean())
        assert result["median_over_min"] == pytest.approx(np.median(t) / t.min())
    # steady: CV about 0.3 / 20.5 = 0.014; stalled: 30% of runs 3x slower, CV about 0.57
    assert not results[0]["unstable"] and results[1]["unstable"]


@pytest.mark.parametrize("times, unstable", [
    ([10.0] * 20, False),
    ([10.0, 11.0] * 10, False),          # CV 0.0476, median / min 1.05
    ([10.0] + [16.0] * 19, True),        # CV 0.083 but median / min 1.6: only a lucky run was fast
    ([10.0, 14.0] * 10, True),           # CV 2 / 12 = 0.167: above 0.15
    ([10.0, 13.0] * 10, False),          # CV 1.5 / 11.5 = 0.130, median / min 1.15
])
def test_the_instability_rule_on_hand_computed_cases(times, unstable):
    from deploy.timing import latency_stats, stability

    assert stability(latency_stats(times, batch=1))["unstable"] is unstable


def _row(backend, precision, median, unstable, model="/m.pt"):
    return {"backend": backend, "precision": precision, "model": model, "median_ms": median, "unstable": unstable}


def test_ratios_name_their_baseline_carry_stability_and_int8_meets_onnxruntime_fp32():
    from deploy.profile import add_ratios

    rows = [_row("torch", "fp32", 40.0, False), _row("onnxruntime", "fp32", 16.0, False),
            _row("onnxruntime", "int8", 10.0, True, model="/m-int8.onnx")]
    add_ratios(rows)
    assert rows[0]["vs"] == []
    assert rows[1]["vs"] == [{"backend": "torch", "precision": "fp32", "model": "/m.pt", "median_ms": 40.0,
                              "ratio": 2.5, "unstable": False}]
    torch, fp32 = rows[2]["vs"]
    assert (torch["backend"], torch["ratio"], torch["unstable"]) == ("torch", 4.0, True)
    assert (fp32["backend"], fp32["precision"], fp32["ratio"], fp32["unstable"]) == ("onnxruntime", "fp32", 1.6, True)


def test_every_model_is_profiled_interleaved_and_the_threads_are_printed_first(tmp_path, deeplab_ckpt, deeplab_onnx):
    from cli_helpers import run

    onnx_path, _ = deeplab_onnx
    result = run("deploy", "profile", "--model", deeplab_ckpt, "--model", onnx_path, "--shape", "1x3x32x32",
                 "--warmup", "1", "--warmup-ms", "0", "--iterations", "3", "--duration", "0", "--threads", "1",
                 "--out", tmp_path / "p")
    assert result.exit_code == 0, result.output
    profile = json.loads((tmp_path / "p" / "profile.json").read_text())
    rows = [(r["backend"], r["model"]) for r in profile["results"]]
    assert rows == [("torch", str(deeplab_ckpt.resolve())), ("onnxruntime", str(deeplab_ckpt.resolve())),
                    ("onnxruntime", str(onnx_path.resolve()))]
    assert profile["threads"] == 1 and profile["threads_from"] == "--threads"
    assert all(r["threads"] == 1 and r["iterations"] == 3 for r in profile["results"])
    assert "interleaved" in profile["timing"]["method"] and "0.15" in profile["timing"]["unstable_if"]
    from importlib.metadata import version

    numerics = profile["numerics"]  # what decides the times: threads, OpenMP's wait policy, ISA, versions
    assert numerics["torch_threads"] == 1 and numerics["onnxruntime"] == version("onnxruntime")
    assert numerics["onednn_isa"] and "environment" in numerics
    assert result.output.lstrip().startswith("threads: 1 for every backend (--threads)")
    assert "deeplab.onnx" in result.output and "deeplab.pt" in result.output  # the model column


def test_default_threads_are_the_cpus_this_process_may_use(tmp_path, deeplab_onnx, monkeypatch):
    import os

    from cli_helpers import run

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0}, raising=False)  # as under `taskset -c 0`
    result = run("deploy", "profile", "--model", deeplab_onnx[0], "--shape", "1x3x32x32", "--warmup-ms", "0",
                 "--iterations", "2", "--duration", "0", "--out", tmp_path / "p")
    assert result.exit_code == 0, result.output
    profile = json.loads((tmp_path / "p" / "profile.json").read_text())
    assert profile["threads"] == 1 and profile["results"][0]["threads"] == 1
    assert profile["threads_from"].startswith("default") and result.output.lstrip().startswith("threads: 1 ")


def test_a_second_torchvision_model_is_refused(tmp_path, deeplab_onnx):
    from cli_helpers import assert_refused, run

    result = run("deploy", "profile", "--model", "torchvision:lraspp_mobilenet_v3_large", "--model", deeplab_onnx[0],
                 "--out", tmp_path / "p")
    assert_refused(result, tmp_path / "p", "is profiled alone")


def test_the_terminal_never_prints_a_bare_ratio_from_an_unstable_row(capsys):
    from c2fbench.report.terminal import print_profile

    def row(backend, precision, median, cv, unstable, vs):
        return {"backend": backend, "precision": precision, "shape": [1, 3, 8, 8], "threads": 2, "mean_ms": median,
                "median_ms": median, "p90_ms": median, "p95_ms": median, "p99_ms": median, "min_ms": median,
                "max_ms": median, "cv": cv, "median_over_min": 1.0, "throughput_ips": 1000 / median,
                "unstable": unstable, "vs": vs, "model": "/m.pt"}
    rows = [row("torch", "fp32", 40.0, 0.02, False, []),
            row("onnxruntime", "fp32", 16.0, 0.40, True, [{"ratio": 2.5, "unstable": True}])]
    print_profile({"results": rows, "timing": {"unstable_if": "CV > 0.15"}})
    captured = capsys.readouterr()
    assert "2.50x unstable" in captured.out and "UNSTABLE" in captured.out
    assert captured.out.count("2.50x") == captured.out.count("2.50x unstable")
    assert "onnxruntime fp32: unstable (CV 0.40" in captured.err


def test_the_report_shows_int8_against_onnxruntime_fp32_with_its_stability(tmp_path):
    from c2fbench.report.document import Table
    from c2fbench.report.inputs import ReportInput
    from c2fbench.report.latency import deploy_section

    base = {"shape": [1, 3, 64, 64], "threads": 2, "device": "cpu", "throughput_ips": 1.0}
    fp32 = {**base, "backend": "onnxruntime", "precision": "fp32", "model": "/d/m.pt", "median_ms": 16.0,
            "cv": 0.03, "unstable": False}
    torch = {**base, "backend": "torch", "precision": "fp32", "model": "/d/m.pt", "median_ms": 40.0, "cv": 0.02,
             "unstable": False, "vs": []}
    fp32["vs"] = [{"backend": "torch", "precision": "fp32", "median_ms": 40.0, "ratio": 2.5, "unstable": False}]
    int8 = {**base, "backend": "onnxruntime", "precision": "int8", "model": "/d/int8/m-int8.onnx", "median_ms": 10.0,
            "cv": 0.31, "unstable": True,
            "vs": [{"backend": "torch", "precision": "fp32", "median_ms": 40.0, "ratio": 4.0, "unstable": True},
                   {"backend": "onnxruntime", "precision": "fp32", "median_ms": 16.0, "ratio": 1.6, "unstable": True}]}
    # as the demo writes them: one interleaved run split into two files, INT8's ratio kept in its row
    inputs = [ReportInput("profile", "deploy", tmp_path / "a.json", {"results": [torch, fp32],
                                                                      "source": {"model": "/d/m.pt"}}),
              ReportInput("profile", "int8", tmp_path / "b.json", {"results": [int8],
                                                                    "source": {"model": "/d/int8/m-int8.onnx"}})]
    table = next(b for b in deploy_section(inputs)[0].blocks if isinstance(b, Table))
    header = table.header
    col = {name: header.index(name) for name in ("vs torch", "INT8 vs onnxruntime fp32", "CV", "stability")}
    assert [r[col["vs torch"]] for r in table.rows] == ["1.00x", "2.50x", "4.00x (unstable)"]
    assert [r[col["INT8 vs onnxruntime fp32"]] for r in table.rows] == ["—", "—", "1.60x (unstable)"]
    assert [r[col["stability"]] for r in table.rows] == ["stable", "stable", "UNSTABLE"]
    numbers = table.data.rows[2]
    assert numbers[table.data.header.index("speed-up vs onnxruntime fp32")] == 1.6
    assert numbers[table.data.header.index("unstable")] is True


def test_an_older_profile_without_stability_keeps_its_ratio_and_no_mark(tmp_path):
    from c2fbench.report.document import Table
    from c2fbench.report.inputs import ReportInput
    from c2fbench.report.latency import deploy_section

    rows = [{"backend": b, "precision": "fp32", "shape": [1, 3, 8, 8], "median_ms": ms, "throughput_ips": 1.0}
            for b, ms in (("torch", 30.0), ("onnxruntime", 12.0))]
    table = next(b for b in deploy_section([ReportInput("profile", "old", tmp_path / "p.json",
                                                         {"results": rows, "source": {}})])[0].blocks
                 if isinstance(b, Table))
    assert [r[table.header.index("vs torch")] for r in table.rows] == ["1.00x", "2.50x"]
    assert [r[table.header.index("stability")] for r in table.rows] == ["—", "—"]


def test_two_checkpoints_of_one_name_are_each_timed_as_themselves(tmp_path, monkeypatch):
    """Their temporary ONNX exports must not share a path (the second would time the first)."""
    from deploy import export as export_module
    from deploy.profile import profile_model
    from deploy_helpers import write_checkpoint

    a, b = tmp_path / "a" / "m.pt", tmp_path / "b" / "m.pt"
    for path, arch in ((a, "deeplab_v2_mobilenet"), (b, "deeplab_v2_vgg_lite")):
        path.parent.mkdir()
        write_checkpoint(path, arch, 3)
    exported = []
    real = export_module.export_onnx
    monkeypatch.setattr(export_module, "export_onnx", lambda src, dst, **kw: (exported.append((src, dst)),
                                                                             real(src, dst, **kw))[1])
    profile = profile_model(a, more_models=[b], backends=["onnxruntime"], shape=(1, 3, 32, 32), warmup_ms=0,
                            iterations=1, duration_s=0, threads=1)
    assert [src for src, _ in exported] == [a, b] and exported[0][1] != exported[1][1]
    assert [r["model"] for r in profile["results"]] == [str(a.resolve()), str(b.resolve())]


def test_the_same_file_twice_is_refused(tmp_path, deeplab_onnx):
    from cli_helpers import assert_refused, run

    result = run("deploy", "profile", "--model", deeplab_onnx[0], "--model", deeplab_onnx[0], "--out", tmp_path / "p")
    assert_refused(result, tmp_path / "p", "given twice")


def test_a_profile_split_by_model_keeps_each_row_s_ratios(tmp_path):
    from deploy.profile import add_ratios, profile_of

    rows = [_row("torch", "fp32", 40.0, False, model=str(tmp_path / "m.pt")),
            _row("onnxruntime", "fp32", 16.0, False, model=str(tmp_path / "m.pt")),
            _row("onnxruntime", "int8", 10.0, False, model=str(tmp_path / "m-int8.onnx"))]
    for r in rows:
        r["sha256"] = r["model"][-5:]
    add_ratios(rows)
    int8 = profile_of({"results": rows, "threads": 2}, tmp_path / "m-int8.onnx")
    assert int8["source"] == {"model": str(tmp_path / "m-int8.onnx"), "sha256": rows[2]["sha256"]}
    assert [r["precision"] for r in int8["results"]] == ["int8"] and int8["threads"] == 2
    assert [(v["backend"], v["precision"], v["ratio"]) for v in int8["results"][0]["vs"]] == [
        ("torch", "fp32", 4.0), ("onnxruntime", "fp32", 1.6)]


def test_the_report_refuses_a_profile_whose_stability_is_not_a_flag(tmp_path):
    from c2fbench.errors import InputError
    from c2fbench.report.checks import Where, check_profile

    row = {"backend": "torch", "precision": "fp32", "shape": [1, 3, 8, 8], "median_ms": 1.0, "throughput_ips": 1.0}
    for bad, words in (({"unstable": "no"}, "unstable"), ({"vs": [{"backend": "torch"}]}, "vs[0].precision")):
        with pytest.raises(InputError, match=words.replace("[", r"\[").replace("]", r"\]")):
            check_profile({"results": [{**row, **bad}], "c2fbench_version": "0", "source": {}, "time_utc": "x"},
                          Where(tmp_path / "profile.json"))
