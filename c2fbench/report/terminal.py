"""Rich tables on the terminal: a results dict, a comparison, deploy's export checks and latency profile."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text

from c2fbench.console import out


def _fmt(v) -> str:
    return "—" if v is None else f"{v:.2f}"


def print_metrics(metrics: dict) -> None:
    """Per-class table and summary for a semantic or foreground results dict."""
    if "per_class_iou" in metrics:
        table = Table(title=f"{metrics['benchmark']}: per-class IoU (%)", show_edge=False)
        table.add_column("class")
        table.add_column("IoU", justify="right")
        table.add_column("acc", justify="right")
        many = len(metrics["per_class_iou"]) > 21  # COCO's 81: list only the classes that were scored
        absent = 0
        for name, iou in metrics["per_class_iou"].items():
            if many and iou is None:
                absent += 1
                continue
            table.add_row(name, _fmt(iou), _fmt(metrics["per_class_acc"][name]))
        out.print(table)
        if absent:
            out.print(f"({absent} classes in neither the ground truth nor the predictions are not listed)")
        summary = (f"mIoU {_fmt(metrics['mIoU'])}   aAcc {_fmt(metrics['aAcc'])}   "
                   f"mAcc {_fmt(metrics['mAcc'])}   fwIoU {_fmt(metrics['fwIoU'])}   "
                   f"({metrics['num_images']} images)")
        if "mIoU_ci95" in metrics:
            low, high = metrics["mIoU_ci95"]
            summary += f"\nmIoU 95% interval [{low:.2f}, {high:.2f}] ({metrics['bootstrap']} bootstrap resamples)"
        if "uncertain" in metrics:
            summary += "\n" + uncertain_note(metrics)
        out.print(summary)
        return
    table = Table(title=f"{metrics['benchmark']}: foreground J and P (%)", show_edge=False)
    for column in ("class", "J", "P", "images", "scored for J"):
        table.add_column(column, justify="left" if column == "class" else "right")
    for name, row in metrics["per_class"].items():
        table.add_row(name, _fmt(row["J"]), _fmt(row["P"]), str(row["num_images"]), str(row["num_images_scored_J"]))
    table.add_row("mean", _fmt(metrics["mean_J"]), _fmt(metrics["mean_P"]), str(metrics["num_images"]), "")
    out.print(table)
    if "mean_J_ci95" in metrics:
        low, high = metrics["mean_J_ci95"]
        out.print(f"mean J 95% interval [{low:.2f}, {high:.2f}] ({metrics['bootstrap']} bootstrap resamples)")


def uncertain_note(metrics: dict) -> str:
    """How an eval with ``--uncertain`` scored the predictions' 255, and its coverage."""
    how = ("left out (--uncertain ignore)" if metrics["uncertain"] == "ignore"
           else "scored as background (--uncertain background)")
    return (f"uncertain pixels (255) {how}; coverage {_fmt(metrics.get('coverage'))}% of the non-void "
            f"ground-truth pixels ({metrics.get('uncertain_pixels', 0):,} uncertain)")


def print_checks(checks: list[dict], *, title: str) -> None:
    """One row per input of ``deploy export``'s verification (see ``deploy.export.compare_logits``)."""
    table = Table(title=title)
    for column in ("input", "max |diff|", "mean |diff|", "argmax agree %"):
        table.add_column(column, justify="left" if column == "input" else "right")
    for c in checks:
        table.add_row(c["input"], f"{c['max_abs_diff']:.2e}", f"{c['mean_abs_diff']:.2e}",
                      f"{c['argmax_agreement']:.3f}")
    out.print(table)


def baseline_column(results: list[dict]) -> str:
    """The ratio column's name: the baseline it divides, the first row ("vs torch")."""
    first = results[0]
    same = [r for r in results if r["backend"] == first["backend"]]
    return f"vs {first['backend']}" + (f" {first['precision']}" if len(same) > 1 else "")


def print_profile(profile: dict) -> None:
    """The latency table of ``deploy profile`` (profile.json's content): host statistics, GPU
    columns when a row has CUDA events, each row's speed-up over the first row (and an INT8
    row's over ONNX Runtime FP32), every figure from an unstable measurement marked so, and
    one warning line per unstable row."""
    from c2fbench.console import warn

    results = profile["results"]
    gpu = any(r.get("gpu_events") for r in results)
    many = len({r.get("model") for r in results}) > 1
    int8 = any(len(r.get("vs", [])) > 1 for r in results)
    table = Table(title=f"latency (ms, host wall time; {results[0]['threads']} threads for every backend"
                        + ("; GPU columns from CUDA events)" if gpu else ")"))
    columns = (["model"] if many else []) + ["backend", "precision", "options", "shape", "threads", "mean", "median",
                                             "p90", "p95", "p99", "min", "max", "CV", "img/s"]
    columns += ["H2D", "GPU compute", "D2H", "latency"] if gpu else []
    columns += [baseline_column(results)] + (["vs onnxruntime fp32"] if int8 else []) + ["stability"]
    for column in columns:
        table.add_column(column, justify="left" if column in ("model", "backend", "precision", "options", "shape",
                                                              "stability") else "right")
    for i, r in enumerate(results):
        row: list[str] = ([_file_name(r.get("model"))] if many else []) + [
            r["backend"], r["precision"], run_options(r), "x".join(map(str, r["shape"])), str(r["threads"]),
            *(f"{r[k]:.2f}" if k in r else "-" for k in ("mean_ms", "median_ms", "p90_ms", "p95_ms", "p99_ms",
                                                         "min_ms", "max_ms")),
            f"{r['cv']:.3f}" if "cv" in r else "-", f"{r['throughput_ips']:.1f}"]
        if gpu:
            row += [f"{r[k]:.3f}" if k in r else "-" for k in ("h2d_median_ms", "gpu_median_ms", "d2h_median_ms",
                                                              "latency_median_ms")]
        vs = r.get("vs", [])
        row.append(ratio_text(1.0, r.get("unstable", False)) if i == 0 else
                   ratio_text(vs[0]["ratio"], vs[0]["unstable"]) if vs else "-")
        if int8:
            row.append(ratio_text(vs[1]["ratio"], vs[1]["unstable"]) if len(vs) > 1 else "-")
        table.add_row(*row, "UNSTABLE" if r.get("unstable") else "stable" if "unstable" in r else "-")
    if out.is_terminal:
        out.print(table)
    else:  # logs and pipes: rich would assume 80 columns and truncate every number
        from rich.console import Console

        Console(file=out.file, width=220, highlight=False).print(table)
    for r in results:
        if r.get("unstable"):
            warn(f"{r['backend']} {r['precision']}{' ' + _file_name(r.get('model')) if many else ''}: unstable "
                 f"(CV {r['cv']:.2f}, median/min {r['median_over_min']:.2f}; rule: "
                 f"{(profile.get('timing') or {}).get('unstable_if', 'see deploy/timing.py')}): other work shared "
                 "the CPU, so its ratios are marked unstable; rerun on idle cores")


def ratio_text(ratio: float | None, unstable: bool) -> str:
    """A speed-up cell: "2.31x", or "2.31x unstable" when either measurement was (never bare)."""
    if ratio is None:
        return "-"
    return f"{ratio:.2f}x" + (" unstable" if unstable else "")


def _file_name(path: str | None) -> str:
    from pathlib import Path

    return Path(path).name if path else "-"


def run_options(row: dict) -> str:
    """What a profile row ran with besides its backend and precision ("-" for nothing special)."""
    on = [name for name, flag in (("channels_last", row.get("memory_format") == "channels_last"),
                                  ("cuda graph", row.get("cuda_graph"))) if flag]
    return ", ".join(on) or "-"


def print_comparison(result: dict) -> None:
    """``c2fbench compare``'s result (compare.json's content): which folder is A and which
    B, A - B per class, and the paired interval with what it says."""
    from c2fbench.report.cells import signed_interval

    out.print(f"A = {result['a']}", markup=False, highlight=False, soft_wrap=True)
    out.print(f"B = {result['b']}", markup=False, highlight=False, soft_wrap=True)
    table = Table(title=f"{result['benchmark']}: A - B per class (points)", show_edge=False)
    table.add_column("class")
    table.add_column("A - B", justify="right")
    for name, diff in result["per_class_difference"].items():
        table.add_row(name, "—" if diff is None else f"{diff:+.2f}")
    out.print(table)
    low, high = result["difference_ci95"]
    verdict = "excludes 0: the difference is more than the choice of images" if result["excludes_zero"] else \
        "includes 0: not distinguishable on these images"
    out.print(f"{result['metric']}: A {result['a_value']:.2f}, B {result['b_value']:.2f}, A - B "
              f"{result['difference']:+.2f}, paired 95% interval {signed_interval(low, high)} over "
              f"{result['num_images']} images ({result['bootstrap']} resamples): {verdict}")


def print_worst(ranked, *, benchmark: str, kind: str) -> None:
    """The ranked images (:class:`c2fbench.eval.worst.RankedImage`), worst first."""
    from c2fbench.eval.worst import fmt_score, score_name

    score, accuracy = score_name(kind)
    table = Table(title=f"{benchmark}: the {len(ranked)} worst images by their own {score} (%)", show_edge=False)
    table.add_column("rank", justify="right")
    table.add_column("id", no_wrap=True, min_width=max((len(item.id) for item in ranked), default=2))  # whole ids
    for column in (score, accuracy):
        table.add_column(column, justify="right")
    if kind == "semantic":
        table.add_column("classes that differ")
    for item in ranked:
        row = [str(item.rank), Text(item.id), fmt_score(item.score), fmt_score(item.accuracy)]
        table.add_row(*row, *([Text(item.differences())] if kind == "semantic" else []))  # Text: no markup
    out.print(table)
