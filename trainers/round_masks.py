"""The masks each round trains on: round 0's from the images (Algorithm 1, lines 1-2), round
r's from round r's predictions on every training image (lines 5-7).

Each step is a masks job (c2fbench/masks/runner.py): every rank takes its share of the
images, finished images are skipped, and the folder records the options that made it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from c2fbench.console import progress, warn
from c2fbench.data.images import read_rgb
from c2fbench.data.png import write_label_png
from c2fbench.errors import InputError
from c2fbench.predict import predict_probs
from c2fbench.masks.boxes import BoxJob
from c2fbench.masks.categories import LabelJob, category_of
from c2fbench.masks.coarse import CoarseJob
from c2fbench.masks.enhance import EnhanceJob
from c2fbench.masks.record import failed_ids
from c2fbench.masks.refine import RefineJob, predicted_label
from c2fbench.masks.runner import Shard, failure_message, run_job
from trainers.distributed import barrier
from trainers.run import Run
from trainers.stats import sum_over_ranks


def initial_masks(run: Run, *, on_masks: Callable[[str], None] = lambda part: None) -> None:
    """Round-0 label maps: coarse masks, GrabCut, the image's category on the foreground,
    strategy (a). ``on_masks(part)`` is called once each of ``masks/coarse`` and
    ``masks/enhanced`` is complete."""
    cfg, root = run.cfg.masks, run.out / "masks"
    ids = [s.rel for s in run.samples]
    weights = Path(cfg.student_weights) if cfg.student_weights else None
    _run_masks_job(run, CoarseJob(run.images, root / "coarse", method=cfg.coarse_method, saliency=cfg.saliency,
                                  weights=weights), ids, root / "coarse")
    on_masks("coarse")
    foreground = root / "coarse"
    if cfg.enhance_initial:
        foreground = root / "enhanced"
        _run_masks_job(run, EnhanceJob(run.images, root / "coarse", foreground, box=cfg.coarse_box,
                                       iterations=run.cfg.refine.iterations, seed=run.cfg.seed), ids, foreground)
        on_masks("enhanced")
    if cfg.initial_boxes:
        _run_masks_job(run, BoxJob(foreground, root / "boxes", box=cfg.enhanced_box), ids, root / "boxes")
        foreground = root / "boxes"
    _run_masks_job(run, LabelJob(foreground, run.masks(0), run.wnid_labels, run.cfg.refine), ids, run.masks(0))


def predict_all(run: Run, model, r: int) -> None:
    """Round ``r``'s prediction of every training image (this rank's share), read as its
    own category's label map (run.cfg.predict)."""
    cfg = run.cfg.predict
    pred_dir = run.predictions(r)
    runtime = run.runtime(model)
    mine = [s for s in run.samples[run.dist.rank::run.dist.world] if not (pred_dir / f"{s.rel}.png").is_file()]
    size = (run.cfg.resize, run.cfg.resize) if cfg.at == "train" else None
    foreground = 0
    with progress(len(mine), f"predict round {r}") as advance:
        for sample in mine:
            rgb = read_rgb(sample.path)
            probs = predict_probs(runtime, rgb, size=size, tta=cfg.tta)
            label = predicted_label(probs, category_of(sample.rel, run.wnid_labels), argmax=cfg.argmax,
                                    crf_image=rgb if cfg.crf else None)
            write_label_png(pred_dir / f"{sample.rel}.png", label)
            foreground += bool(((label > 0) & (label != 255)).any())
            advance(1)
    barrier(run.dist)
    if mine and sum_over_ranks(run, foreground) == 0 and run.dist.is_main:
        warn(f"round {r}: the model predicts only background on each of the training images it predicted "
             "(refinement will drop or GrabCut them); check the training masks and --lr")


def refine_all(run: Run, r: int) -> None:
    """Round ``r``'s masks: strategies (a), (b), (c) on its predictions (run.cfg.refine)."""
    previous = run.masks(r - 1) if run.cfg.drop_keeps_previous else None
    job = RefineJob(run.images, run.predictions(r), run.masks(r), run.wnid_labels, run.cfg.refine,
                    seed=run.cfg.seed + r, previous=previous)
    _run_masks_job(run, job, [s.rel for s in run.samples], run.masks(r))


def leave_out_failed(run: Run, r: int) -> None:
    """Leave out of training the images without a round-``r`` mask: their mask stage failed
    (an unreadable image, say) and the runner listed them in that stage's failed.json."""
    missing = [s for s in run.samples if not (run.masks(r) / f"{s.rel}.png").is_file()]
    if not missing:
        return
    if len(missing) == len(run.samples):
        raise InputError(f"{run.masks(r)}: no training image has a mask (every one failed; see the failed.json "
                         f"files under {run.out / 'masks'})")
    listed = [str(path) for folder in sorted((run.out / "masks").iterdir()) if folder.is_dir() and failed_ids(folder)
              for path in sorted(folder.glob("failed*.json"))]
    names = ", ".join(s.rel for s in missing[:3]) + (", ..." if len(missing) > 3 else "")
    if run.dist.is_main:
        warn(f"{len(missing)} of {len(run.samples)} training images have no round-{r} mask and are left out "
             f"({names}): their mask stage failed, see {', '.join(listed) or run.masks(r)}")
    run.samples = [s for s in run.samples if (run.masks(r) / f"{s.rel}.png").is_file()]


def _run_masks_job(run: Run, job, ids: list[str], out: Path) -> None:
    """``job`` over this rank's share of ``ids`` into ``out``, then wait for every rank;
    InputError when every image failed (not later, at a training with nothing to train on)."""
    with progress(len(ids[run.dist.rank::run.dist.world]), job.name) as advance:
        summary = run_job(job, ids, out=out, shard=Shard(run.dist.rank, run.dist.world), workers=run.workers,
                          advance=advance, warn=warn)
    barrier(run.dist)
    problem = failure_message(summary, out)
    if problem:
        raise InputError(problem)
