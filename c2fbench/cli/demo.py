"""``c2fbench demo``: the main job on the embedded synthetic benchmark, ending in a report."""

from functools import partial
from pathlib import Path

import click

from c2fbench.cli.train import THREADS_OPTION


@click.command()
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("c2fbench-demo"),
              show_default=True, help="Folder for the synthetic data, runs and results (reused when rerun).")
@click.option("--preset", type=click.Choice(["tiny", "demo"]), default="demo", show_default=True,
              help="Size of the synthetic benchmark (tiny: a seconds-long smoke run).")
@click.option("--recipe", default="demo", show_default=True, help="Training recipe (trainers/recipes/NAME.json).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the synthetic data and the runs.")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Processes for masks and evaluation; from 2 on, the side runs (Table I, Fig. 6 ablation) "
                   "train in one of them beside the main run.  [default: the CPUs this process may use]")
@THREADS_OPTION
@click.option("--pretrain", is_flag=True,
              help="First pretrain the backbone as an image classifier on the images' own labels "
                   "(see docs/training.md).")
def demo(out: Path, preset: str, recipe: str, seed: int, workers: int | None, threads: int | None,
         pretrain: bool) -> None:
    """Synthetic data, coarse masks, GrabCut, the recipe's rounds of training (demo: 3; with and
    without GrabCut refinement), evaluation, ONNX export, parity and latency, and a report.

    \b
    Examples:
      c2fbench demo --out c2fbench-demo
      c2fbench demo --out /tmp/smoke --preset tiny --recipe tiny
    """
    from c2fbench.console import info, success
    from c2fbench.eval.benchmarks import load_benchmark
    from c2fbench.parallel import default_workers
    from c2fbench.report.build import build_report, write_report
    from c2fbench.report.inputs import load_inputs
    from c2fbench.numerics import numerics, numerics_line
    from c2fbench.threads import set_threads
    from deploy.demo import export_and_check, profile_deployed
    from deploy.runtimes import load_runtime
    from trainers.demo import demo_config, demo_ending, demo_stages, run_demo

    # an unknown or foreground recipe, or a folder made with other options: one error line,
    # before anything is printed or written
    from c2fbench.files import check_out_folder

    check_out_folder(out)
    cfg = demo_config(out, preset=preset, seed=seed, recipe=recipe, pretrain=pretrain, threads=threads)
    set_threads(cfg.threads)
    workers = workers or default_workers()
    info(numerics_line(numerics(workers=workers)))  # first: what decides every number below
    # "[k/N] name" lines with a rough estimate of the time left
    stages = demo_stages(cfg, pretrain=pretrain, beside=workers > 1)

    def deploy(final: Path) -> dict:  # while the side runs finish: the files and their parity
        stages.start("deploy")
        return export_and_check(final, out / "deploy", load_benchmark("voc-val", out / "data"),
                                calib_images=out / "data" / "imagenet" / "train")

    paths = run_demo(out, preset=preset, recipe=recipe, seed=seed, workers=workers, pretrain=pretrain,
                     threads=threads, stages=stages, after_run=deploy)
    stages.start("latency")  # once the side runs are done, on cores no training shares
    deployed = profile_deployed(paths["deployed"], paths["run"] / "final.pt", out / "deploy")
    stages.start("report")
    inputs = load_inputs([f"final model={paths['eval']}", f"colour baseline={paths['colour-baseline']}",
                          f"recursive={paths['run']}", f"ablation={paths['run-no-grabcut']}",
                          f"Table I coarse={paths['run-coarse-masks']}",
                          f"Table I boxes={paths['run-boxes']}", f"deploy={out / 'deploy'}",
                          f"deploy INT8={out / 'deploy' / 'int8'}"])
    write_report(build_report(inputs, title="c2fbench demo (synthetic benchmark)",
                              load_model=partial(load_runtime, device="cpu")), out / "report")
    success(f"report: {(out / 'report' / 'report.html').resolve()}")
    success(demo_ending(stages, paths["run"], deployed))  # the total time and three headline numbers
