"""``c2fbench demo``: the paper's pipeline on the embedded synthetic benchmark, on a CPU.

1. the synthetic benchmark (``demo`` preset; reused when already there);
2. the recursive trainer with the ``demo`` recipe (light backbone, 3 rounds): coarse
   masks, GrabCut, training, refinement, every round scored on the synthetic VOC val split;
3. the Table I comparison: the same first round trained on the coarse masks themselves;
4. a colour-only baseline as the floor;
5. the final model scored with bootstrap intervals, the per-class table, and a summary.
"""

from __future__ import annotations

import json
from pathlib import Path

from rich.table import Table

from c2fbench.console import info, out as stdout, progress, progress_callback, success


def _synth(data: Path, preset: str, seed: int) -> None:
    from c2fbench.data.synth import write_synth

    stamp = data / "synth.json"  # written last by write_synth, so the data is complete
    done = json.loads(stamp.read_text()) if stamp.is_file() else {}
    if (done.get("preset"), done.get("seed")) == (preset, seed):
        info(f"reusing the synthetic benchmark in {data}")
        return
    with progress_callback("synthetic benchmark") as report:
        write_synth(data, preset=preset, seed=seed, progress=report)


def _train(cfg, data: Path, run: Path, workers: int) -> list[dict]:
    from trainers.recursive import train_recursive

    resume = (run / "config.json").is_file()
    if resume:
        info(f"resuming the run in {run}")
    train_recursive(cfg, images=data / "imagenet", out=run, resume=resume, workers=workers)
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def _colour_baseline(data: Path, out: Path, workers: int) -> dict:
    from c2fbench.baseline import fit_colour_baseline, predict_folder
    from c2fbench.benchmarks import load_benchmark
    from c2fbench.evaluator import PngPredictions, evaluate

    bench = load_benchmark("voc-val", data)
    ids = (bench.root / "ImageSets" / "Segmentation" / "train.txt").read_text().split()
    model = fit_colour_baseline(bench.root, ids)
    predict_folder(model, [(s.image, out / f"{s.id}.png") for s in bench.samples], foreground=False,
                   description="colour baseline")
    return evaluate(bench, PngPredictions(out), workers=workers).metrics


def run_demo(out: Path, *, preset: str = "demo", seed: int = 0, workers: int = 2, recipe: str = "demo") -> Path:
    """Everything under ``out``; returns the main run directory."""
    from dataclasses import replace

    from c2fbench.benchmarks import load_benchmark
    from c2fbench.evaluator import evaluate
    from c2fbench.inference import ModelPredictions, load_torch_runtime
    from c2fbench.report.terminal import print_metrics
    from c2fbench.results import write_eval
    from trainers.config import resolve_config

    data = out / "data"
    _synth(data, preset, seed)
    cfg = resolve_config(recipe=recipe, config=None, overrides={"seed": seed, "val_root": str(data)})
    rounds = _train(cfg, data, out / "run", workers)
    coarse = _train(replace(cfg, rounds=1, enhance_initial=False), data, out / "run-coarse-masks", workers)
    colour = _colour_baseline(data, out / "colour-baseline", workers)

    bench = load_benchmark("voc-val", data)
    source = ModelPredictions(load_torch_runtime(out / "run" / "final.pt"))
    with progress(len(bench.samples), "eval final model") as advance:
        result = evaluate(bench, source, bootstrap=200, advance=advance)
    write_eval(out / "eval-voc-val", result)
    print_metrics(result.metrics)
    _print_summary(rounds, coarse[0], colour)
    success(f"run directory {out / 'run'} (final.pt, metrics.jsonl, masks/); scores in {out / 'eval-voc-val'}")
    return out / "run"


def _print_summary(rounds: list[dict], coarse: dict, colour: dict) -> None:
    table = Table(title="synthetic voc-val mIoU by round (training-mask IoU with the hidden truth)", show_edge=False)
    for column in ("model", "training masks", "mask IoU", "val mIoU"):
        table.add_column(column, justify="left" if column in ("model", "training masks") else "right")
    table.add_row("colour baseline", "-", "-", f"{colour['mIoU']:.2f}")
    table.add_row("round 1", "coarse (no GrabCut)", _fmt(coarse["train_masks"].get("iou")), f"{coarse['val']['mIoU']:.2f}")
    for line in rounds:
        masks = "coarse + GrabCut" if line["round"] == 1 else f"refined after round {line['round'] - 1}"
        table.add_row(f"round {line['round']}", masks, _fmt(line["train_masks"].get("iou")), f"{line['val']['mIoU']:.2f}")
    stdout.print(table)


def _fmt(value) -> str:
    return "-" if value is None else f"{value:.1f}"
