"""``c2fbench data``: datasets."""

from pathlib import Path

import click


@click.group()
def data() -> None:
    """Generate and inspect datasets."""


@data.command("synth", epilog="""
\b
Examples:
  c2fbench data synth --out DATA --preset tiny
  c2fbench data synth --out DATA --seed 1
""")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder to write VOCdevkit/, imagenet/ and ObjectDiscovery/ into.")
@click.option("--preset", type=click.Choice(["tiny", "demo"]), default="demo", show_default=True,
              help="tiny: seconds, for tests; demo: enough for the pipeline to learn on a CPU.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of every generated image, mask and split (the same seed writes the same files).")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Processes rendering the scenes (default: the CPUs this process may use; same files for any).")
def synth(out: Path, preset: str, seed: int, workers: int | None) -> None:
    """Write the synthetic benchmark (VOC, ImageNet and Object Discovery formats)."""
    from c2fbench.console import progress_callback, success
    from c2fbench.data.synth import write_synth
    from c2fbench.parallel import default_workers

    with progress_callback(f"synth {preset}") as report:
        summary = write_synth(out, preset=preset, seed=seed, progress=report, workers=workers or default_workers())
    voc, imagenet = summary["voc"], summary["imagenet"]
    success(f"wrote the {preset} synthetic benchmark to {out}: VOC train {voc['train']} / val {voc['val']}, "
            f"ImageNet {imagenet['images']} images, Object Discovery in {out / 'ObjectDiscovery'}")


@data.command("coco-labels", epilog="""
\b
Examples:
  c2fbench data coco-labels --annotations annotations/instances_val2014.json --images val2014 \\
      --out COCO/SegmentationClass/val2014
  c2fbench eval coco-val --data-root COCO --predictions PRED
""")
@click.option("--annotations", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="COCO 2014 instances file (annotations/instances_val2014.json).")
@click.option("--images", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="The images those annotations describe (val2014/); each is checked to exist at its size.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder for <id>.png label maps, ids.txt and coco_labels.json (new, or an unfinished run's: "
                   "resumed with the same file and rules, else replaced). For eval coco-val: "
                   "DATA/SegmentationClass/val2014.")
@click.option("--crowd", type=click.Choice(["class", "void"]), default="class", show_default=True,
              help="Crowd regions (iscrowd 1): labelled with their class (coco2voc's rule), or void (255, not "
                   "scored) where no other instance lies.")
@click.option("--empty", type=click.Choice(["skip", "background"]), default="skip", show_default=True,
              help="Images without annotations: left out (coco2voc's rule: 40,137 of val2014's 40,504) or "
                   "written as background.")
def coco_labels(annotations: Path, images: Path, out: Path, crowd: str, empty: str) -> None:
    """Write COCO 2014 semantic label maps (81 classes, background 0) from instance annotations.

    Category ids 1..90 become indices 1..80 in id order. Where instances overlap, the
    smaller one (by its annotated area) keeps the pixel: coco2voc's rule, the converter that
    published WSSS code (ToCo, WeCLIP) points to. Every annotation is checked before the
    first label is written: polygon coordinates within one image width (x) or height (y)
    of the image, RLE sizes equal to the image's and run lengths that tile it. Resumable:
    rerun the same command after an interruption and the labels already written are kept.
    """
    from c2fbench.console import progress_callback, success
    from c2fbench.data.coco_labels import write_coco_labels

    with progress_callback("coco-labels") as report:
        summary = write_coco_labels(annotations, images, out, crowd=crowd, empty=empty, progress=report)
    resumed = f", {summary['resumed']} kept from an earlier run" if summary["resumed"] else ""
    if summary["replaced"]:
        resumed += f", {summary['replaced']} of an unfinished conversion of another file or rule replaced"
    success(f"wrote {summary['labels']} COCO label maps to {out} ({summary['without_annotations']} images without "
            f"annotations {'left out' if empty == 'skip' else 'as background'}{resumed})")
