"""Training-run sections: validation score per round, with and without GrabCut refinement
(like Fig. 6), and Table I rebuilt from the user's runs."""

from __future__ import annotations

from c2fbench.leaderboard import paper_tables
from c2fbench.report import figures
from c2fbench.report.cells import DASH, SYNTHETIC_NOTE, fmt, headline, input_is_synthetic, row_name
from c2fbench.report.document import Data, Figure, Section, Table, slug
from c2fbench.report.inputs import ReportInput


def run_variant(config: dict) -> str:
    """How a run made its training masks, in the words of Fig. 6 and Table I."""
    if config.get("enhance_initial") is False:
        return "trained on coarse masks"
    if config.get("initial_boxes"):
        return "trained on bounding boxes"
    if "refine_grabcut" not in config:
        return "configuration unknown"
    return "refined with GrabCut" if config["refine_grabcut"] else "refined without GrabCut"


def rounds_section(inputs: list[ReportInput]) -> list[Section]:
    runs = [i for i in inputs if i.kind == "run" and any("val" in line for line in i.data["rounds"])]
    if not runs:
        return []
    blocks = ["Validation score after each training round. The paper's Fig. 6 compares refinement with GrabCut "
              "on the previous round's predictions against using the predictions directly; each line below is "
              "labelled by its run's configuration (refine_grabcut, enhance_initial)."]
    by_metric: dict[tuple, dict] = {}
    for item in runs:
        scored = [line for line in item.data["rounds"] if "val" in line]
        metric, _ = headline(scored[0]["val"])
        key = (scored[0]["val"]["benchmark"], metric)
        name = f"{row_name(item)} ({run_variant(item.data['config'])})"
        by_metric.setdefault(key, {})[name] = ([l["round"] for l in scored], [headline(l["val"])[1] for l in scored])
    for (benchmark, metric), lines in by_metric.items():
        blocks.append(Figure(f"rounds-{slug(benchmark)}", figures.rounds_png(
            lines, ylabel=f"{benchmark} {metric} (%)", title=f"{benchmark} {metric} by training round"),
            f"{benchmark} {metric} after each training round, one line per run."))
    rows = []
    for item in runs:  # one row per run and round: five short columns however many runs there are
        for line in item.data["rounds"]:
            val = line.get("val")
            rows.append([row_name(item), run_variant(item.data["config"]), str(line["round"]),
                         f"{headline(val)[0]} {fmt(headline(val)[1], 2)}" if val else DASH,
                         fmt((line.get("train_masks") or {}).get("iou"))])
    blocks.append("Mask IoU is the training masks' IoU with the hidden ground truth, known only on synthetic data.")
    blocks.append(Table(["run", "training masks", "round", "val score", "mask IoU"], rows,
                        caption="Validation score (%) and training-mask IoU per round"))
    blocks += _table1(runs)
    if any(input_is_synthetic(i) for i in runs):
        blocks.insert(1, SYNTHETIC_NOTE)
    return [Section("Training rounds (Fig. 6)", blocks)]


def table1_scores(runs: list[ReportInput]) -> list[tuple[str, float | None, float, str | None]]:
    """Table I on the user's runs, in the paper's row order: (mask type, your val mIoU or None,
    the paper's, the run it is from). Round 1 on coarse, box or enhanced masks, round 2 on
    refined masks; the first run given of each kind."""
    semantic = [i for i in runs if "mIoU" in next(l["val"] for l in i.data["rounds"] if "val" in l)]

    def score(want, r):
        for item in semantic:
            cfg = item.data["config"]
            if want(cfg):
                line = next((l for l in item.data["rounds"] if l["round"] == r and "val" in l), None)
                if line:
                    return line["val"]["mIoU"], row_name(item)
        return None, None

    def enhanced(c):
        return c.get("enhance_initial", True) and not c.get("initial_boxes")

    mine = {"Coarse Masks": score(lambda c: c.get("enhance_initial") is False, 1),
            "Bounding Boxes": score(lambda c: c.get("enhance_initial", True) and c.get("initial_boxes"), 1),
            "Enhanced Masks": score(enhanced, 1),
            "Refined Masks": score(lambda c: enhanced(c) and c.get("refine_grabcut", True), 2)}
    rows = []
    for entry in paper_tables()["table1_mask_types"]["rows"]:
        value, label = mine.get(entry["mask"], (None, None))
        rows.append((entry["mask"], value, entry["val_mIoU"], label))
    return rows


def _table1(runs: list[ReportInput]) -> list:
    """Table I on the user's runs: round 1 on coarse or enhanced masks, round 2 on refined masks."""
    scores = table1_scores(runs)
    if sum(value is not None for _, value, _, _ in scores) < 2:
        return []
    rows, numbers = [], []
    for mask, value, paper, label in scores:
        rows.append([mask, fmt(paper), fmt(value), label or DASH])
        numbers.append([mask, paper, value, label])
    header = ["training masks", "paper val mIoU", "your val mIoU", "from run"]
    caption = "Mask quality against segmentation quality (Table I)"
    return ["Table I trains one round on each kind of mask: coarse (no GrabCut), the filled bounding box of "
            "each enhanced mask, enhanced (GrabCut), and the refined masks after one round (so round 2 of a run).",
            Table(header, rows, caption=caption, data=Data("table1", header, numbers, user_columns={2, 3},
                                                           caption=caption))]
