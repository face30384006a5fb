"""PASCAL VOC sections: the Table II leaderboard with the user's rows, per-class IoU against
Table III, and row-normalised confusion matrices (like Fig. 7)."""

from __future__ import annotations

import numpy as np

from c2fbench.data.voc import VOC_CLASSES
from c2fbench.leaderboard import paper_tables
from c2fbench.report import figures
from c2fbench.report.cells import DASH, SYNTHETIC_NOTE, fmt, is_synthetic, row_name, signed, with_ci
from c2fbench.report.document import Data, Figure, Section, Table, slug
from c2fbench.report.inputs import ReportInput


# The paper's own rows are named by its authors in the table files (tables/*.csv, *.tex), which
# go into the user's paper, where "Ours" or "paper" would name the wrong work.
PAPER = "Jing et al."


def _paper_name(entry: dict) -> str:
    return PAPER if not entry["user"] and entry["name"] == "Ours" else entry["name"]


def _voc_results(inputs: list[ReportInput], benchmark: str | None = None) -> list[ReportInput]:
    return [i for i in inputs if i.kind == "semantic" and list(i.data["classes"]) == list(VOC_CLASSES)
            and (benchmark is None or i.data["benchmark"] == benchmark)]


def leaderboard_section(inputs: list[ReportInput], supervision: str) -> list[Section]:
    mine = _voc_results(inputs, "voc-val")
    if not mine:
        return []
    table2 = paper_tables()["table2_voc2012"]
    entries = [{"name": r["method"] + ("*" if r["extra_supervision"] else ""), "venue": r["venue"] or "this paper",
                "supervision": r["supervision"], "val": r["val_mIoU"], "test": r["test_mIoU"], "user": False,
                "ci": None} for r in table2["rows"]]
    entries += [{"name": row_name(i), "venue": "your result", "supervision": supervision, "val": i.data["mIoU"],
                 "test": None, "user": True, "ci": i.data.get("mIoU_ci95")} for i in mine]
    entries.sort(key=lambda e: -e["val"])  # stable: ties keep the paper's order, then the user's
    rows = [[str(rank), e["name"], e["supervision"], e["venue"], with_ci(e["val"], e["ci"]), fmt(e["test"])]
            for rank, e in enumerate(entries, 1)]
    user_rows = {k for k, e in enumerate(entries) if e["user"]}
    data = Data("leaderboard", ["rank", "method", "supervision", "venue", "val mIoU", "val mIoU 95% low",
                                "val mIoU 95% high", "test mIoU"],
                [[rank, _paper_name(e), e["supervision"], e["venue"], e["val"], *(e["ci"] or (None, None)),
                  e["test"]] for rank, e in enumerate(entries, 1)],
                source=["yours" if e["user"] else "paper" for e in entries],
                caption="PASCAL VOC 2012 mIoU (%), ranked by val (Table II)")
    blocks = [
        f"Your voc-val results inserted by val mIoU among the methods of the paper's Table II (PASCAL VOC 2012). "
        f"'*' marks methods that implicitly use pixel-level or other extra supervision (the paper's mark); "
        f"'Ours' is Jing et al. Your rows are listed with supervision '{supervision}' (set with --supervision); "
        f"brackets hold bootstrap 95% intervals over images where the eval ran with --bootstrap.",
        Table(["rank", "method", "supervision", "venue", "val mIoU", "test mIoU"], rows, user_rows,
              caption="PASCAL VOC 2012 mIoU (%), ranked by val", data=data),
        Figure("leaderboard-voc", figures.leaderboard_png(
            [{"name": e["name"], "value": e["val"], "supervision": e["supervision"], "user": e["user"]} for e in entries]),
            "VOC 2012 val mIoU of Table II's methods (coloured by supervision) and yours (red)."),
    ]
    if any(is_synthetic(i.data) for i in mine):
        blocks.insert(1, SYNTHETIC_NOTE)
    return [Section("PASCAL VOC 2012 leaderboard (Table II)", blocks)]


def per_class_section(inputs: list[ReportInput]) -> list[Section]:
    mine = _voc_results(inputs)
    if not mine:
        return []
    paper = paper_tables()["table3_per_class"]["val"]
    paper_column = [None, *paper["per_class_iou"].values(), paper["mIoU"]]  # background is not printed
    header, columns = ["class", "paper (val)"], [list(map(fmt, paper_column))]
    data_header, data_columns = ["class", f"{PAPER} (val)"], [paper_column]
    for item in mine:
        values = [*item.data["per_class_iou"].values(), item.data["mIoU"]]
        header.append(f"{row_name(item)} ({item.data['benchmark']})")
        columns.append([*map(fmt, values[:-1]), with_ci(values[-1], item.data.get("mIoU_ci95"))])
        data_header.append(header[-1])
        data_columns.append(values)
        # the paper's row is val: compare like with like; a synthetic result's classes are drawn
        # shapes, not VOC's photographs, so its difference to the paper's (-69.5 for aeroplane) means nothing
        if item.data["benchmark"] == "voc-val" and not is_synthetic(item.data):
            header.append(f"{item.label} − paper")
            differences = [None if v is None or p is None else v - p for v, p in zip(values, paper_column)]
            columns.append([DASH if d is None else signed(d) for d in differences])
            data_header.append(f"{item.label} - {PAPER}")
            data_columns.append(differences)
    names = [*VOC_CLASSES, "mIoU"]
    rows = [[name, *(column[r] for column in columns)] for r, name in enumerate(names)]
    data = Data("per_class", data_header, [[name, *(column[r] for column in data_columns)]
                                           for r, name in enumerate(names)],
                user_columns=set(range(2, len(data_header))), caption="Per-class IoU (%) (Table III)")
    explanation = ("Per-class IoU against the paper's Table III (val). The paper does not print background IoU; "
                   "its mIoU and the 20 printed classes imply 88.9. Differences are your value minus the paper's, in "
                   "points, for voc-val results on PASCAL VOC")
    if any(is_synthetic(i.data) for i in mine):
        explanation += " (a synthetic result gets none: its classes are drawn shapes, not the paper's photographs)"
    blocks = [
        explanation + ".",
        Table(header, rows, {len(rows) - 1}, caption="Per-class IoU (%)", data=data),
        Figure("per-class-voc", figures.per_class_png(
            list(VOC_CLASSES[1:]), {"paper (val)": list(paper["per_class_iou"].values()),
                                    **{row_name(i): list(i.data["per_class_iou"].values())[1:] for i in mine}},
            title="Per-class IoU: the paper's Table III and yours"),
            "Per-class IoU of the 20 object classes, the paper's val row (grey) beside yours."),
    ]
    if any(is_synthetic(i.data) for i in mine):
        blocks.insert(1, SYNTHETIC_NOTE)
    return [Section("Per-class IoU (Table III)", blocks)]


def confusion_section(inputs: list[ReportInput]) -> list[Section]:
    semantic = [i for i in inputs if i.kind == "semantic"]
    if not semantic:
        return []
    blocks = ["Each row is one ground-truth class, normalised to 100%: the diagonal is that class's pixel accuracy, "
              "the rest of the row says what it was mistaken for (like the paper's Fig. 7). Void pixels are excluded."]
    for item in semantic:
        blocks.append(Figure(f"confusion-{slug(item.label)}", figures.confusion_heatmap_png(
            np.array(item.data["confusion_matrix"]), item.data["classes"],
            title=f"{row_name(item)}: {item.data['benchmark']}"),
            f"Row-normalised confusion matrix of {row_name(item)} on {item.data['benchmark']} (% of ground-truth pixels)."))
    return [Section("Confusion matrices (Fig. 7)", blocks)]
