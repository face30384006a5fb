"""``c2fbench submit voc-test``: a VOC 2012 test submission for the evaluation server."""

from pathlib import Path

import click

from c2fbench.data.voc import ROOT_FORMS as VOC_ROOT_FORMS


@click.group()
def submit() -> None:
    """Pack predictions for an evaluation server."""


@submit.command("voc-test", epilog="""
\b
Examples:
  c2fbench submit voc-test --data-root ~/data/VOCdevkit --predictions preds/ --out submission.tar.gz

The archive holds results/VOC2012/Segmentation/<comp>_test_cls/<id>.png (the devkit's
layout), one VOC-palette PNG per id of ImageSets/Segmentation/test.txt. Missing or extra
files, a wrong size or a value outside 0..20 (255 included) stop it with one line (exit
status 2), and nothing is written.""")
@click.option("--data-root", type=click.Path(path_type=Path), required=True,
              help=f"{VOC_ROOT_FORMS} (up to two levels above VOC2012), with the test set: test.txt and its "
                   f"JPEGs.")
@click.option("--predictions", type=click.Path(path_type=Path), required=True,
              help="Folder of <id>.png for exactly the test ids (palette or grayscale class indices 0..20).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="The archive to write (a .tar.gz, in an existing folder outside VOC2012 and "
                   "--predictions).")
@click.option("--competition", type=click.Choice(["comp5", "comp6"]), default="comp6", show_default=True,
              help="comp5: trained on VOC data only; comp6: with outside data (ImageNet labels, as here).")
@click.option("--force", is_flag=True, help="Replace --out if it exists (only once the new archive is complete); "
                                           "never an input, with --force or without.")
def voc_test(data_root, predictions, out, competition, force):
    """Check predictions of the VOC 2012 test set and pack them for the evaluation server."""
    from c2fbench.console import plural, progress, success
    from c2fbench.eval.submit import plan_voc_test_submission, write_submission

    plan = plan_voc_test_submission(data_root, predictions, out, competition=competition, force=force)
    with progress(len(plan.ids), "submit voc-test") as advance:
        num_bytes = write_submission(plan, advance=advance)
    success(f"packed {plural(len(plan.ids), 'prediction')} as {plan.folder}/<id>.png into {plan.out} "
            f"({num_bytes / 1e6:.1f} MB); upload it to the PASCAL VOC evaluation server")
