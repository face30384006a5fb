"""``c2fbench demo``: the main job on the embedded synthetic benchmark."""

from pathlib import Path

import click


@click.command()
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("c2fbench-demo"),
              show_default=True, help="Folder for the synthetic data, runs and results (reused when rerun).")
@click.option("--preset", type=click.Choice(["tiny", "demo"]), default="demo", show_default=True,
              help="Size of the synthetic benchmark (tiny: a seconds-long smoke run).")
@click.option("--recipe", default="demo", show_default=True, help="Training recipe (trainers/recipes/NAME.json).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--workers", type=click.IntRange(min=1), default=None, help="Processes for masks and evaluation.")
def demo(out: Path, preset: str, recipe: str, seed: int, workers: int | None) -> None:
    """Synthetic data, coarse masks, GrabCut, 3 rounds of training, evaluation, tables."""
    from c2fbench.parallel import default_workers
    from trainers.demo import run_demo

    run_demo(out, preset=preset, recipe=recipe, seed=seed, workers=workers or default_workers())
