"""``c2fbench report``: results placed among the paper's published ones.

Sections, each present when its inputs are: a summary of the user's own numbers
(:mod:`c2fbench.report.summary`); the leaderboards, image-level WSSS methods of 2019-2025
(:mod:`c2fbench.report.recent`) then the paper's VOC 2012 Table II, with the user's voc-val
(and coco-val) rows inserted in rank order; per-class IoU against the paper's row
(Table III); row-normalised confusion matrices (like Fig. 7); paired differences between
results of one benchmark with bootstrap intervals over images; validation score per training
round, with and without GrabCut refinement (like Fig. 6) and the mask-type comparison of
Table I; MIT Object Discovery (Table IV) with the user's rows; deployment latency across
backends and precisions, with latency against accuracy; last, the files read.
``leaderboard="paper"`` or ``"recent"`` shows one leaderboard alone (default ``"both"``).
"""

from __future__ import annotations

import datetime
import os
from pathlib import Path

from c2fbench import __version__
from c2fbench.atomic import remove_stale_temporaries, staged_folder
from c2fbench.errors import InputError
from c2fbench.files import check_output_apart
from c2fbench.report.cells import DASH, input_is_synthetic, is_synthetic, model_name
from c2fbench.report.document import Document, Figure, Section, Table, to_html, to_markdown
from c2fbench.report.inputs import ReportInput, split_label
from c2fbench.report.latency import deploy_section
from c2fbench.report.mit import mit_section
from c2fbench.report.paired import paired_section
from c2fbench.report.recent import recent_leaderboard_section
from c2fbench.report.latex import LAYOUTS, to_latex
from c2fbench.report.tables import to_csv
from c2fbench.report.training import rounds_section
from c2fbench.report.seeds import cam_sweep_section
from c2fbench.report.summary import summary_section
from c2fbench.report.voc import confusion_section, leaderboard_section, per_class_section
from c2fbench.report.worst import worst_section


LEADERBOARDS = ("paper", "recent", "both")


def build_report(inputs: list[ReportInput], *, title: str = "c2fbench report",
                 supervision: str = "Image-level Labels", leaderboard: str = "both", load_model=None) -> Document:
    """The report's sections: the summary of the user's own numbers first, then the
    leaderboards (recent first), the diagnostics, and the inputs read last. ``load_model``
    runs a result's model again to draw its worst images (:func:`c2fbench.report.worst.worst_section`)."""
    if leaderboard not in LEADERBOARDS:
        raise InputError(f"leaderboard {leaderboard!r}: give one of {', '.join(LEADERBOARDS)}")
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    recent = recent_leaderboard_section(inputs) if leaderboard != "paper" else []
    paper = leaderboard_section(inputs, supervision) if leaderboard != "recent" else []
    boards = [*recent, *paper]
    sections = [*summary_section(inputs, leaderboard=leaderboard, boards=[s.title for s in boards]), *boards,
                *per_class_section(inputs), *confusion_section(inputs), *cam_sweep_section(inputs),
                *worst_section(inputs, load_model=load_model), *paired_section(inputs), *rounds_section(inputs),
                *mit_section(inputs), *deploy_section(inputs), _inputs_section(inputs)]
    seen: dict[str, int] = {}
    for figure in (b for s in sections for b in s.blocks if isinstance(b, Figure)):
        seen[figure.name] = seen.get(figure.name, 0) + 1  # labels that slug alike get -2, -3, ...
        if seen[figure.name] > 1:
            figure.name = f"{figure.name}-{seen[figure.name]}"
    subtitle = (f"c2fbench {__version__}, {stamp}. Published numbers: Jing, Chen and Tian, \"Coarse-to-fine "
                f"Semantic Segmentation from Image-level Labels\" (IEEE TIP), Tables I-IV. All scores in percent.")
    if recent:
        subtitle += (" Recent leaderboard: each method's own README or abstract "
                     "(c2fbench/leaderboard/recent_tables.json).")
    return Document(title, subtitle, sections)


FORMATS = ("md", "html", "csv", "latex")


def parse_formats(text: str) -> tuple[str, ...]:
    """``"md,html,csv"`` as ``("md", "html", "csv")``; an unknown (or empty) one is an InputError."""
    formats = tuple(dict.fromkeys(f.strip().lower() for f in text.split(",")))
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise InputError(f"--format {text!r}: unknown format {unknown[0]!r}; "
                         f"give a comma-separated subset of {','.join(FORMATS)}")
    return formats


def write_report(doc: Document, out: Path, formats: tuple[str, ...] = ("md", "html"), *,
                 latex_layout: str = "column") -> list[Path]:
    """``out/figures/*.png`` and ``out/report.md`` (format md), ``out/report.html`` (html) and
    ``out/tables/<name>.csv`` / ``.tex`` (csv, latex), written as one unit; ``latex_layout``
    sets the .tex files as one-column ``table`` floats or page-wide ``table*`` ones
    (``column`` or ``page``, :mod:`c2fbench.report.latex`).

    The report is built in a staging folder beside ``out`` and then swapped into place
    (:func:`c2fbench.atomic.staged_folder`), so a
    run killed at any moment leaves the old report whole (or no ``out``), never figures
    without their report.html. A folder ``out`` is only replaced if it holds a report and
    nothing else: pointing ``--out`` at an eval folder must not delete its results.
    """
    out = Path(out)
    target = Path(os.path.abspath(out))
    remove_stale_temporaries(target.parent, [target.name])  # staging folders of a run killed while writing here
    check_out(out)
    check_something_to_write(doc, formats)
    if latex_layout not in LAYOUTS:
        raise InputError(f"latex layout {latex_layout!r}: give one of {', '.join(LAYOUTS)}")
    written = []
    with staged_folder(out) as staging:
        if "md" in formats:  # the figures are report.md's; report.html embeds its own copies
            (staging / "figures").mkdir()
            for figure in doc.figures():
                _write(staging / "figures" / f"{figure.name}.png", figure.png)
            _write(staging / "report.md", to_markdown(doc).encode())
            written += [Path("figures") / f"{f.name}.png" for f in doc.figures()] + [Path("report.md")]
        if "html" in formats:
            _write(staging / "report.html", to_html(doc).encode())
            written.append(Path("report.html"))
        renderers = [(suffix, render) for fmt, suffix, render in (
            ("csv", "csv", to_csv), ("latex", "tex", lambda data: to_latex(data, latex_layout)))
                     if fmt in formats]
        if renderers and doc.data_tables():
            (staging / "tables").mkdir()
        for data in doc.data_tables():
            for suffix, render in renderers:
                _write(staging / "tables" / f"{data.name}.{suffix}", render(data).encode())
                written.append(Path("tables") / f"{data.name}.{suffix}")
    return [out / p for p in written]


REPORT_FILES = {"report.md", "report.html", "figures", "tables"}
REPORT_SUFFIXES = {"figures": {".png"}, "tables": {".csv", ".tex"}}


def check_out(out: Path) -> None:
    """Refuse an ``--out`` that is not a folder for a report: a file, the root, or a folder
    that holds anything but an earlier report."""
    if not Path(os.path.abspath(out)).name:
        raise InputError(f"{out}: the root folder cannot hold a report; give --out a folder")
    if not out.exists() and not out.is_symlink():
        return
    if out.is_symlink() or not out.is_dir():
        raise InputError(f"{out}: exists and is not a folder; --out takes a folder for the report")
    others = sorted(p.name for p in out.iterdir() if p.name not in REPORT_FILES)
    for folder, suffixes in REPORT_SUFFIXES.items():
        inner = out / folder
        if inner.is_symlink() or (inner.exists() and not inner.is_dir()):
            others.append(folder)
        elif inner.is_dir():
            others += [f"{folder}/{p.name}" for p in inner.iterdir() if p.suffix not in suffixes or not p.is_file()]
    if others:
        raise InputError(f"{out}: holds files that are not a report's ({', '.join(others[:3])}"
                         f"{', ...' if len(others) > 3 else ''}); give --out a new folder or an earlier report's")


def check_out_apart(out: Path, arguments: list[str], inputs: list[ReportInput] = ()) -> None:
    """Refuse an ``--out`` that is, lies inside or holds a RESULT argument, a results file
    read, or the folder of an eval or training run (whose ``per_image.npz`` or
    ``config.json`` is read too): the report folder is replaced whole
    (:func:`c2fbench.files.check_output_apart`, links followed)."""
    named = [("the result", split_label(argument)[1]) for argument in arguments]
    for item in inputs:
        named.append(("the results file", item.path))
        if item.kind in ("semantic", "foreground", "run"):
            named.append(("the results folder", item.path.parent))
    for name, path in named:
        check_output_apart(out, {name: path})


def check_something_to_write(doc: Document, formats: tuple[str, ...]) -> None:
    """Refuse ``--format csv`` / ``latex`` alone when no section of ``doc`` has a table to
    export (an empty --out would else pass for a report)."""
    if "md" in formats or "html" in formats or doc.data_tables():
        return
    raise InputError(f"--format {','.join(formats)}: none of the results given makes a table for it (tables come "
                     f"from voc-val and mit-* evals, coco-val evals with --leaderboard recent, training runs with "
                     f"Table I's mask types, latency profiles and parity checks); add md or html to --format, or "
                     f"give such a result")


def _write(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:  # the mode open gives: 0666 less the umask
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


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
            where = "synthetic benchmark" if input_is_synthetic(item) else cfg.get("val_root") or DASH
        elif item.kind == "profile":
            what = f"latency profile, {len(data['results'])} backend(s)"
            where = model_name(data)
        else:
            what = f"deploy parity on {data.get('benchmark', '?')}"
            where = model_name(data["deployed"])
        rows.append([item.label, what, where, str(item.path)])
    return Section("Inputs", [Table(["name", "result", "data or model", "file"], rows)])
