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
def synth(out: Path, preset: str, seed: int) -> None:
    """Write the synthetic benchmark (VOC, ImageNet and Object Discovery formats)."""
    from c2fbench.console import progress_callback, success
    from c2fbench.data.synth import write_synth

    with progress_callback(f"synth {preset}") as report:
        summary = write_synth(out, preset=preset, seed=seed, progress=report)
    voc, imagenet = summary["voc"], summary["imagenet"]
    success(f"wrote the {preset} synthetic benchmark to {out}: VOC train {voc['train']} / val {voc['val']}, "
            f"ImageNet {imagenet['images']} images, Object Discovery in {out / 'ObjectDiscovery'}")
