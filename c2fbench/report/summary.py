"""The report's first section: the user's own numbers before any published ones.

What it gathers from the other sections' inputs: each eval's headline score with its
bootstrap interval, each training run's best round, the Table I rows rebuilt from the runs,
the latency of each profiled backend with its speed-up over PyTorch eager (and an INT8 model's
over ONNX Runtime FP32), every ratio from an unstable measurement marked so, and which
leaderboards follow (and why, where one is left out).
"""

from __future__ import annotations

from c2fbench.report.cells import DASH, SYNTHETIC_NOTE, fmt, headline, input_is_synthetic, row_name
from c2fbench.report.document import Section, Table
from c2fbench.report.inputs import ReportInput
from c2fbench.report.latency import profile_rows
from c2fbench.report.training import run_variant, table1_scores


def summary_section(inputs: list[ReportInput], *, leaderboard: str, boards: list[str]) -> list[Section]:
    """``boards``: the titles of the leaderboard sections that follow, in order."""
    blocks: list = []
    evals = [i for i in inputs if i.kind in ("semantic", "foreground")]
    if evals:
        rows = []
        for item in evals:
            metric, value = headline(item.data)
            interval = item.data.get("mIoU_ci95" if metric == "mIoU" else "mean_J_ci95")
            rows.append([row_name(item), item.data["benchmark"], metric, fmt(value, 2),
                         f"[{interval[0]:.2f}, {interval[1]:.2f}]" if interval else "no --bootstrap",
                         str(item.data.get("num_images", DASH))])
        blocks.append(Table(["result", "benchmark", "metric", "score", "95% interval", "images"], rows,
                            user_rows=set(range(len(rows))), caption="Your results (%)"))
    runs = [i for i in inputs if i.kind == "run" and any("val" in line for line in i.data["rounds"])]
    if runs:
        rows = []
        for item in runs:
            scored = [line for line in item.data["rounds"] if "val" in line]
            best = max(scored, key=lambda line: headline(line["val"])[1])  # the first of equal maxima
            metric, value = headline(best["val"])
            rows.append([row_name(item), run_variant(item.data["config"]), f"{best['round']} of {len(scored)}",
                         f"{metric} {fmt(value, 2)}", best["val"]["benchmark"]])
        blocks.append(Table(["run", "training masks", "best round", "val score", "benchmark"], rows,
                            caption="Best round of each training run (%)"))
        table1 = [f"{mask.lower()} {fmt(value)} (paper {fmt(paper)})"
                  for mask, value, paper, _ in table1_scores(runs) if value is not None]
        if len(table1) >= 2:
            blocks.append("Table I, val mIoU of one round on each kind of mask: " + ", ".join(table1) + ".")
    profiles = [i for i in inputs if i.kind == "profile"]
    if profiles:
        rows = [[r["model"], f"{r['backend']} {r['precision']}", r["shape"], fmt(r["median_ms"], 2),
                 r["vs_torch"], r["vs_fp32"], r["stability"]] for item in profiles for r in profile_rows(item)]
        blocks.append(Table(["model", "backend", "shape", "median ms", "vs torch", "INT8 vs onnxruntime fp32",
                             "stability"], rows, caption="Speed of each profiled backend (median latency per batch)"))
        if any(r[-1] == "UNSTABLE" for r in rows):
            blocks.append("UNSTABLE rows were timed while other work shared the machine: their ratios are marked "
                          "(unstable); rerun `c2fbench deploy profile` on idle cores before quoting them.")
    blocks.append(_leaderboard_note(inputs, leaderboard, boards))
    if any(input_is_synthetic(i) for i in inputs):
        blocks.append(SYNTHETIC_NOTE)
    return [Section("Summary", blocks)]


def _leaderboard_note(inputs: list[ReportInput], leaderboard: str, boards: list[str]) -> str:
    if boards:
        shown = " then ".join(f"'{b}'" for b in boards)
        why = {"both": "--leaderboard both, the default",
               "recent": "--leaderboard recent: the paper's Table II is left out",
               "paper": "--leaderboard paper: the 2019-2025 leaderboard is left out"}[leaderboard]
        return f"Leaderboards below: {shown} ({why})."
    if leaderboard != "paper" and any(i.kind == "semantic" for i in inputs):
        return ("No leaderboard: no voc-val or coco-val result (or VOC train seed or mask result) was given, and the "
                "leaderboards rank only those.")
    if leaderboard == "paper" and any(i.kind == "semantic" and i.data["benchmark"] == "coco-val" for i in inputs):
        return "No leaderboard: the paper's Table II ranks voc-val results; --leaderboard both places coco-val ones."
    mit = " (MIT Object Discovery results are ranked in Table IV below)" if any(
        i.kind == "foreground" for i in inputs) else ""
    return f"No VOC or COCO leaderboard: none of the results given is on voc-val or coco-val{mit}."
