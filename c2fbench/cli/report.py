"""``c2fbench report RESULT... --out DIR``: Markdown and self-contained HTML reports."""

from pathlib import Path

import click


@click.command()
@click.argument("results", nargs=-1, required=True, metavar="[LABEL=]RESULT...")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder for report.md, report.html and figures/.")
@click.option("--title", default="c2fbench report", show_default=True)
@click.option("--supervision", default="Image-level Labels", show_default=True,
              help="Supervision type your rows are listed under in the VOC leaderboard.")
def report(results, out, title, supervision):
    """Place results among the paper's published ones (Tables I-IV, Figs. 6-7).

    RESULT is an `eval --out` folder (or its metrics.json), a training run directory, or the
    profile.json / parity.json of `deploy profile` / `deploy parity`. LABEL=RESULT names the
    row (default: the folder's name). Everything is read and checked before anything is written.
    """
    from c2fbench.console import success
    from c2fbench.report.build import build_report, write_report
    from c2fbench.report.inputs import load_inputs

    document = build_report(load_inputs(list(results)), title=title, supervision=supervision)
    write_report(document, out)
    success(f"report: {out / 'report.html'} (Markdown: {out / 'report.md'})")
