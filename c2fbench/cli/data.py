"""``c2fbench data``: datasets."""

from pathlib import Path

import click


@click.group()
def data() -> None:
    """Generate and inspect datasets."""


@data.command("synth")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder to write VOCdevkit/, imagenet/ and ObjectDiscovery/ into.")
@click.option("--preset", type=click.Choice(["tiny", "demo"]), default="demo", show_default=True,
              help="tiny: seconds, for tests; demo: enough for the pipeline to learn on a CPU.")
@click.option("--seed", type=int, default=0, show_default=True)
def synth(out: Path, preset: str, seed: int) -> None:
    """Write the synthetic benchmark (VOC, ImageNet and Object Discovery formats)."""
    from c2fbench.console import progress, success
    from c2fbench.data.synth import PRESETS, write_synth

    with progress(PRESETS[preset].total_images, f"synth {preset}") as advance:
        done = {"n": 0}

        def report(n_done: int, n_total: int) -> None:
            advance(n_done - done["n"])
            done["n"] = n_done

        summary = write_synth(out, preset=preset, seed=seed, progress=report)
    success(f"wrote the {preset} synthetic benchmark to {out} ({summary})")
