"""The recursive coarse-to-fine loop (Algorithm 1).

    round 0   coarse masks -> GrabCut -> label maps                 (lines 1-2)
    round r   train on round r-1's masks (line 4), predict every training image (line 5),
              refine with strategies (a), (b), (c) into round r's masks (lines 6-7)

The steps live beside this file: trainers/round_masks.py (the masks of every round),
trainers/train.py (training a round), trainers/stats.py (what a round logs). Run directory
(DESIGN.md): ``config.json``, ``masks/round-00/`` ..., ``round-XX/model.pt``,
``metrics.jsonl`` (one line per round), ``final.pt``. Every step is skipped when its
outputs exist, and an interrupted round resumes from its last finished epoch
(``round-XX/last.pt``), so ``--resume`` reaches the same final weights as a straight run.
"""

from __future__ import annotations

import contextlib
import shutil
from pathlib import Path
from typing import Callable

import torch

from c2fbench.console import info, warn
from c2fbench.atomic import atomic_write_text
from c2fbench.errors import InputError
from c2fbench.masks.record import shard_lock
from c2fbench.masks.runner import Shard
from c2fbench.models.checkpoint import load_checkpoint
from c2fbench.numerics import numerics, numerics_line
from c2fbench.threads import set_threads
from trainers.config import TrainConfig, absolute_paths
from trainers.distributed import barrier, init_distributed
from trainers.preflight import check_before_start
from trainers.round_masks import initial_masks, leave_out_failed, predict_all, refine_all
from trainers.run import Run
from trainers.rundir import read_log, read_run_config, resume_config
from trainers.stats import mask_stats, prediction_stats, validate
from trainers.train import train_model


def train_recursive(cfg: TrainConfig | None, *, images: Path, out: Path, resume: bool = False, workers: int = 1,
                    device: str | None = None, on_epoch_end: Callable[[int, int], None] = lambda r, e: None,
                    on_masks: Callable[[str], None] = lambda part: None, say_numerics: bool = False) -> dict:
    """Run (or resume) Algorithm 1; returns the last round's metrics line.

    ``images`` is an ImageNet-format folder (semantic task: each image's category is its
    folder's VOC class) or any image folder (foreground task). With ``resume``, ``cfg`` None
    means the run's own configuration; a given ``cfg`` may differ from it only in what
    ``trainers.rundir.RESUMABLE`` allows (more rounds). Every input is checked before
    ``out`` is written (trainers/preflight.py). ``on_epoch_end(round, epoch)`` follows each
    epoch, ``on_masks(part)`` each of the round-0 mask folders ``coarse`` and ``enhanced`` once
    complete (resumed or made). ``say_numerics``: print what decides the floats
    (c2fbench/numerics.py) once the inputs are checked; it is logged either way.
    """
    out = Path(out)
    run = _start(_configuration(cfg, out, resume), images=Path(images), out=out, resume=resume, device=device,
                 workers=workers)
    set_threads(run.cfg.threads)
    run.numerics = numerics(workers=workers)
    before = set(out.iterdir()) if out.is_dir() else None  # what a failed start must leave
    out.mkdir(parents=True, exist_ok=True)
    with _run_lock(run):  # one process per rank writes a run: a second --resume is refused
        if say_numerics and run.dist.is_main:
            info(numerics_line(run.numerics))
        if run.dist.is_main:
            atomic_write_text(out / "config.json", run.cfg.to_json(run.numerics))
        try:
            initial_masks(run, on_masks=on_masks)
            line = run_round(run, 1, on_epoch_end=on_epoch_end)
        except InputError as e:
            # a fresh start whose input fails before round 1 is trained (every image unreadable,
            # every mask dropped) leaves --out as it was, so that the same command with good
            # input starts normally instead of finding "a run" there
            if not resume and run.dist.is_main and not run.model_path(1).exists():
                _remove_started(out, before)
                raise InputError(f"{e} (this start is undone: {out} is left as it was)") from None
            raise
        for r in range(2, run.cfg.rounds + 1):
            line = run_round(run, r, on_epoch_end=on_epoch_end)
        if run.dist.is_main:
            shutil.copyfile(run.model_path(run.cfg.rounds), out / ".final.pt.tmp")
            (out / ".final.pt.tmp").replace(out / "final.pt")
        barrier(run.dist)
        return line


def run_round(run: Run, r: int, *, on_epoch_end: Callable[[int, int], None]) -> dict:
    """Round ``r`` of Algorithm 1: train on round ``r - 1``'s masks, then (but in the last
    round) predict every training image and refine the predictions into round ``r``'s masks;
    score the model on the validation set; log. A finished step is not done again."""
    leave_out_failed(run, r - 1)
    logged = read_log(run.out).get(r)
    if logged is not None and ("predictions" in logged or r == run.cfg.rounds):
        return logged  # the log line is a round's last step: the round is complete
    if logged is not None:  # a resume with more --rounds: this was the last round, refine it now
        model, _ = load_checkpoint(run.model_path(r))
        predict_all(run, model.to(run.device), r)
        refine_all(run, r)
        return run.log({**logged, "predictions": prediction_stats(run, r)})
    model, losses = train_model(run, r, on_epoch_end=on_epoch_end)
    line = {"round": r, "losses": list(losses), "train_masks": mask_stats(run, r - 1)}
    if r < run.cfg.rounds:
        predict_all(run, model, r)
        refine_all(run, r)
        line["predictions"] = prediction_stats(run, r)
    if run.cfg.val_root:
        line["val"], foreground = validate(run, model, r)
        info(f"round {r}: {run.cfg.val_benchmark} {headline(line['val'])}")
        if foreground == 0:
            _warn_background_only(run, line, f"round {r}: the model predicts only background on every "
                                             f"{run.cfg.val_benchmark} image")
    return run.log(line)


def headline(metrics: dict) -> str:
    """The one number of a benchmark's metrics: mIoU, or mean J for a foreground benchmark."""
    if "mIoU" in metrics:
        return f"mIoU {metrics['mIoU']:.2f}"
    return f"mean J {metrics['mean_J']:.2f}" if metrics.get("mean_J") is not None else "mean J -"


def _configuration(cfg: TrainConfig | None, out: Path, resume: bool) -> TrainConfig:
    """The configuration to run: ``cfg`` with its paths absolute, or on a resume the run's own
    (``cfg`` may change only what trainers.rundir.RESUMABLE allows)."""
    if resume:
        return read_run_config(out) if cfg is None else resume_config(out, cfg.to_flat())
    return TrainConfig.from_flat(absolute_paths(cfg.to_flat()))


def _start(cfg: TrainConfig, *, images: Path, out: Path, resume: bool, device: str | None, workers: int) -> Run:
    """Every input checked (writing nothing), then the ranks joined and the device chosen."""
    root, samples, device = check_before_start(cfg, images=images, out=out, resume=resume, device=device)
    dev = torch.device(device)
    dist = init_distributed(dev.type)
    if dev.type == "cuda":
        dev = torch.device("cuda", dist.local_rank)
    return Run(cfg, out, root, samples, dist, dev, workers)


@contextlib.contextmanager
def _run_lock(run: Run):
    with shard_lock(run.out, Shard(run.dist.rank, run.dist.world), instead="choose another --out"):
        yield


def _remove_started(out: Path, before: set | None) -> None:
    """Undo a failed fresh start: ``out`` removed, or, when it existed, what this start added."""
    if before is None:
        shutil.rmtree(out, ignore_errors=True)
        return
    for child in set(out.iterdir()) - before:
        shutil.rmtree(child, ignore_errors=True) if child.is_dir() and not child.is_symlink() else child.unlink()


def _warn_background_only(run: Run, line: dict, message: str) -> None:
    """A model that predicts no object anywhere learned nothing to refine: said, and logged."""
    message += (" (no pixel of any object class)" if run.cfg.task == "semantic" else " (no foreground pixel)") + \
        "; check the training masks (masks/round-XX) and --lr"
    if run.dist.is_main:
        warn(message)
    line.setdefault("warnings", []).append(message)
