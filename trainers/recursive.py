"""The recursive coarse-to-fine loop (Algorithm 1).

    round 0   coarse masks -> GrabCut -> label maps                 (lines 1-2)
    round r   train on round r-1's masks (line 4), predict every training image (line 5),
              refine with strategies (a), (b), (c) into round r's masks (lines 6-7)

Run directory (DESIGN.md): ``config.json``, ``masks/round-00/`` ..., ``round-XX/model.pt``,
``metrics.jsonl`` (one line per round), ``final.pt``. Every step is skipped when its
outputs exist, and an interrupted round resumes from its last finished epoch
(``round-XX/last.pt``), so ``--resume`` reaches the same final weights as a straight run.
"""

from __future__ import annotations

import contextlib
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from c2fbench.console import info, progress, warn
from c2fbench.data.atomic import atomic_write_text
from c2fbench.errors import InputError
from trainers.config import TrainConfig, absolute_paths
from trainers.distributed import Dist, barrier, broadcast_model, init_distributed, wrap
from trainers.preflight import TrainImage, check_before_start  # noqa: F401 (TrainImage: the sample type)
from trainers.rundir import append_log, read_log, read_run_config, resume_config
from trainers.stats import mask_stats, prediction_stats, sum_over_ranks, validate


@dataclass
class Run:
    cfg: TrainConfig
    out: Path
    images: Path  # the training image folder (for DeepLab, ImageNet's train/)
    samples: list  # with .rel and .path
    dist: Dist
    device: object
    workers: int

    @property
    def classes(self) -> list[str]:
        from c2fbench.data.voc import VOC_CLASSES

        return list(VOC_CLASSES) if self.cfg.task == "semantic" else ["foreground"]

    @property
    def wnid_labels(self) -> dict | None:
        """ImageNet folder -> VOC class for DeepLab; None (category 1) for the foreground task."""
        from c2fbench.data.imagenet import wnid_to_voc_label

        return wnid_to_voc_label() if self.cfg.task == "semantic" else None

    def runtime(self, model):
        from c2fbench.inference import ModuleRuntime
        from c2fbench.models import IMAGENET_MEAN, IMAGENET_STD

        return ModuleRuntime(model, classes=self.classes, device=str(self.device),
                             normalization={"mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD)})

    def masks(self, r: int) -> Path:
        return self.out / "masks" / f"round-{r:02d}"

    def predictions(self, r: int) -> Path:
        return self.out / "predictions" / f"round-{r:02d}"

    def model_path(self, r: int) -> Path:
        return self.out / f"round-{r:02d}" / "model.pt"


def train_recursive(cfg: TrainConfig | None, *, images: Path, out: Path, resume: bool = False, workers: int = 1,
                    device: str | None = None, on_epoch_end: Callable[[int, int], None] = lambda r, e: None) -> dict:
    """Run (or resume) Algorithm 1; returns the last round's metrics line.

    ``images`` is an ImageNet-format folder (semantic task: each image's category is its
    folder's VOC class) or any image folder (foreground task). With ``resume``, ``cfg`` None
    means the run's own configuration; a given ``cfg`` may differ from it only in what
    ``trainers.rundir.RESUMABLE`` allows (more rounds). Every input is checked before
    ``out`` is written (trainers/preflight.py).
    """
    import dataclasses

    import torch

    out = Path(out)
    if resume:
        cfg = read_run_config(out) if cfg is None else resume_config(out, dataclasses.asdict(cfg))
    else:
        cfg = TrainConfig(**absolute_paths(dataclasses.asdict(cfg)))
    root, samples, device = check_before_start(cfg, images=Path(images), out=out, resume=resume, device=device)
    dev = torch.device(device)
    dist = init_distributed(dev.type)
    if dev.type == "cuda":
        dev = torch.device("cuda", dist.local_rank)
    run = Run(cfg, out, root, samples, dist, dev, workers)
    before = set(out.iterdir()) if out.is_dir() else None  # what a failed start must leave
    out.mkdir(parents=True, exist_ok=True)
    with _run_lock(out, dist):  # one process per rank writes a run: a second --resume is refused
        if dist.is_main:
            atomic_write_text(out / "config.json", cfg.to_json())
        try:
            initial_masks(run)
            line = train_one_round(run, 1, on_epoch_end=on_epoch_end)
        except InputError as e:
            # a fresh start whose input fails before round 1 is trained (every image unreadable,
            # every mask dropped) leaves --out as it was, so that the same command with good
            # input starts normally instead of finding "a run" there
            if not resume and dist.is_main and not run.model_path(1).exists():
                _remove_started(out, before)
                raise InputError(f"{e} (this start is undone: {out} is left as it was)") from None
            raise
        for r in range(2, cfg.rounds + 1):
            line = train_one_round(run, r, on_epoch_end=on_epoch_end)
        if dist.is_main:
            shutil.copyfile(run.model_path(cfg.rounds), out / ".final.pt.tmp")
            (out / ".final.pt.tmp").replace(out / "final.pt")
        barrier(dist)
        return line


@contextlib.contextmanager
def _run_lock(out: Path, dist: Dist):
    from c2fbench.masks.record import shard_lock
    from c2fbench.masks.runner import Shard

    with shard_lock(out, Shard(dist.rank, dist.world), instead="choose another --out"):
        yield


def _remove_started(out: Path, before: set | None) -> None:
    """Undo a failed fresh start: ``out`` removed, or, when it existed, what this start added."""
    if before is None:
        shutil.rmtree(out, ignore_errors=True)
        return
    for child in set(out.iterdir()) - before:
        shutil.rmtree(child, ignore_errors=True) if child.is_dir() and not child.is_symlink() else child.unlink()


def _run_masks_job(run: Run, job, ids, out: Path):
    from c2fbench.masks.runner import Shard, failure_message, run_job

    with progress(len(ids[run.dist.rank::run.dist.world]), job.name) as advance:
        summary = run_job(job, ids, out=out, shard=Shard(run.dist.rank, run.dist.world), workers=run.workers,
                          advance=advance, warn=warn)
    barrier(run.dist)
    problem = failure_message(summary, out)
    if problem:  # every image failed: stop here, not at the training that has nothing to train on
        raise InputError(problem)
    return summary


def initial_masks(run: Run) -> None:
    """Round-0 label maps: coarse masks, GrabCut, the image's category on the foreground."""
    from c2fbench.masks.coarse import CoarseJob
    from c2fbench.masks.enhance import EnhanceJob
    from c2fbench.masks.categories import LabelJob

    cfg, root = run.cfg, run.out / "masks"
    ids = [s.rel for s in run.samples]
    weights = Path(cfg.student_weights) if cfg.student_weights else None
    _run_masks_job(run, CoarseJob(run.images, root / "coarse", method=cfg.coarse_method, saliency=cfg.saliency,
                                  weights=weights), ids, root / "coarse")
    foreground = root / "coarse"
    if cfg.enhance_initial:
        foreground = root / "enhanced"
        _run_masks_job(run, EnhanceJob(run.images, root / "coarse", foreground, box=cfg.coarse_box,
                                       iterations=cfg.grabcut_iterations, seed=cfg.seed), ids, foreground)
    if cfg.initial_boxes:
        from c2fbench.masks.boxes import BoxJob

        _run_masks_job(run, BoxJob(foreground, root / "boxes"), ids, root / "boxes")
        foreground = root / "boxes"
    _run_masks_job(run, LabelJob(foreground, run.masks(0), run.wnid_labels, _refine_config(cfg)), ids, run.masks(0))


def train_one_round(run: Run, r: int, *, on_epoch_end) -> dict:
    """Train round ``r`` (or load it when finished), predict, refine, evaluate, log."""
    from c2fbench.models.checkpoint import load_checkpoint

    cfg = run.cfg
    _leave_out_failed(run, r - 1)
    logged = read_log(run.out).get(r)
    if logged is not None and ("predictions" in logged or r == cfg.rounds):
        return logged  # the log line is a round's last step: the round is complete
    if logged is not None:  # a resume with more --rounds: this was the last round, refine it now
        model, _ = load_checkpoint(run.model_path(r))
        _predict_and_refine(run, model.to(run.device), r)
        return _log(run, {**logged, "predictions": prediction_stats(run, r)})
    if run.model_path(r).is_file():
        model, meta = load_checkpoint(run.model_path(r))
        losses = meta.get("losses", [])
    else:
        model, losses = _train(run, r, on_epoch_end=on_epoch_end)
    model = model.to(run.device)
    line = {"round": r, "losses": list(losses)}
    line["train_masks"] = mask_stats(run, r - 1)
    if r < cfg.rounds:
        _predict_and_refine(run, model, r)
        line["predictions"] = prediction_stats(run, r)
    if cfg.val_root:
        line["val"], foreground = validate(run, model)
        info(f"round {r}: {cfg.val_benchmark} {headline(line['val'])}")
        if foreground == 0:
            _warn_background_only(run, line, f"round {r}: the model predicts only background on every "
                                             f"{cfg.val_benchmark} image")
    return _log(run, line)


def _log(run: Run, line: dict) -> dict:
    if run.dist.is_main:
        append_log(run.out, line)
    barrier(run.dist)
    return line


def _warn_background_only(run: Run, line: dict, message: str) -> None:
    """A model that predicts no object anywhere learned nothing to refine: said, and logged."""
    message += (" (no pixel of any object class)" if run.cfg.task == "semantic" else " (no foreground pixel)") + \
        "; check the training masks (masks/round-XX) and --lr"
    if run.dist.is_main:
        warn(message)
    line.setdefault("warnings", []).append(message)


def _leave_out_failed(run: Run, r: int) -> None:
    """Leave out of training the images without a round-``r`` mask: their mask stage failed
    (an unreadable image, say) and the runner listed them in that stage's failed.json."""
    missing = [s for s in run.samples if not (run.masks(r) / f"{s.rel}.png").is_file()]
    if not missing:
        return
    if len(missing) == len(run.samples):
        raise InputError(f"{run.masks(r)}: no training image has a mask (every one failed; see the failed.json "
                         f"files under {run.out / 'masks'})")
    from c2fbench.masks.record import failed_ids

    listed = [str(path) for folder in sorted((run.out / "masks").iterdir()) if folder.is_dir() and failed_ids(folder)
              for path in sorted(folder.glob("failed*.json"))]
    names = ", ".join(s.rel for s in missing[:3]) + (", ..." if len(missing) > 3 else "")
    if run.dist.is_main:
        warn(f"{len(missing)} of {len(run.samples)} training images have no round-{r} mask and are left out "
             f"({names}): their mask stage failed, see {', '.join(listed) or run.masks(r)}")
    run.samples = [s for s in run.samples if (run.masks(r) / f"{s.rel}.png").is_file()]


def _train(run: Run, r: int, *, on_epoch_end):
    import torch

    from c2fbench.models import IMAGENET_MEAN, IMAGENET_STD, build_model
    from c2fbench.models.checkpoint import load_checkpoint, save_checkpoint
    from trainers.data import MaskDataset
    from trainers.train import EpochState, train_round

    cfg = run.cfg
    kwargs = {"num_classes": len(run.classes), "pretrained_backbone": cfg.pretrained_backbone}
    norm = {"mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD)}
    last = run.out / f"round-{r:02d}" / "last.pt"
    resume = None
    if last.is_file():
        from trainers.rundir import check_epoch_checkpoint

        check_epoch_checkpoint(last)
        model, meta = load_checkpoint(last)
        resume = EpochState(meta["epoch"], meta["optimizer"], meta["losses"])
        info(f"round {r}: resuming after epoch {resume.epoch}")
    elif r > 1 and not cfg.reinit:
        model, _ = load_checkpoint(run.model_path(r - 1))
    else:
        torch.manual_seed(cfg.seed * 1000 + r)
        model = build_model(cfg.arch, **kwargs)
        if cfg.backbone_weights:
            from trainers.classifier import load_backbone_weights

            load_backbone_weights(model, Path(cfg.backbone_weights), cfg.arch)
    broadcast_model(run.dist, model)
    model = model.to(run.device)
    if cfg.channels_last and run.device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    dataset = MaskDataset(run.samples, run.masks(r - 1), resize=cfg.resize, crop=cfg.crop, flip=cfg.flip,
                          normalization=norm, seed=cfg.seed, scale=(cfg.scale_min, cfg.scale_max))
    if len(dataset) == 0:
        raise InputError(f"{run.masks(r - 1)}: every mask was dropped; nothing to train round {r} on")
    net = wrap(run.dist, model, run.device)

    def loader_for_epoch(epoch: int):
        dataset.set_epoch(r, epoch)
        if run.dist.enabled:
            sampler = torch.utils.data.DistributedSampler(dataset, run.dist.world, run.dist.rank, seed=cfg.seed)
            sampler.set_epoch(r * 1000 + epoch)
        else:
            generator = torch.Generator().manual_seed(cfg.seed * 1_000_003 + r * 1000 + epoch)
            sampler = torch.utils.data.RandomSampler(dataset, generator=generator)
        return torch.utils.data.DataLoader(dataset, batch_size=cfg.batch_size, sampler=sampler,
                                           num_workers=cfg.loader_workers, pin_memory=run.device.type == "cuda")

    def save_epoch(state: EpochState) -> None:
        if run.dist.is_main:
            save_checkpoint(last, model, arch=cfg.arch, kwargs=kwargs, classes=run.classes, normalization=norm,
                            extra={"round": r, "epoch": state.epoch, "optimizer": state.optimizer,
                                   "losses": state.losses})
            info(f"round {r}, epoch {state.epoch}/{cfg.epochs}: loss {state.losses[-1]:.4f}")
        barrier(run.dist)
        on_epoch_end(r, state.epoch)

    total = len(dataset) * (cfg.epochs - (resume.epoch if resume else 0))
    with progress(max(total // run.dist.world, 1), f"train round {r}") as advance:
        losses = train_round(net, loader_for_epoch, cfg, round_index=r, device=run.device, resume=resume,
                             on_epoch_end=save_epoch, advance=advance)
    if run.dist.is_main:
        save_checkpoint(run.model_path(r), model, arch=cfg.arch, kwargs=kwargs, classes=run.classes,
                        normalization=norm, extra={"round": r, "losses": losses})
        last.unlink(missing_ok=True)
    barrier(run.dist)
    return model, losses


def _predict_and_refine(run: Run, model, r: int) -> None:
    """Predict every training image (this rank's share), then strategies (a)-(c)."""
    from c2fbench.data.images import read_rgb
    from c2fbench.data.labels import write_label_png
    from c2fbench.inference import predict_probs
    from c2fbench.masks.categories import category_of
    from c2fbench.masks.refine import RefineJob, predicted_label

    cfg = run.cfg
    pred_dir = run.predictions(r)
    runtime = run.runtime(model)
    mine = [s for s in run.samples[run.dist.rank::run.dist.world] if not (pred_dir / f"{s.rel}.png").is_file()]
    size = (cfg.resize, cfg.resize) if cfg.refine_predict_at == "train" else None
    foreground = 0
    with progress(len(mine), f"predict round {r}") as advance:
        for sample in mine:
            rgb = read_rgb(sample.path)
            probs = predict_probs(runtime, rgb, size=size, tta=cfg.refine_tta)
            label = predicted_label(probs, category_of(sample.rel, run.wnid_labels), argmax=cfg.refine_argmax,
                                    crf_image=rgb if cfg.refine_crf else None)
            write_label_png(pred_dir / f"{sample.rel}.png", label)
            foreground += bool(((label > 0) & (label != 255)).any())
            advance(1)
    barrier(run.dist)
    if mine and sum_over_ranks(run, foreground) == 0 and run.dist.is_main:
        warn(f"round {r}: the model predicts only background on each of the training images it predicted "
             "(refinement will drop or GrabCut them); check the training masks and --lr")
    job = RefineJob(run.images, pred_dir, run.masks(r), run.wnid_labels, _refine_config(cfg), seed=cfg.seed + r,
                    previous=run.masks(r - 1) if cfg.drop_keeps_previous else None)
    _run_masks_job(run, job, [s.rel for s in run.samples], run.masks(r))


def _refine_config(cfg):
    from c2fbench.masks.refine import RefineConfig

    return RefineConfig(drop_outside=cfg.drop_outside, min_foreground=cfg.min_foreground,
                        max_foreground=cfg.max_foreground, keep_own_category=cfg.keep_own_category,
                        grabcut=cfg.refine_grabcut, init=cfg.refine_init, iterations=cfg.grabcut_iterations)


def headline(metrics: dict) -> str:
    """The one number of a benchmark's metrics: mIoU, or mean J for a foreground benchmark."""
    if "mIoU" in metrics:
        return f"mIoU {metrics['mIoU']:.2f}"
    return f"mean J {metrics['mean_J']:.2f}" if metrics.get("mean_J") is not None else "mean J -"
