"""``c2fbench demo``: the paper's pipeline on the embedded synthetic benchmark, on a CPU.

1. the synthetic benchmark (``demo`` preset; reused when already there);
2. with ``pretrain``, the backbone pretrained as an image classifier on the ImageNet-format
   images' own labels (the paper's regime: an ImageNet-classification backbone);
3. the recursive trainer with the ``demo`` recipe (light backbone, 3 rounds): coarse
   masks, GrabCut, training, refinement, every round scored on the synthetic VOC val split;
4. the side runs (:class:`SideRuns`; with two or more workers in a second process beside
   step 3): Table I, the same first round trained on the coarse masks themselves and on the
   filled bounding boxes of the enhanced masks (both from the main run's round-0 masks), and
   the Fig. 6 ablation, the same run refining without GrabCut, branched after round 1;
5. a colour-only baseline as the floor;
6. the final model scored with bootstrap intervals, the per-class table, and a summary.

``c2fbench demo`` then deploys the final model (``deploy.demo``) and writes the report.
Each stage is announced as ``[k/N] name`` with the time elapsed and a rough estimate of the
time left (:func:`demo_stages`); the demo ends with its total time and three numbers
(:func:`demo_ending`).
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import Callable

from rich.table import Table

from c2fbench.console import (Stages, duration_text, info, out as stdout, plural, progress, progress_callback,
                              success)

# What each step of `c2fbench demo` took in a timed run (the recipe of the morning of
# 2026-12-07, seed 0, 12 min 7 s alone on 2 AVX2 cores of an AMD EPYC; the breakdown is in
# docs/experiment-log.md), in seconds. Only their proportions are used: the estimate scales
# them by the time this machine took for the stages before (console.Stages). Today's recipe
# (seventh session, AVX-512) spends them in about the same proportions.
DATA_S = 23  # the synthetic benchmark
# GrabCut was timed at 5 iterations; the recipe's 3 take this share of it (docs/experiment-log.md)
GRABCUT_3_OF_5 = 0.72
FIRST_MASKS_S = 2 + 52 * GRABCUT_3_OF_5  # round 0: coarse masks 2 s, the first GrabCut 52 s at 5
TRAIN_S = 60  # one round of training; backbone pretraining (not timed) is taken as one too
PREDICT_S = 14  # predicting the training images between rounds
GRABCUT_S = 28 * GRABCUT_3_OF_5  # GrabCut between rounds, 28 s at 5
VAL_S = 4  # each round's val
# the colour baseline, final eval, deploy (export, INT8 and parity; latency) and report: 30 s
# together, split here by guess
BASELINE_S, EVAL_S, DEPLOY_S, LATENCY_S, REPORT_S = 5, 8, 8, 4, 5
# (first round trained, what comes before it, what comes between rounds) of the two runs of
# several rounds: the branch revalidates round 1, and refines with predictions alone
_STEPS = {"run": (1, FIRST_MASKS_S, PREDICT_S + GRABCUT_S), "branch": (2, VAL_S, PREDICT_S)}
# With the side runs beside the main run (SideRuns), the shares of the four runs' time one after
# the other that the main run took and that the side runs had left when it ended: 274 and 5 of
# about 340 s (seed 0, 2 AVX-512 cores of an AMD EPYC, 2026-12-07, ninth session: the eighth's
# 367 s one after the other less 3 GrabCuts' 2 fewer iterations; docs/experiment-log.md)
BESIDE_RUN, BESIDE_LEFT = 0.80, 0.015


def _synth(data: Path, preset: str, seed: int, workers: int) -> None:
    from c2fbench.data.synth import write_synth
    from trainers.resolve import read_json_object

    stamp = data / "synth.json"  # written last by write_synth, so the data is complete
    done = read_json_object(stamp, "synthetic data stamp") if stamp.is_file() else {}
    if (done.get("preset"), done.get("seed")) == (preset, seed):
        info(f"reusing the synthetic benchmark in {data}")
        return
    with progress_callback("synthetic benchmark") as report:
        write_synth(data, preset=preset, seed=seed, progress=report, workers=workers)


# Backbone pretraining for the demo: epochs of image classification on the 720 of its
# 800 ImageNet-format images not held out (``c2fbench demo --pretrain``; see README).
PRETRAIN_EPOCHS = 8


def _pretrain(cfg, data: Path, out: Path) -> Path:
    """The demo backbone: ``train classifier`` on the images' own labels (skipped when done)."""
    from trainers.classifier import ClassifierConfig, run_classifier

    path = out / "backbone.pt"
    pre = ClassifierConfig(arch=cfg.arch, epochs=PRETRAIN_EPOCHS, resize=cfg.resize, crop=cfg.crop, seed=cfg.seed)
    result = run_classifier(data / "imagenet", path, pre, resume=True, progress=progress, info=info)
    info(f"backbone pretrained on image-level labels: held-out top-1 {result['history'][-1]['top1']:.1f}%")
    return path


def _train(cfg, data: Path, run: Path, workers: int, *, masks_from: Path | None = None,
           parts: tuple[str, ...] = ("coarse", "enhanced"), branch: bool = False, on_epoch_end=lambda r, e: None,
           on_masks=lambda part: None) -> list[dict]:
    """Train (or resume) ``run``; ``masks_from``: a run whose round-0 masks (``parts`` of its
    ``masks/``) to start from; ``branch``: ``run`` is the ablation's branch, announced by
    :func:`branch_message`, not as a resume. ``on_epoch_end``, ``on_masks``: as
    :func:`~trainers.recursive.train_recursive` takes them."""
    from trainers.recursive import train_recursive
    from trainers.rundir import read_log

    resume = (run / "config.json").is_file()
    if resume and not branch:
        info(f"resuming the run in {run}")
    elif masks_from is not None:
        from trainers.branch import copy_run_part

        for part in parts:
            copy_run_part(masks_from, run, f"masks/{part}")
    train_recursive(cfg, images=data / "imagenet", out=run, resume=resume, workers=workers, on_epoch_end=on_epoch_end,
                    on_masks=on_masks)
    lines = read_log(run)
    return [lines[r] for r in sorted(lines)]


def branch_message(branch: Path, source: Path, *, existed: bool) -> str:
    """What the demo says of the Fig. 6 ablation's run: it continues, or it starts from ``source``."""
    if existed:
        return f"the Fig. 6 ablation continues in {branch}"
    return (f"the Fig. 6 ablation starts in {branch} from round 1 of {source} (its masks and model, copied, "
            "not retrained)")


def demo_stages(cfg, *, pretrain: bool, beside: bool = False) -> Stages:
    """The demo's stages, ``deploy`` and ``report`` (run by the command) included, weighted by
    the seconds they took in the README's timed run at ``cfg.rounds`` rounds. ``beside``: the
    side runs train beside the main run (:class:`SideRuns`), so that little of them is left
    when it ends."""
    rounds = cfg.rounds
    later = {1: "nothing to refine in a 1-round recipe", 2: "round 2 refined without GrabCut"}.get(
        rounds, f"rounds 2-{rounds} refined without GrabCut") + (", from the run's round 1" if rounds > 1 else "")
    stages = [("data", "synthetic benchmark", DATA_S)]
    if pretrain and cfg.backbone_weights is None:
        stages.append(("pretrain", "backbone pretrained as an image classifier", TRAIN_S))
    side = {"coarse": TRAIN_S + VAL_S, "boxes": TRAIN_S + VAL_S, "branch": run_weights(rounds, *_STEPS["branch"])[0]}
    run = run_weights(rounds, *_STEPS["run"])[0]
    if beside:
        run, side = (run + sum(side.values())) * BESIDE_RUN, {key: w * BESIDE_LEFT for key, w in side.items()}
    stages += [("run", f"recursive run (coarse masks, GrabCut, {plural(rounds, 'round')} of training)", run),
               ("eval", "final model scored on val with bootstrap intervals", EVAL_S),
               ("deploy", "deploy (ONNX export, INT8 and parity)", DEPLOY_S),
               ("baseline", "colour baseline", BASELINE_S),
               ("coarse", "Table I (one round on the coarse masks)", side["coarse"]),
               ("boxes", "Table I (one round on the filled boxes of the enhanced masks)", side["boxes"]),
               ("branch", f"Fig. 6 ablation ({later})", side["branch"]),
               ("latency", "latency (PyTorch, ONNX Runtime FP32 and INT8)", LATENCY_S),
               ("report", "report", REPORT_S)]
    return Stages(stages)


def run_weights(rounds: int, first: int, before: float, between: float) -> tuple[float, dict[int, float]]:
    """A run's weight (seconds in the timed run), and for each round from ``first`` on the
    weight done when its training ends: ``before`` the first round, then each round's training
    and val, with ``between`` after every round but the last."""
    done, ends = float(before), {}
    for r in range(first, rounds + 1):
        done += TRAIN_S
        ends[r] = done
        done += VAL_S + (between if r < rounds else 0.0)
    return done, ends


def _round_notes(stages: Stages, cfg, key: str):
    """``on_epoch_end`` for the run of stage ``key``: a line when a round but the last is trained."""
    total, ends = run_weights(cfg.rounds, *_STEPS[key])

    def note(r: int, epoch: int) -> None:
        if epoch == cfg.epochs_of(r) and r < cfg.rounds:
            stages.within(ends[r] / total, f"round {r} of {cfg.rounds} trained")

    return note


def demo_ending(stages: Stages, run: Path, deployed: dict) -> str:
    """The demo's last line: its total time, val mIoU after round 1 and after the last round of
    ``run``, and that of the final model as deployed (INT8 when ``deployed`` has it)."""
    from trainers.rundir import read_log

    lines = read_log(run)
    first, last = lines[min(lines)], lines[max(lines)]
    final, precision = (deployed["int8_parity"], "INT8") if "int8_parity" in deployed else (deployed["parity"], "FP32")
    return (f"demo done in {duration_text(stages.elapsed())}: val mIoU {first['val']['mIoU']:.2f} after round 1, "
            f"{last['val']['mIoU']:.2f} after round {last['round']}, {final['deployed'][final['metric']]:.2f} for the "
            f"final model in ONNX Runtime {precision}")


def _colour_baseline(data: Path, out: Path, workers: int) -> dict:
    """Fit on the synthetic VOC train split, predict val into ``out/predictions``, score into ``out/eval``."""
    from c2fbench.baseline import fit_colour_baseline, predict_folder
    from c2fbench.eval.benchmarks import load_benchmark
    from c2fbench.eval.evaluator import evaluate
    from c2fbench.eval.results import write_eval
    from c2fbench.eval.sources import PngPredictions

    bench = load_benchmark("voc-val", data)
    ids = (bench.root / "ImageSets" / "Segmentation" / "train.txt").read_text().split()
    model = fit_colour_baseline(bench.root, ids)
    predict_folder(model, [(s.image, out / "predictions" / f"{s.id}.png") for s in bench.samples],
                   foreground=False, description="colour baseline")
    result = evaluate(bench, PngPredictions(out / "predictions"), workers=workers)
    write_eval(out / "eval", result)
    return result.metrics


def demo_config(out: Path, *, preset: str, seed: int, recipe: str, pretrain: bool, threads: int | None = None):
    """The main run's configuration, checked before anything is written: a foreground or
    unknown recipe, or options other than those ``out`` was made with, are an InputError.
    ``threads`` (``--threads``) overrides the recipe's; it may differ from the folder's."""
    from trainers.resolve import resolve_config

    overrides = {"seed": seed, "val_root": str(out / "data")} | ({} if threads is None else {"threads": threads})
    cfg = resolve_config(recipe=recipe, config=None, overrides=overrides, task="semantic")
    if pretrain and cfg.backbone_weights is None:
        check_rerun(out, cfg.updated(backbone_weights=os.path.abspath(out / "backbone.pt")), preset=preset)
    else:
        check_rerun(out, cfg, preset=preset)
    return cfg


def check_rerun(out: Path, cfg, *, preset: str) -> None:
    """A demo folder is reused only by the options it was made with: other data (--preset,
    --seed) or another configuration (--recipe, --pretrain) would be mixed with its runs."""
    from c2fbench.errors import InputError
    from trainers.resolve import read_json_object
    from trainers.rundir import read_run_config

    if not (out / "run" / "config.json").exists():
        return
    stamp = out / "data" / "synth.json"
    done = read_json_object(stamp, "synthetic data stamp") if stamp.exists() else {}
    if (done.get("preset"), done.get("seed")) != (preset, cfg.seed):
        raise InputError(f"{out}: made with --preset {done.get('preset')} --seed {done.get('seed')} ({stamp}); rerun "
                         "with them to reuse it, or choose another --out")
    stored = read_run_config(out / "run")
    differ = [k for k, v in cfg.to_flat().items() if stored.to_flat()[k] != v and k != "threads"]
    if differ:
        raise InputError(f"{out / 'run'}: trained with other settings ({', '.join(differ)}; see its config.json) "
                         "than this --recipe / --pretrain; rerun with those it was made with, or choose another --out")


def run_demo(out: Path, *, preset: str = "demo", seed: int = 0, workers: int = 2, recipe: str = "demo",
             pretrain: bool = False, threads: int | None = None, stages: Stages | None = None,
             after_run: Callable[[Path], dict] | None = None) -> dict:
    """Everything under ``out``; returns the paths of what it wrote, by name (``data``, ``run``,
    ``run-no-grabcut``, ``run-coarse-masks``, ``run-boxes``, ``colour-baseline``, ``eval``), and
    under ``deployed`` what ``after_run`` returned. ``stages`` (:func:`demo_stages`, made here if
    not given) announces each stage; ``after_run(final.pt)`` (the caller's ``deploy`` stage)
    runs once the main run's final model is scored, and the caller starts ``latency`` and
    ``report``. With two or more ``workers`` the side runs train in another process beside the
    main run (:class:`SideRuns`), and what needs only the main run (the final model's score,
    ``after_run``, the colour baseline) is done while they finish."""
    from c2fbench.eval.benchmarks import load_benchmark
    from c2fbench.eval.evaluator import evaluate
    from c2fbench.eval.results import write_eval
    from c2fbench.eval.sources import ModelPredictions
    from c2fbench.inference import load_torch_runtime
    from c2fbench.report.figures import eval_figures
    from c2fbench.report.terminal import print_metrics

    data = out / "data"
    cfg = demo_config(out, preset=preset, seed=seed, recipe=recipe, pretrain=pretrain, threads=threads)
    stages = demo_stages(cfg, pretrain=pretrain, beside=workers > 1) if stages is None else stages
    stages.start("data")
    _synth(data, preset, seed, workers)
    if pretrain and cfg.backbone_weights is None:
        stages.start("pretrain")
        cfg = cfg.updated(backbone_weights=str(_pretrain(cfg, data, out)))
    stages.start("run")
    with SideRuns(cfg, data, out, workers, notes=lambda key, c: _round_notes(stages, c, key)) as side:
        notes = _round_notes(stages, cfg, "run")

        def on_epoch_end(r: int, epoch: int) -> None:
            notes(r, epoch)
            if r > 1:
                side.ready("round 1")

        rounds = _train(cfg, data, out / "run", workers, on_epoch_end=on_epoch_end, on_masks=side.ready)
        side.ready("round 1")  # a resumed run may train no epoch: whatever is left goes now
        stages.start("eval")
        bench = load_benchmark("voc-val", data)
        source = ModelPredictions(load_torch_runtime(out / "run" / "final.pt"))
        with progress(len(bench.samples), "eval final model") as advance:
            result = evaluate(bench, source, bootstrap=200, advance=advance)
        write_eval(out / "eval-voc-val", result, figures=eval_figures(result))
        print_metrics(result.metrics)
        deployed = None if after_run is None else after_run(out / "run" / "final.pt")
        stages.start("baseline")
        colour = _colour_baseline(data, out / "colour-baseline", workers)
        results = {}
        for key in SideRuns.KEYS:
            stages.start(key)
            results[key] = side.result(key)
    _print_summary(rounds, results["branch"], results["coarse"][0], colour)
    _print_table1(results["coarse"][0], results["boxes"][0], rounds)
    success(f"run directory {out / 'run'} (final.pt, metrics.jsonl, masks/); scores in {out / 'eval-voc-val'}")
    return {"data": data, "run": out / "run", "run-no-grabcut": out / "run-no-grabcut",
            "run-coarse-masks": out / "run-coarse-masks", "run-boxes": out / "run-boxes",
            "colour-baseline": out / "colour-baseline" / "eval", "eval": out / "eval-voc-val", "deployed": deployed}


# The side runs: what each trains, in its folder under the demo's --out
SIDE_FOLDERS = {"coarse": "run-coarse-masks", "boxes": "run-boxes", "branch": "run-no-grabcut"}
SIDE_LABELS = {"coarse": "Table I's round on the coarse masks", "boxes": "Table I's round on the boxes",
               "branch": "the Fig. 6 ablation"}


class SideRuns:
    """The demo's runs that start from the main run's files: Table I's coarse and boxes
    rounds (from its round-0 masks) and the Fig. 6 branch (from its round 1).

    With two or more workers they train one after another in one other process, each as soon
    as the main run's files it starts from are there (:meth:`ready`: the coarse round while
    the main run's GrabCut runs), so that the two processes keep two cores busy; the side
    process writes its lines to ``logs/NAME.log`` under ``--out``. With one worker each
    trains in this process when its result is asked for. Every training runs at the recipe's
    thread count in both cases and its random streams are seeded by its round and epoch
    (trainers/train.py), so the numbers are the same either way
    (tests/cli/test_demo_numerics.py runs the tiny demo both ways).
    """

    KEYS = ("coarse", "boxes", "branch")  # in the order they train
    # what the main run has made, in order: its coarse masks, its GrabCut-enhanced masks, its round 1
    MILESTONES = ("coarse", "enhanced", "round 1")
    NEEDS = {"coarse": "coarse", "boxes": "enhanced", "branch": "round 1"}

    def __init__(self, cfg, data: Path, out: Path, workers: int, *, notes) -> None:
        self.cfg, self.data, self.out, self.workers, self.notes = cfg, data, out, workers, notes
        self.pool = None
        if workers > 1:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            from c2fbench.parallel import exit_with_parent, start_method

            # exit_with_parent: a main process killed outright leaves no side process training on
            self.pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context(start_method()),
                                            initializer=exit_with_parent)
        self.futures: dict = {}

    def __enter__(self) -> "SideRuns":
        return self

    def __exit__(self, kind, error, trace) -> None:
        if self.pool is None:
            return
        if kind is None:
            self.pool.shutdown()
            return
        # the main run failed or was interrupted: stop the side process at once (each of its
        # runs resumes from its last finished epoch on the next `c2fbench demo`)
        self.pool.shutdown(wait=False, cancel_futures=True)
        # the executor's own processes (no public way to stop a running task before Python 3.14)
        for process in list((getattr(self.pool, "_processes", None) or {}).values()):
            process.terminate()

    def ready(self, milestone: str) -> None:
        """The main run has reached ``milestone`` (one of :attr:`MILESTONES`, each implying the
        ones before it). Starts (beside) the runs that can start, in :attr:`KEYS` order."""
        reached = self.MILESTONES.index(milestone)
        for key in self.KEYS:
            if key not in self.futures and self.MILESTONES.index(self.NEEDS[key]) <= reached:
                if key == "branch":
                    existed = (self.out / SIDE_FOLDERS[key] / "config.json").is_file()
                    info(branch_message(self.out / SIDE_FOLDERS[key], self.out / "run", existed=existed))
                if self.pool is None:
                    self.futures[key] = None  # trained by result()
                    continue
                log = self.out / "logs" / f"{SIDE_FOLDERS[key]}.log"
                info(f"{SIDE_LABELS[key]} trains beside the main run (its lines in {log})")
                self.futures[key] = self.pool.submit(side_run, key, self.cfg, self.data, self.out, 1, log)

    def result(self, key: str) -> list[dict]:
        """The metrics lines of side run ``key``: waited for from the side process, or with one
        worker trained here and now."""
        if self.pool is None:
            return side_run(key, self.cfg, self.data, self.out, self.workers, None, notes=self.notes)
        from concurrent.futures.process import BrokenProcessPool

        try:
            lines = self.futures[key].result()
        except BrokenProcessPool:  # killed (out of memory, say): no exception of its own came back
            raise RuntimeError(f"the side process stopped while training {self.out / SIDE_FOLDERS[key]} (killed?); "
                               "rerun the same `c2fbench demo` to resume it, or with --workers 1 to train the "
                               "side runs in this process") from None
        info(f"{SIDE_LABELS[key]}: done beside the main run, val mIoU "
             + ", ".join(f"{line['val']['mIoU']:.2f}" for line in lines) + " by round")
        return lines


def side_run(key: str, cfg, data: Path, out: Path, workers: int, log: Path | None, *, notes=None) -> list[dict]:
    """Train side run ``key`` of :class:`SideRuns` (resumed when started); its metrics lines.
    ``log``: write this process's output there (the side process), else to the terminal."""
    with _output_to(log):
        if key == "coarse":
            # only the coarse masks: the main run's GrabCut may still be making the enhanced ones
            return _train(cfg.updated(rounds=1, enhance_initial=False), data, out / SIDE_FOLDERS[key], workers,
                          masks_from=out / "run", parts=("coarse",))
        if key == "boxes":
            return _train(cfg.updated(rounds=1, initial_boxes=True), data, out / SIDE_FOLDERS[key], workers,
                          masks_from=out / "run")
        from trainers.branch import branch_after_round_one
        from trainers.rundir import read_run_config

        branch = out / SIDE_FOLDERS[key]
        if not (branch / "config.json").is_file():
            branch_after_round_one(out / "run", branch, refine_grabcut=False)
        # the branch's own configuration, at this command's thread count
        branch_cfg = read_run_config(branch).updated(threads=cfg.threads)
        return _train(branch_cfg, data, branch, workers, branch=True,
                      on_epoch_end=(lambda r, e: None) if notes is None else notes("branch", branch_cfg))


@contextlib.contextmanager
def _output_to(log: Path | None):
    """This process's stdout and stderr (file descriptors 1 and 2, so that every writer
    follows) appended to ``log`` while in the block; nothing changes for None."""
    if log is None:
        yield
        return
    log.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    try:
        with open(log, "a") as file:
            os.dup2(file.fileno(), 1)
            os.dup2(file.fileno(), 2)
            try:
                yield
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in saved:
            os.close(fd)


def _print_table1(coarse: dict, boxes: dict, rounds: list[dict]) -> None:
    """Table I's four rows, the demo's beside the paper's."""
    from c2fbench.leaderboard import paper_tables

    paper = {row["mask"]: row["val_mIoU"] for row in paper_tables()["table1_mask_types"]["rows"]}
    mine = {"Coarse Masks": coarse, "Bounding Boxes": boxes, "Enhanced Masks": rounds[0],
            "Refined Masks": rounds[1] if len(rounds) > 1 else None}
    table = Table(title="Table I: one round of training on each kind of mask (val mIoU)", show_edge=False)
    for column in ("training masks", "paper (VOC 2012 val)", "demo (synthetic val)", "mask IoU"):
        table.add_column(column, justify="left" if column == "training masks" else "right")
    for name, line in mine.items():
        table.add_row(name, f"{paper[name]:.1f}", "-" if line is None else f"{line['val']['mIoU']:.2f}",
                      "-" if line is None else _fmt(line["train_masks"].get("iou")))
    stdout.print(table)


def _print_summary(rounds: list[dict], plain: list[dict], coarse: dict, colour: dict) -> None:
    table = Table(title="synthetic voc-val mIoU by round (training-mask IoU with the hidden truth)", show_edge=False)
    for column in ("model", "training masks", "mask IoU", "val mIoU"):
        table.add_column(column, justify="left" if column in ("model", "training masks") else "right")
    table.add_row("colour baseline", "-", "-", f"{colour['mIoU']:.2f}")
    table.add_row("round 1", "coarse (no GrabCut)", _fmt(coarse["train_masks"].get("iou")), f"{coarse['val']['mIoU']:.2f}")
    for line in rounds:
        masks = "coarse + GrabCut" if line["round"] == 1 else f"refined after round {line['round'] - 1}"
        table.add_row(f"round {line['round']}", masks, _fmt(line["train_masks"].get("iou")), f"{line['val']['mIoU']:.2f}")
    for line in plain[1:]:
        table.add_row(f"round {line['round']}", f"predictions of round {line['round'] - 1}, no GrabCut",
                      _fmt(line["train_masks"].get("iou")), f"{line['val']['mIoU']:.2f}")
    stdout.print(table)


def _fmt(value) -> str:
    return "-" if value is None else f"{value:.1f}"
