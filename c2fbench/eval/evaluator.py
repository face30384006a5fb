"""Score a prediction source on a named benchmark.

The evaluator reads ground truth, asks a *prediction source* for each image's label map
(a folder of PNGs here; models arrive with the trainer and deploy modules), and feeds
both to the one metric object of its kind. Folder sources are scored by a pool of worker
processes, each returning per-image results that the parent sums; integer sums make the
matrix identical whatever the number of workers or the order.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from c2fbench import __version__
from c2fbench.data.labels import read_label_png
from c2fbench.data.mit import read_mask_png
from c2fbench.errors import InputError
from c2fbench.eval.benchmarks import Benchmark, Sample
from c2fbench.eval.sources import PredictionSource
from c2fbench.metrics.bootstrap import bootstrap_mean_j, bootstrap_miou
from c2fbench.metrics.confusion import image_confusion
from c2fbench.metrics.foreground import foreground_scores, image_jp
from c2fbench.metrics.semantic import semantic_scores
from c2fbench.parallel import default_workers, pool

_CHUNK = 24


def score_sample(benchmark: Benchmark, source: PredictionSource, sample: Sample) -> np.ndarray:
    """One image's result: its (C, C) confusion matrix, or [J, P] for a foreground benchmark."""
    if benchmark.kind == "semantic":
        gt = read_label_png(sample.label)
        pred = source.load(sample, gt.shape, "semantic")
        return image_confusion(gt, pred, len(benchmark.classes), image_id=sample.id)
    gt = read_mask_png(sample.label)
    pred = source.load(sample, gt.shape, "foreground")
    return np.array(image_jp(gt, pred, image_id=sample.id))


# Worker processes receive the benchmark and source once, at start-up, then index chunks.
_worker_state: tuple | None = None


def _init_worker(benchmark: Benchmark, source: PredictionSource) -> None:
    global _worker_state
    import cv2

    cv2.setNumThreads(1)
    _worker_state = (benchmark, source)


def _score_chunk(bounds: tuple[int, int]) -> tuple[int, np.ndarray]:
    benchmark, source = _worker_state
    start, stop = bounds
    return start, np.stack([score_sample(benchmark, source, s) for s in benchmark.samples[start:stop]])


@dataclass
class EvalResult:
    benchmark: Benchmark
    per_image: np.ndarray  # (N, C, C) int64 confusion matrices, or (N, 2) float [J, P] in [0, 1]
    metrics: dict  # the metrics.json content

    def finds_no_object(self) -> bool:
        """True when the predictions hold no object anywhere: no pixel of any class but
        background (semantic), or J = 0 on every image that has an object (foreground)."""
        if self.benchmark.kind == "semantic":
            return not self.per_image[:, :, 1:].any()
        j = self.per_image[:, 0]
        scored = ~np.isnan(j)
        return bool(scored.any()) and not j[scored].any()


def evaluate(benchmark: Benchmark, source: PredictionSource, *, workers: int | None = None,
             bootstrap: int = 0, seed: int = 0,
             advance: Callable[[int], None] = lambda n: None) -> EvalResult:
    """Score every sample of ``benchmark``; ``advance(n)`` reports progress."""
    if not benchmark.samples:
        raise InputError(f"{benchmark.root}: {benchmark.name} has no images to score")
    workers = workers or default_workers()
    n = len(benchmark.samples)
    chunks = [(i, min(i + _CHUNK, n)) for i in range(0, n, _CHUNK)]
    results: list[np.ndarray | None] = [None] * len(chunks)
    if workers > 1 and len(chunks) > 1 and getattr(source, "parallel_safe", False):
        with pool(min(workers, len(chunks)), initializer=_init_worker, initargs=(benchmark, source)) as workers_pool:
            for start, part in workers_pool.imap_unordered(_score_chunk, chunks):
                results[start // _CHUNK] = part
                advance(len(part))
    else:
        for k, (start, stop) in enumerate(chunks):
            results[k] = np.stack([score_sample(benchmark, source, s) for s in benchmark.samples[start:stop]])
            advance(stop - start)
    per_image = np.concatenate(results)
    if benchmark.kind == "semantic" and not per_image.any():
        raise InputError(f"{benchmark.root}: every ground-truth pixel of {benchmark.name} is void (255), so there "
                         f"is nothing to score; expected VOC's SegmentationClass label maps (class indices 0..20)")
    if benchmark.kind == "foreground" and np.isnan(per_image[:, 0]).all():
        raise InputError(f"{benchmark.root}: no ground-truth mask of {benchmark.name} holds any foreground, so J "
                         f"(the headline) is undefined on every image; expected Object Discovery's GroundTruth "
                         f"masks (nonzero = object)")
    metrics = _summarise(benchmark, per_image, bootstrap=bootstrap, seed=seed)
    metrics.update(_provenance(benchmark, source))
    return EvalResult(benchmark, per_image, metrics)


def evaluate_distributed(benchmark: Benchmark, source: PredictionSource, *, rank: int, world: int,
                         reduce_sum: Callable[[np.ndarray], np.ndarray]) -> dict:
    """Metrics when ``world`` processes share the work (training-time validation under
    torchrun): each scores every ``world``-th image into a full-size per-image array of
    zeros, and ``reduce_sum`` (an all_reduce) fills in the rest. In one process
    (``world == 1``, ``reduce_sum`` the identity) this is :func:`evaluate`'s result."""
    mine = range(rank, len(benchmark.samples), world)
    parts = [score_sample(benchmark, source, benchmark.samples[i]) for i in mine]
    shape = (len(benchmark.samples), *(parts[0].shape if parts else _result_shape(benchmark)))
    per_image = np.zeros(shape, dtype=np.int64 if benchmark.kind == "semantic" else np.float64)
    for i, part in zip(mine, parts):
        per_image[i] = part
    metrics = _summarise(benchmark, reduce_sum(per_image), bootstrap=0, seed=0)
    metrics.update(_provenance(benchmark, source))
    return metrics


def _provenance(benchmark: Benchmark, source: PredictionSource) -> dict:
    """Where a result comes from: version, prediction source, data root, time. ``data.synthetic``
    marks ground truth from ``c2fbench data synth`` (its ``synth.json`` sits above the root), so
    reports never place synthetic scores among published ones unmarked."""
    root = Path(benchmark.root).resolve()
    synthetic = any((folder / "synth.json").is_file() for folder in [root, *root.parents][:4])
    return {"c2fbench_version": __version__, "source": source.describe(),
            "data": {"root": str(root), "synthetic": synthetic},
            "time_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}


def _result_shape(benchmark: Benchmark) -> tuple[int, ...]:
    c = len(benchmark.classes)
    return (c, c) if benchmark.kind == "semantic" else (2,)


def _summarise(benchmark: Benchmark, per_image: np.ndarray, *, bootstrap: int, seed: int) -> dict:
    head = {"benchmark": benchmark.name, "num_images": len(benchmark.samples)}
    if benchmark.kind == "semantic":
        matrix = per_image.sum(axis=0)
        metrics = {**head, "num_classes": len(benchmark.classes), "classes": list(benchmark.classes),
                   **semantic_scores(matrix).to_dict(benchmark.classes), "confusion_matrix": matrix.tolist()}
        if bootstrap:
            metrics.update(mIoU_ci95=list(bootstrap_miou(per_image, n=bootstrap, seed=seed)), bootstrap=bootstrap)
        return metrics
    group = np.array([s.group for s in benchmark.samples])
    scores = foreground_scores(benchmark.classes, group, per_image[:, 0], per_image[:, 1])
    metrics = {**head, "classes": list(benchmark.classes), **scores.to_dict(),
               "num_images_without_ground_truth": len(benchmark.skipped)}
    if bootstrap:
        metrics.update(mean_J_ci95=list(bootstrap_mean_j(group, per_image[:, 0], n=bootstrap, seed=seed)),
                       bootstrap=bootstrap)
    return metrics
