"""``c2fbench report``: results placed among the paper's published ones.

Sections, each present when its inputs are: the inputs; the VOC 2012 leaderboard (Table II)
with the user's voc-val rows inserted in rank order; per-class IoU against the paper's row
(Table III); row-normalised confusion matrices (like Fig. 7); paired differences between
results of one benchmark with bootstrap intervals over images; validation score per training
round, with and without GrabCut refinement (like Fig. 6) and the mask-type comparison of
Table I; MIT Object Discovery (Table IV) with the user's rows; deployment latency across
backends and precisions, with latency against accuracy.
"""

from __future__ import annotations

import datetime
from pathlib import Path

from c2fbench import __version__
from c2fbench.data.atomic import atomic_write_bytes, atomic_write_text
from c2fbench.report.cells import DASH, is_synthetic, model_name
from c2fbench.report.document import Document, Figure, Section, Table, to_html, to_markdown
from c2fbench.report.inputs import ReportInput
from c2fbench.report.latency import deploy_section
from c2fbench.report.mit import mit_section
from c2fbench.report.paired import paired_section
from c2fbench.report.training import rounds_section
from c2fbench.report.voc import confusion_section, leaderboard_section, per_class_section


def build_report(inputs: list[ReportInput], *, title: str = "c2fbench report",
                 supervision: str = "Image-level Labels") -> Document:
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    sections = [_inputs_section(inputs), *leaderboard_section(inputs, supervision), *per_class_section(inputs),
                *confusion_section(inputs), *paired_section(inputs), *rounds_section(inputs), *mit_section(inputs),
                *deploy_section(inputs)]
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
            where = model_name(data["deployed"])
        rows.append([item.label, what, where, str(item.path)])
    return Section("Inputs", [Table(["name", "result", "data or model", "file"], rows)])
