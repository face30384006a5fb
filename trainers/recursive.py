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

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from c2fbench.console import info, progress, warn
from c2fbench.data.atomic import atomic_write_text
from c2fbench.errors import InputError
from trainers.config import TrainConfig
from trainers.distributed import Dist, barrier, broadcast_model, init_distributed, wrap


@dataclass(frozen=True)
class TrainImage:
    rel: str  # the id: the image's path under the images folder, without suffix
    path: Path


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


def train_recursive(cfg: TrainConfig, *, images: Path, out: Path, resume: bool = False, workers: int = 1,
                    device: str | None = None, on_epoch_end: Callable[[int, int], None] = lambda r, e: None) -> dict:
    """Run (or resume) Algorithm 1; returns the last round's metrics line.

    ``images`` is an ImageNet-format folder (semantic task: each image's category is its
    folder's VOC class) or any image folder (foreground task).
    """
    import torch

    out = Path(out)
    if (out / "config.json").is_file() and not resume:
        raise InputError(f"{out}: a run exists here; pass --resume to continue it, or choose another --out")
    if resume:
        if not (out / "config.json").is_file():
            raise InputError(f"{out}/config.json: nothing to resume (no run directory here)")
        cfg = TrainConfig(**json.loads((out / "config.json").read_text()))
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    dist = init_distributed(dev.type)
    if dev.type == "cuda":
        dev = torch.device("cuda", dist.local_rank)
    root, samples = _training_images(cfg, Path(images))
    if cfg.refine_crf:  # refuse before any work when the extra is missing
        try:
            import pydensecrf.densecrf  # noqa: F401
        except ImportError:
            raise InputError("refine_crf needs the dense CRF extra: pip install 'c2fbench[crf]'") from None
    run = Run(cfg, out, root, samples, dist, dev, workers)
    if cfg.backbone_weights:  # refuse a bad file before any mask is made
        from c2fbench.models import build_model
        from trainers.classifier import load_backbone_weights

        load_backbone_weights(build_model(cfg.arch, num_classes=len(run.classes)), Path(cfg.backbone_weights),
                              cfg.arch)
    if dist.is_main:
        atomic_write_text(out / "config.json", cfg.to_json())
    initial_masks(run)
    line = {}
    for r in range(1, cfg.rounds + 1):
        line = train_one_round(run, r, on_epoch_end=on_epoch_end)
    if dist.is_main:
        shutil.copyfile(run.model_path(cfg.rounds), out / ".final.pt.tmp")
        (out / ".final.pt.tmp").replace(out / "final.pt")
    barrier(dist)
    return line


def _training_images(cfg: TrainConfig, images: Path) -> tuple[Path, list]:
    if cfg.task == "semantic":
        from c2fbench.data.imagenet import find_imagenet_train, list_imagenet

        return find_imagenet_train(images), list_imagenet(images)
    from c2fbench.data.images import find_image, list_images

    return images, [TrainImage(rel, find_image(images, rel)) for rel in list_images(images)]


def _run_masks_job(run: Run, job, ids, out: Path):
    from c2fbench.masks.runner import Shard, run_job

    with progress(len(ids[run.dist.rank::run.dist.world]), job.name) as advance:
        summary = run_job(job, ids, out=out, shard=Shard(run.dist.rank, run.dist.world), workers=run.workers,
                          advance=advance, warn=warn)
    barrier(run.dist)
    return summary


def initial_masks(run: Run) -> None:
    """Round-0 label maps: coarse masks, GrabCut, the image's category on the foreground."""
    from c2fbench.masks.coarse import CoarseJob
    from c2fbench.masks.enhance import EnhanceJob
    from c2fbench.masks.labels import LabelJob

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
    _run_masks_job(run, LabelJob(foreground, run.masks(0), run.wnid_labels,
                                 drop_outside=cfg.drop_outside, min_foreground=cfg.min_foreground,
                                 max_foreground=cfg.max_foreground), ids, run.masks(0))


def train_one_round(run: Run, r: int, *, on_epoch_end) -> dict:
    """Train round ``r`` (or load it when finished), predict, refine, evaluate, log."""
    from c2fbench.models.checkpoint import load_checkpoint

    cfg = run.cfg
    logged = _read_log(run.out).get(r)
    if logged is not None:  # the log line is a round's last step: the round is complete
        return logged
    if run.model_path(r).is_file():
        model, meta = load_checkpoint(run.model_path(r))
        losses = meta.get("losses", [])
    else:
        model, losses = _train(run, r, on_epoch_end=on_epoch_end)
    model = model.to(run.device)
    line = {"round": r, "losses": list(losses)}
    line["train_masks"] = _mask_stats(run, r - 1)
    if r < cfg.rounds:
        _predict_and_refine(run, model, r)
        line["predictions"] = _prediction_stats(run, r)
    if cfg.val_root:
        line["val"] = _validate(run, model)
        info(f"round {r}: {cfg.val_benchmark} {headline(line['val'])}")
    if run.dist.is_main:
        _append_log(run.out, line)
    barrier(run.dist)
    return line


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
    from c2fbench.masks.labels import category_of
    from trainers.refine import RefineJob, predicted_label

    cfg = run.cfg
    pred_dir = run.predictions(r)
    runtime = run.runtime(model)
    mine = [s for s in run.samples[run.dist.rank::run.dist.world] if not (pred_dir / f"{s.rel}.png").is_file()]
    size = (cfg.resize, cfg.resize) if cfg.refine_predict_at == "train" else None
    with progress(len(mine), f"predict round {r}") as advance:
        for sample in mine:
            rgb = read_rgb(sample.path)
            probs = predict_probs(runtime, rgb, size=size, tta=cfg.refine_tta)
            label = predicted_label(probs, category_of(sample.rel, run.wnid_labels), argmax=cfg.refine_argmax,
                                    crf_image=rgb if cfg.refine_crf else None)
            write_label_png(pred_dir / f"{sample.rel}.png", label)
            advance(1)
    barrier(run.dist)
    job = RefineJob(run.images, pred_dir, run.masks(r), run.wnid_labels, keep_own_category=cfg.keep_own_category,
                    grabcut=cfg.refine_grabcut, init=cfg.refine_init, iterations=cfg.grabcut_iterations,
                    seed=cfg.seed + r, drop_outside=cfg.drop_outside, min_foreground=cfg.min_foreground,
                    max_foreground=cfg.max_foreground, previous=run.masks(r - 1) if cfg.drop_keeps_previous else None)
    _run_masks_job(run, job, [s.rel for s in run.samples], run.masks(r))


def _validate(run: Run, model) -> dict:
    """The val benchmark's metrics.json content, scored by the evaluator of ``c2fbench eval``."""
    from c2fbench.benchmarks import load_benchmark
    from c2fbench.evaluator import evaluate_distributed
    from c2fbench.inference import ModelPredictions
    from trainers.distributed import all_reduce_sum

    bench = load_benchmark(run.cfg.val_benchmark, run.cfg.val_root)
    return evaluate_distributed(bench, ModelPredictions(run.runtime(model)), rank=run.dist.rank, world=run.dist.world,
                                reduce_sum=lambda a: all_reduce_sum(run.dist, a))


def headline(metrics: dict) -> str:
    """The one number of a benchmark's metrics: mIoU, or mean J for a foreground benchmark."""
    if "mIoU" in metrics:
        return f"mIoU {metrics['mIoU']:.2f}"
    return f"mean J {metrics['mean_J']:.2f}" if metrics.get("mean_J") is not None else "mean J -"


def _mask_stats(run: Run, r: int) -> dict:
    """Statistics of the masks a round trained on; with hidden ground truth (the synthetic
    benchmark's imagenet/masks), their IoU with it."""
    summary_path = run.masks(r) / "summary.json"
    stats = json.loads(summary_path.read_text()).get("stats", {}) if summary_path.is_file() else {}
    result = {"round": r, "dropped": stats.get("dropped_small", 0) + stats.get("dropped_large", 0), "events": stats}
    if run.dist.is_main:
        result["dropped_by_class"] = _dropped_by_class(run, r)
    truth = run.images.parent / "masks"
    if truth.is_dir() and run.dist.is_main:
        from c2fbench.masks.quality import score_masks

        quality = score_masks(run.masks(r), truth, ids=[s.rel for s in run.samples])
        result.update(iou=quality["mean_iou"], dataset_iou=quality["dataset_iou"])
    return result


def _dropped_by_class(run: Run, r: int) -> dict[str, int]:
    """Images whose round-``r`` mask is all void (dropped by (a)), counted by category."""
    from collections import Counter

    from c2fbench.masks.labels import category_of
    from c2fbench.masks.quality import read_foreground

    names = run.classes if run.cfg.task == "semantic" else ["background", *run.classes]  # foreground: category 1
    counts = Counter(names[category_of(s.rel, run.wnid_labels)] for s in run.samples
                     if read_foreground(run.masks(r) / f"{s.rel}.png") is None)
    return dict(sorted(counts.items()))


def _prediction_stats(run: Run, r: int) -> dict:
    """How good round ``r``'s predictions on the training images are before refinement:
    with hidden ground truth, the IoU of each image's own category (before (a) and (c))."""
    truth = run.images.parent / "masks"
    if not (truth.is_dir() and run.dist.is_main):
        return {}
    from c2fbench.masks.labels import category_of
    from c2fbench.masks.quality import score_masks

    ids = [s.rel for s in run.samples]
    categories = {i: category_of(i, run.wnid_labels) for i in ids}
    quality = score_masks(run.predictions(r), truth, ids=ids, categories=categories)
    return {"iou": quality["mean_iou"], "dataset_iou": quality["dataset_iou"], "empty": quality["empty_masks"]}


def _read_log(out: Path) -> dict[int, dict]:
    path = out / "metrics.jsonl"
    if not path.is_file():
        return {}
    return {line["round"]: line for line in map(json.loads, path.read_text().splitlines()) if line}


def _append_log(out: Path, line: dict) -> None:
    lines = _read_log(out)
    lines[line["round"]] = line
    atomic_write_text(out / "metrics.jsonl", "".join(json.dumps(lines[k]) + "\n" for k in sorted(lines)))
