"""``c2fbench report RESULT... --out DIR``: Markdown and self-contained HTML reports."""

from functools import partial
from pathlib import Path

import click

EPILOG = """\b
Examples:
  c2fbench report ours=runs/eval-voc baseline=runs/eval-colour runs/train-a --out report
  c2fbench report runs/eval-mit deploy/profile.json deploy/parity.json --out report --title "Nightly"
  c2fbench report ours=runs/eval-voc --out report --format md,html,csv,latex
  c2fbench report ours=runs/eval-voc --out report --format latex --latex-layout page
  c2fbench report voc=runs/eval-voc coco=runs/eval-coco --out report --leaderboard both

A RESULT's own files are read, checked field by field, and refused with one line naming the
file and the key if anything is malformed (exit status 2). The report folder is written as a
unit: an earlier report in --out is replaced only once the new one is complete, and a folder
holding anything other than a report is refused rather than overwritten."""


@click.command(epilog=EPILOG)
@click.argument("results", nargs=-1, required=True, metavar="[LABEL=]RESULT...")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder for report.md, report.html and figures/ (new, or an earlier report to replace; apart "
                   "from every RESULT and its folder).")
@click.option("--title", default="c2fbench report", show_default=True,
              help="Title at the top of report.md and report.html.")
@click.option("--supervision", default="Image-level Labels", show_default=True,
              help="Supervision type your rows are listed under in the VOC leaderboard.")
@click.option("--format", "formats", default="md,html", show_default=True, metavar="FORMATS",
              help="Comma-separated subset of md,html,csv,latex: csv and latex write tables/<name>.csv and "
                   ".tex (leaderboard, leaderboard_recent, per_class, table1, table4_*, latency, parity), numbers "
                   "with 2 decimals (in LaTeX, published ones as printed), your rows marked; csv or latex alone "
                   "for results that make none of these tables is refused (exit status 2, nothing written). A "
                   "CSV text cell starting with =, +, -, @, tab or carriage return gets a ' before it, so that no "
                   "spreadsheet runs it as a formula.")
@click.option("--latex-layout", type=click.Choice(["column", "page"]), default="column", show_default=True,
              help="How --format latex sets each table: a table float that fits one column of a two-column "
                   "paper, or a table* float across the page; both booktabs (needs booktabs and graphicx).")
@click.option("--leaderboard", type=click.Choice(["paper", "recent", "both"]), default="both", show_default=True,
              help="Which published leaderboard your voc-val (and coco-val) rows are placed in: the paper's "
                   "Table II, image-level WSSS methods of 2019-2025 (VOC val/test, COCO val; each number from "
                   "the method's own README or abstract), or both (the recent one first).")
def report(results, out, title, supervision, formats, latex_layout, leaderboard):
    """Place results among the paper's published ones (Tables I-IV, Figs. 6-7).

    RESULT is an `eval --out` folder (or its metrics.json), a training run directory, or the
    profile.json / parity.json of `deploy profile` / `deploy parity`. LABEL=RESULT names the
    row (default: the folder's name). Everything is read and checked before anything is written.
    """
    from c2fbench.console import success
    from c2fbench.report.build import build_report, check_out, check_out_apart, parse_formats, write_report
    from c2fbench.report.inputs import load_inputs

    formats = parse_formats(formats)
    check_out_apart(out, list(results))
    check_out(out)  # before the work, not after it
    inputs = load_inputs(list(results))
    check_out_apart(out, list(results), inputs)  # the files read, and the folders beside them
    from deploy.runtimes import load_runtime

    document = build_report(inputs, title=title, supervision=supervision, leaderboard=leaderboard,
                            load_model=partial(load_runtime, device="cpu"))  # to draw a model's worst images
    written = write_report(document, out, formats, latex_layout=latex_layout)
    if formats == ("md", "html"):
        success(f"report: {out / 'report.html'} (Markdown: {out / 'report.md'})")
    else:
        tables = sum(p.parent.name == "tables" for p in written)
        success(f"report: {out} ({', '.join(formats)}; {tables} table file(s) in {out / 'tables'})")
