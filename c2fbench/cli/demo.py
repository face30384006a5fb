"""``c2fbench demo``: the main job on the embedded synthetic benchmark."""

from pathlib import Path

import click


@click.command()
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("c2fbench-demo"),
              show_default=True, help="Folder for the synthetic data, predictions and results.")
@click.option("--preset", type=click.Choice(["tiny", "demo"]), default="demo", show_default=True,
              help="Size of the synthetic benchmark (tiny: a seconds-long smoke run).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--workers", type=click.IntRange(min=1), default=None, help="Processes for evaluation.")
def demo(out: Path, preset: str, seed: int, workers: int | None) -> None:
    """Generate the synthetic benchmark, predict with a baseline, evaluate, print the tables."""
    from c2fbench.demo import run_demo

    run_demo(out, preset=preset, seed=seed, workers=workers)
