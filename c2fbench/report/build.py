"""``c2fbench report``: results placed among the paper's published ones.

Sections, each present when its inputs are: the inputs; the VOC 2012 leaderboard (Table II)
with the user's voc-val rows inserted in rank order; per-class IoU against the paper's row
(Table III); row-normalised confusion matrices (like Fig. 7); validation score per training
round, with and without GrabCut refinement (like Fig. 6) and the mask-type comparison of
Table I; MIT Object Discovery (Table IV) with the user's rows; deployment latency across
backends and precisions, with latency against accuracy.
"""

from __future__ import annotations

import datetime
from pathlib import Path

import numpy as np

from c2fbench import __version__
from c2fbench.data.atomic import atomic_write_bytes, atomic_write_text
from c2fbench.data.voc import VOC_CLASSES
from c2fbench.leaderboard import paper_tables
from c2fbench.report import figures
from c2fbench.report.document import Document, Figure, Section, Table, slug, to_html, to_markdown
from c2fbench.report.inputs import ReportInput

DASH = "—"
SYNTHETIC_NOTE = ("Rows marked (synthetic) were scored on c2fbench's synthetic benchmark (`c2fbench data synth`), "
                  "not on PASCAL VOC or Object Discovery: their place among published numbers shows the mechanics "
                  "of the comparison, not a comparison.")


def fmt(value, digits: int = 1) -> str:
    return DASH if value is None else f"{value:.{digits}f}"


def signed(value, digits: int = 1) -> str:
    return DASH if value is None else f"{value:+.{digits}f}"


def with_ci(value, ci) -> str:
    return fmt(value) if not ci else f"{fmt(value)} [{ci[0]:.1f}, {ci[1]:.1f}]"


def is_synthetic(metrics: dict) -> bool:
    return bool((metrics.get("data") or {}).get("synthetic"))


def row_name(item: ReportInput) -> str:
    return item.label + (" (synthetic)" if is_synthetic(item.data) else "")


def build_report(inputs: list[ReportInput], *, title: str = "c2fbench report",
                 supervision: str = "Image-level Labels") -> Document:
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    sections = [_inputs_section(inputs), *_voc_leaderboard(inputs, supervision), *_per_class(inputs),
                *_confusion(inputs), *_rounds(inputs), *_mit(inputs), *_deploy(inputs)]
    seen: dict[str, int] = {}
    for figure in (b for s in sections for b in s.blocks if isinstance(b, Figure)):
        seen[figure.name] = seen.get(figure.name, 0) + 1  # labels that slug alike get -2, -3, ...
        if seen[figure.name] > 1:
            figure.name = f"{figure.name}-{seen[figure.name]}"
    subtitle = (f"c2fbench {__version__}, {stamp}. Published numbers: Jing, Chen and Tian, \"Coarse-to-fine "
                f"Semantic Segmentation from Image-level Labels\" (IEEE TIP), Tables I-IV. All scores in percent.")
    return Document(title, subtitle, sections)


def write_report(doc: Document, out: Path) -> list[Path]:
    """``out/figures/*.png``, ``out/report.md``, then ``out/report.html``, each atomically."""
    out = Path(out)
    written = []
    for figure in doc.figures():
        written.append(out / "figures" / f"{figure.name}.png")
        atomic_write_bytes(written[-1], figure.png)
    written.append(out / "report.md")
    atomic_write_text(written[-1], to_markdown(doc))
    written.append(out / "report.html")
    atomic_write_text(written[-1], to_html(doc))
    return written


# --- inputs --------------------------------------------------------------------------------

def _inputs_section(inputs: list[ReportInput]) -> Section:
    rows = []
    for item in inputs:
        data = item.data
        if item.kind in ("semantic", "foreground"):
            what = f"{data['benchmark']} eval, {data.get('num_images', '?')} images"
            where = "synthetic benchmark" if is_synthetic(data) else (data.get("data") or {}).get("root", DASH)
        elif item.kind == "run":
            cfg = data["config"]
            what = f"training run, {len(data['rounds'])} of {cfg.get('rounds', '?')} rounds, {cfg.get('arch', '?')}"
            where = cfg.get("val_root") or DASH
        elif item.kind == "profile":
            what = f"latency profile, {len(data['results'])} backend(s)"
            where = Path((data.get("source") or {}).get("model", DASH)).name
        else:
            what = f"deploy parity on {data.get('benchmark', '?')}"
            where = _model_name(data["deployed"])
        rows.append([item.label, what, where, str(item.path)])
    return Section("Inputs", [Table(["name", "result", "data or model", "file"], rows)])


# --- VOC: Table II, Table III, Fig. 7 -------------------------------------------------------

def _voc_results(inputs: list[ReportInput], benchmark: str | None = None) -> list[ReportInput]:
    return [i for i in inputs if i.kind == "semantic" and list(i.data["classes"]) == list(VOC_CLASSES)
            and (benchmark is None or i.data["benchmark"] == benchmark)]


def _voc_leaderboard(inputs: list[ReportInput], supervision: str) -> list[Section]:
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
    rows, user_rows = [], set()
    for rank, entry in enumerate(entries, 1):
        if entry["user"]:
            user_rows.add(rank - 1)
        rows.append([str(rank), entry["name"], entry["supervision"], entry["venue"],
                     with_ci(entry["val"], entry["ci"]), fmt(entry["test"])])
    blocks = [
        f"Your voc-val results inserted by val mIoU among the methods of the paper's Table II (PASCAL VOC 2012). "
        f"'*' marks methods that implicitly use pixel-level or other extra supervision (the paper's mark); "
        f"'Ours' is Jing et al. Your rows are listed with supervision '{supervision}' (set with --supervision); "
        f"brackets hold bootstrap 95% intervals over images where the eval ran with --bootstrap.",
        Table(["rank", "method", "supervision", "venue", "val mIoU", "test mIoU"], rows, user_rows,
              caption="PASCAL VOC 2012 mIoU (%), ranked by val"),
        Figure("leaderboard-voc", figures.leaderboard_png(
            [{"name": e["name"], "value": e["val"], "supervision": e["supervision"], "user": e["user"]} for e in entries]),
            "VOC 2012 val mIoU of Table II's methods (coloured by supervision) and yours (red)."),
    ]
    if any(is_synthetic(i.data) for i in mine):
        blocks.insert(1, SYNTHETIC_NOTE)
    return [Section("PASCAL VOC 2012 leaderboard (Table II)", blocks)]


def _per_class(inputs: list[ReportInput]) -> list[Section]:
    mine = _voc_results(inputs)
    if not mine:
        return []
    paper = paper_tables()["table3_per_class"]["val"]
    paper_column = [None, *paper["per_class_iou"].values(), paper["mIoU"]]  # background is not printed
    header, columns = ["class", "paper (val)"], [list(map(fmt, paper_column))]
    for item in mine:
        values = [*item.data["per_class_iou"].values(), item.data["mIoU"]]
        header.append(f"{row_name(item)} ({item.data['benchmark']})")
        columns.append([*map(fmt, values[:-1]), with_ci(values[-1], item.data.get("mIoU_ci95"))])
        if item.data["benchmark"] == "voc-val":  # the paper's row is val: compare like with like
            header.append(f"{item.label} − paper")
            columns.append([DASH if v is None or p is None else signed(v - p) for v, p in zip(values, paper_column)])
    names = [*VOC_CLASSES, "mIoU"]
    rows = [[name, *(column[r] for column in columns)] for r, name in enumerate(names)]
    blocks = [
        "Per-class IoU against the paper's Table III (val). The paper does not print background IoU; its mIoU "
        "and the 20 printed classes imply 88.9. Differences are your value minus the paper's, in points.",
        Table(header, rows, {len(rows) - 1}, caption="Per-class IoU (%)"),
        Figure("per-class-voc", figures.per_class_png(
            list(VOC_CLASSES[1:]), {"paper (val)": list(paper["per_class_iou"].values()),
                                    **{row_name(i): list(i.data["per_class_iou"].values())[1:] for i in mine}},
            title="Per-class IoU: the paper's Table III and yours"),
            "Per-class IoU of the 20 object classes, the paper's val row (grey) beside yours."),
    ]
    if any(is_synthetic(i.data) for i in mine):
        blocks.insert(1, SYNTHETIC_NOTE)
    return [Section("Per-class IoU (Table III)", blocks)]


def _confusion(inputs: list[ReportInput]) -> list[Section]:
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


# --- training runs: Fig. 6 and Table I --------------------------------------------------------

def run_variant(config: dict) -> str:
    """How a run made its training masks, in the words of Fig. 6 and Table I."""
    if config.get("enhance_initial") is False:
        return "trained on coarse masks"
    if "refine_grabcut" not in config:
        return "configuration unknown"
    return "refined with GrabCut" if config["refine_grabcut"] else "refined without GrabCut"


def _headline(val: dict) -> tuple[str, float]:
    return ("mIoU", val["mIoU"]) if "mIoU" in val else ("mean J", val["mean_J"])


def _rounds(inputs: list[ReportInput]) -> list[Section]:
    runs = [i for i in inputs if i.kind == "run" and any("val" in line for line in i.data["rounds"])]
    if not runs:
        return []
    blocks = ["Validation score after each training round. The paper's Fig. 6 compares refinement with GrabCut "
              "on the previous round's predictions against using the predictions directly; each line below is "
              "labelled by its run's configuration (refine_grabcut, enhance_initial)."]
    by_metric: dict[tuple, dict] = {}
    for item in runs:
        scored = [line for line in item.data["rounds"] if "val" in line]
        metric, _ = _headline(scored[0]["val"])
        key = (scored[0]["val"]["benchmark"], metric)
        name = f"{item.label} ({run_variant(item.data['config'])})"
        by_metric.setdefault(key, {})[name] = ([l["round"] for l in scored], [_headline(l["val"])[1] for l in scored])
    for (benchmark, metric), lines in by_metric.items():
        blocks.append(Figure(f"rounds-{slug(benchmark)}", figures.rounds_png(
            lines, ylabel=f"{benchmark} {metric} (%)", title=f"{benchmark} {metric} by training round"),
            f"{benchmark} {metric} after each training round, one line per run."))
    every = sorted({line["round"] for item in runs for line in item.data["rounds"]})
    header = ["round"]
    for item in runs:
        header += [f"{item.label} ({run_variant(item.data['config'])}): val", f"{item.label}: mask IoU"]
    rows = []
    for r in every:
        row = [str(r)]
        for item in runs:
            line = next((l for l in item.data["rounds"] if l["round"] == r), None)
            val = line.get("val") if line else None
            row += [fmt(_headline(val)[1], 2) if val else DASH,
                    fmt(((line or {}).get("train_masks") or {}).get("iou"))]
        rows.append(row)
    blocks.append("Mask IoU is the training masks' IoU with the hidden ground truth, known only on synthetic data.")
    blocks.append(Table(header, rows, caption="Validation score (%) and training-mask IoU per round"))
    blocks += _table1(runs)
    return [Section("Training rounds (Fig. 6)", blocks)]


def _table1(runs: list[ReportInput]) -> list:
    """Table I on the user's runs: round 1 on coarse or enhanced masks, round 2 on refined masks."""
    semantic = [i for i in runs if "mIoU" in next(l["val"] for l in i.data["rounds"] if "val" in l)]

    def score(want, r):
        for item in semantic:
            cfg = item.data["config"]
            if want(cfg):
                line = next((l for l in item.data["rounds"] if l["round"] == r and "val" in l), None)
                if line:
                    return line["val"]["mIoU"], item.label
        return None, None

    mine = {"Coarse Masks": score(lambda c: c.get("enhance_initial") is False, 1),
            "Enhanced Masks": score(lambda c: c.get("enhance_initial", True), 1),
            "Refined Masks": score(lambda c: c.get("enhance_initial", True) and c.get("refine_grabcut", True), 2)}
    if sum(v is not None for v, _ in mine.values()) < 2:
        return []
    rows = []
    for entry in paper_tables()["table1_mask_types"]["rows"]:
        value, label = mine.get(entry["mask"], (None, None))
        rows.append([entry["mask"], fmt(entry["val_mIoU"]), fmt(value), label or DASH])
    return ["Table I trains one round on each kind of mask: coarse (no GrabCut), enhanced (GrabCut), and the "
            "refined masks after one round (so round 2 of a run). c2fbench does not train on bounding boxes.",
            Table(["training masks", "paper val mIoU", "your val mIoU", "from run"], rows,
                  caption="Mask quality against segmentation quality (Table I)")]


# --- MIT Object Discovery: Table IV ---------------------------------------------------------

def _mit(inputs: list[ReportInput]) -> list[Section]:
    mine = [i for i in inputs if i.kind == "foreground" and i.data["benchmark"] in ("mit-subset", "mit-full")]
    if not mine:
        return []
    table4 = paper_tables()["table4_mit"]
    classes = ["Airplane", "Car", "Horse"]
    blocks = ["Foreground IoU J per class and its average, inserted into the paper's Table IV (ranked by average). "
              "'*' marks methods trained with pixel-level annotations; 'Jing et al.' are the paper's own rows. "
              "Brackets hold bootstrap 95% intervals where the eval ran with --bootstrap."]
    if any(is_synthetic(i.data) for i in mine):
        blocks.append(SYNTHETIC_NOTE)
    for part, benchmark in (("subset", "mit-subset"), ("full", "mit-full")):
        users = [i for i in mine if i.data["benchmark"] == benchmark]
        if not users:
            continue
        entries = [{"name": r["method"] + ("*" if r["pixel_supervision"] else "") + (" (Jing et al.)" if r["ours"] else ""),
                    "values": [r[part][c] for c in classes], "average": r[part]["Average"], "user": False, "ci": None}
                   for r in table4["rows"] if r[part]["Average"] is not None]
        entries += [{"name": row_name(i), "values": [i.data["per_class"][c]["J"] for c in classes],
                     "average": i.data["mean_J"], "user": True, "ci": i.data.get("mean_J_ci95")} for i in users]
        entries.sort(key=lambda e: -e["average"])
        rows = [[str(k), e["name"], *map(fmt, e["values"]), with_ci(e["average"], e["ci"])]
                for k, e in enumerate(entries, 1)]
        user_rows = {k for k, e in enumerate(entries) if e["user"]}
        blocks.append(Table(["rank", "method", *classes, "average J"], rows, user_rows,
                            caption=f"MIT Object Discovery, {part} ({benchmark}), J (%)"))
        dfpn = next(r for r in table4["rows"] if r["method"] == "DFPN")
        blocks.append(Figure(f"mit-{part}", figures.per_class_png(
            classes, {"DFPN (paper)": [dfpn[part][c] for c in classes],
                      **{row_name(i): [i.data["per_class"][c]["J"] for c in classes] for i in users}},
            ylabel="J (%)", title=f"Object Discovery {part}: J per class"),
            f"J per class on the {part} folders: the paper's DFPN (grey) beside yours."))
        p_rows = [[row_name(i), *(fmt(i.data["per_class"][c]["P"]) for c in classes), fmt(i.data["mean_P"])]
                  for i in users]
        blocks.append(Table(["your result", *classes, "mean P"], p_rows, set(range(len(p_rows))),
                            caption=f"Pixel accuracy P (%), {part} (Table IV does not print P)"))
    return [Section("MIT Object Discovery (Table IV)", blocks)]


# --- deployment ----------------------------------------------------------------------------

def _accuracy_by_model(inputs: list[ReportInput]) -> dict[str, tuple[str, float, str]]:
    """sha256 of a model file -> (metric, value, benchmark) from the evals and parity checks given."""
    found = {}

    def add(metrics: dict):
        sha = (metrics.get("source") or {}).get("sha256")
        if sha and sha not in found:
            metric, value = _headline(metrics)
            found[sha] = (metric, value, metrics["benchmark"])

    for item in inputs:
        if item.kind in ("semantic", "foreground"):
            add(item.data)
        elif item.kind == "parity":
            add(item.data["reference"])
            add(item.data["deployed"])
    return found


def _model_name(metrics: dict) -> str:
    return Path((metrics.get("source") or {}).get("model", DASH)).name


def _deploy(inputs: list[ReportInput]) -> list[Section]:
    profiles = [i for i in inputs if i.kind == "profile"]
    parities = [i for i in inputs if i.kind == "parity"]
    if not profiles and not parities:
        return []
    blocks = []
    if profiles:
        accuracy = _accuracy_by_model(inputs)
        rows, points = [], {}
        for item in profiles:
            source = item.data.get("source") or {}
            model = Path(source.get("model", item.label)).name
            score = accuracy.get(source.get("sha256"))
            torch_ms = {tuple(e["shape"]): e["median_ms"] for e in item.data["results"] if e["backend"] == "torch"}
            for e in item.data["results"]:
                base = torch_ms.get(tuple(e["shape"]))
                speedup = f"{base / e['median_ms']:.2f}x" if base and e["median_ms"] > 0 else DASH
                rows.append([model, e["backend"], e["precision"], "x".join(map(str, e["shape"])),
                             str(e.get("threads", DASH)), e.get("device", DASH), fmt(e["median_ms"], 2),
                             fmt(e.get("p90_ms"), 2), fmt(e["throughput_ips"], 1), speedup,
                             f"{score[1]:.2f} ({score[2]} {score[0]})" if score else DASH])
                if score:
                    points.setdefault((score[2], score[0]), []).append(
                        {"name": f"{model} {e['backend']} {e['precision']} {'x'.join(map(str, e['shape'][2:]))}",
                         "ms": e["median_ms"], "score": score[1]})
        blocks += ["Median host latency per batch from `c2fbench deploy profile`; speed-up is against PyTorch eager "
                   "in the same profile at the same shape. Accuracy is that of the profiled model file, matched by "
                   "its sha256 to the eval and parity results given to this report (a checkpoint's score also "
                   "stands for its FP32 export, whose parity `deploy parity` checks).",
                   Table(["model", "backend", "precision", "shape", "threads", "device", "median ms", "p90 ms",
                          "images/s", "vs torch", "accuracy"], rows, caption="Latency across backends and precisions")]
        for (benchmark, metric), pts in points.items():
            blocks.append(Figure(f"latency-{slug(benchmark)}-{slug(metric)}", figures.latency_accuracy_png(
                pts, ylabel=f"{benchmark} {metric} (%)"),
                f"Median latency against {benchmark} {metric}: up and to the left is better."))
        if not points:
            blocks.append("No eval or parity result given here shares a model file with the profiles, so there is "
                          "no latency-against-accuracy plot: add the eval of the profiled model.")
    if parities:
        rows = []
        for item in parities:
            d = item.data
            (_, ref), (_, dep) = _headline(d["reference"]), _headline(d["deployed"])
            logits = d.get("logits") or {}
            rows.append([item.label, d.get("benchmark", DASH), _model_name(d["reference"]), _model_name(d["deployed"]),
                         f"{ref:.2f}", f"{dep:.2f}", signed(dep - ref, 2), fmt(d.get("tolerance"), 2),
                         fmt(logits["argmax_agreement"], 2) if "argmax_agreement" in logits else DASH])
        blocks.append(Table(["parity", "benchmark", "reference", "deployed", "reference score", "deployed score",
                             "difference", "tolerance", "argmax agreement %"], rows,
                            caption="Accuracy of the deployed model against its checkpoint"))
    return [Section("Deployment", blocks)]
