"""Score a prediction source on a named benchmark.

The evaluator reads each image's ground truth, asks a *prediction source*
(:mod:`c2fbench.eval.sources`) for its label map, and adds both to the benchmark's metric
object (:func:`new_metric`): a :class:`~c2fbench.metrics.ConfusionMatrix`, or its
foreground twin :class:`~c2fbench.metrics.ForegroundJP`. Folder sources are scored in
chunks by a pool of worker processes, each chunk into a metric object of its own that the
parent merges; integer sums make the matrix identical whatever the number of workers or
the order. Training-time validation (:func:`evaluate_distributed`, each rank scoring its
share and the metric object reduced over ranks) and deploy parity (two metric objects fed
in one pass, :func:`summarise` for each) use the same objects and the same scores.

**Uncertain pixels.** Pseudo-masks mark pixels they do not commit to with 255. That is an
input error by default (as in the devkit), and ``uncertain`` says how to score them
instead (:func:`settle_uncertain`): ``"ignore"`` leaves them out, like void, and the result
reports the *coverage*, the share of non-void ground-truth pixels the mask commits to;
``"background"`` scores them as background, as IRN's ``step/eval_sem_seg.py`` does
(``pred[pred == 255] = 0``).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from c2fbench import __version__
from c2fbench.data.png import VOID, read_label_png, read_mask_png
from c2fbench.errors import InputError
from c2fbench.eval.benchmarks import Benchmark, Sample
from c2fbench.eval.sources import PredictionSource
from c2fbench.metrics.bootstrap import bootstrap_mean_j, bootstrap_miou_stats
from c2fbench.metrics.confusion import ConfusionMatrix
from c2fbench.metrics.foreground import ForegroundJP
from c2fbench.parallel import default_workers, pool

_CHUNK = 24

Metric = ConfusionMatrix | ForegroundJP


def new_metric(benchmark: Benchmark, samples: Sequence[Sample] | None = None, *,
               per_image: bool = True) -> Metric:
    """The empty metric object of ``benchmark`` for ``samples`` (all of them by default): a
    ConfusionMatrix that keeps each image's matrix (the dataset matrix alone when
    ``per_image`` is False), or a ForegroundJP, which always keeps each image's J and P."""
    samples = benchmark.samples if samples is None else samples
    ids = [s.id for s in samples]
    if benchmark.kind == "semantic":
        return ConfusionMatrix(len(benchmark.classes), images=ids if per_image else ())
    return ForegroundJP(benchmark.classes, images=ids, group=[s.group for s in samples])


def read_truth(benchmark: Benchmark, sample: Sample) -> np.ndarray:
    """(H, W) ground truth of ``sample``: class indices (255 void), or a bool foreground mask."""
    return read_label_png(sample.label) if benchmark.kind == "semantic" else read_mask_png(sample.label)


UNCERTAIN = ("ignore", "background")  # how --uncertain scores a prediction's 255


def settle_uncertain(truth: np.ndarray, pred: np.ndarray, uncertain: str) -> tuple[np.ndarray, np.ndarray, int]:
    """``(truth, pred, n)`` with the prediction's uncertain pixels (255) settled: with
    ``"ignore"`` they become void in both maps (0 in the prediction, so no value is out of
    range); with ``"background"`` they are predicted background. ``n`` counts the uncertain
    pixels over non-void ground truth, the pixels coverage leaves out. (H, W) maps.

    >>> t, p, n = settle_uncertain(np.array([[1, 255]]), np.array([[255, 255]]), "ignore")
    >>> t.tolist(), p.tolist(), n
    ([[255, 255]], [[0, 0]], 1)
    """
    unsure = pred == VOID
    if not unsure.any():
        return truth, pred, 0
    n = int(np.count_nonzero(unsure & (truth != VOID)))
    if uncertain == "ignore":
        truth = np.where(unsure, np.asarray(VOID, truth.dtype), truth)
    return truth, np.where(unsure, np.asarray(0, pred.dtype), pred), n


def score(metric: Metric, benchmark: Benchmark, source: PredictionSource, sample: Sample, *,
          uncertain: str | None = None) -> int:
    """Add one image to ``metric``: its ground truth against ``source``'s prediction; returns
    how many of its non-void ground-truth pixels the prediction marks uncertain (255), 0
    without ``uncertain``, where a 255 is refused (naming ``--uncertain``)."""
    truth = read_truth(benchmark, sample)
    pred = source.load(sample, truth.shape, benchmark.kind)
    unsure = 0
    if uncertain is not None and benchmark.kind == "semantic":
        truth, pred, unsure = settle_uncertain(truth, pred, uncertain)
    try:
        metric.update(truth, pred, image_id=sample.id)
    except InputError:
        if benchmark.kind == "semantic" and uncertain is None and (pred == VOID).any():
            raise InputError(f"{sample.id}: prediction holds value 255 (a pseudo-mask's uncertain pixels?), "
                             f"outside the class range 0..{len(benchmark.classes) - 1}; pass --uncertain ignore to "
                             f"score only the pixels it commits to, or --uncertain background to score them as "
                             f"background") from None
        raise
    return unsure


def _scored(benchmark: Benchmark, source: PredictionSource, start: int, stop: int,
            uncertain: str | None = None) -> tuple[Metric, int]:
    """The metric object of ``benchmark.samples[start:stop]``, filled, and their uncertain pixels."""
    samples = benchmark.samples[start:stop]
    metric = new_metric(benchmark, samples)
    unsure = sum(score(metric, benchmark, source, sample, uncertain=uncertain) for sample in samples)
    return metric, unsure


# Worker processes receive the benchmark and source once, at start-up, then index chunks.
_worker_state: tuple | None = None


def _init_worker(benchmark: Benchmark, source: PredictionSource, uncertain: str | None = None) -> None:
    global _worker_state
    import cv2

    cv2.setNumThreads(1)
    _worker_state = (benchmark, source, uncertain)


def _score_chunk(bounds: tuple[int, int]) -> tuple[Metric, int]:
    benchmark, source, uncertain = _worker_state
    return _scored(benchmark, source, *bounds, uncertain=uncertain)


@dataclass
class EvalResult:
    benchmark: Benchmark
    metric: Metric  # filled with every image; it keeps each image's own result
    metrics: dict  # the metrics.json content

    @property
    def per_image(self) -> np.ndarray:
        """(N, C, C) int64 confusion matrices (dense: 2.1 GB on COCO val, where the metric's
        ``cells`` and ``class_stats`` are what to use), or (N, 2) float [J, P] in [0, 1]."""
        return self.metric.per_image

    def finds_no_object(self) -> bool:
        """True when the predictions hold no object anywhere: no pixel of any class but
        background (semantic), or J = 0 on every image that has an object (foreground)."""
        if self.benchmark.kind == "semantic":
            return not self.metric.matrix[:, 1:].any()
        j = self.per_image[:, 0]
        scored = ~np.isnan(j)
        return bool(scored.any()) and not j[scored].any()


def evaluate(benchmark: Benchmark, source: PredictionSource, *, workers: int | None = None,
             bootstrap: int = 0, seed: int = 0, uncertain: str | None = None,
             advance: Callable[[int], None] = lambda n: None) -> EvalResult:
    """Score every sample of ``benchmark``; ``advance(n)`` reports progress. ``uncertain``
    (``"ignore"`` or ``"background"``, semantic benchmarks) scores a prediction's 255
    (see the module docstring)."""
    if uncertain not in (None, *UNCERTAIN):
        raise ValueError(f"uncertain must be one of {UNCERTAIN} or None, not {uncertain!r}")
    workers = workers or default_workers()
    n = len(benchmark.samples)
    chunks = [(i, min(i + _CHUNK, n)) for i in range(0, n, _CHUNK)]
    metric, unsure = new_metric(benchmark), 0
    if workers > 1 and len(chunks) > 1 and source.parallel_safe:
        with pool(min(workers, len(chunks)), initializer=_init_worker,
                  initargs=(benchmark, source, uncertain)) as workers_pool:
            for part, part_unsure in workers_pool.imap_unordered(_score_chunk, chunks):
                metric.merge(part)
                unsure += part_unsure
                advance(len(part.images))
    else:
        for start, stop in chunks:
            part, part_unsure = _scored(benchmark, source, start, stop, uncertain)
            metric.merge(part)
            unsure += part_unsure
            advance(stop - start)
    return summarise(benchmark, metric, source, bootstrap=bootstrap, seed=seed, uncertain=uncertain,
                     uncertain_pixels=unsure)


def summarise(benchmark: Benchmark, metric: Metric, source: PredictionSource, *, bootstrap: int = 0,
              seed: int = 0, uncertain: str | None = None, uncertain_pixels: int = 0) -> EvalResult:
    """The result of a metric object filled with every image of ``benchmark`` (by
    :func:`evaluate`, or deploy parity), refused when nothing in the split could be scored.
    ``uncertain_pixels``: the non-void ground-truth pixels predicted 255 (:func:`score`)."""
    if not benchmark.samples:
        raise InputError(f"{benchmark.root}: {benchmark.name} has no images to score")
    if uncertain == "ignore" and uncertain_pixels and not metric.matrix.any():
        raise InputError(f"{benchmark.root}: every non-void ground-truth pixel of {benchmark.name} is predicted "
                         f"uncertain (255), so --uncertain ignore leaves nothing to score (coverage 0)")
    if benchmark.kind == "semantic" and not metric.matrix.any():
        raise InputError(f"{benchmark.root}: every ground-truth pixel of {benchmark.name} is void (255), so there "
                         f"is nothing to score; expected label maps of class indices 0..{len(benchmark.classes) - 1}")
    if benchmark.kind == "foreground" and np.isnan(metric.per_image[:, 0]).all():
        raise InputError(f"{benchmark.root}: no ground-truth mask of {benchmark.name} holds any foreground, so J "
                         f"(the headline) is undefined on every image; expected Object Discovery's GroundTruth "
                         f"masks (nonzero = object)")
    metrics = _scores(benchmark, metric, bootstrap=bootstrap, seed=seed)
    if uncertain is not None and benchmark.kind == "semantic":
        metrics.update(_coverage(metric, uncertain, uncertain_pixels))
    metrics.update(_provenance(benchmark, source))
    return EvalResult(benchmark, metric, metrics)


def _coverage(metric: ConfusionMatrix, uncertain: str, uncertain_pixels: int) -> dict:
    """metrics.json's ``uncertain`` (the convention), ``coverage`` (percent of non-void
    ground-truth pixels the predictions commit to, i.e. not 255: with ``ignore`` the pixels
    scored) and ``uncertain_pixels`` (the others)."""
    scored = int(metric.matrix.sum())
    total = scored + uncertain_pixels if uncertain == "ignore" else scored  # "background" scored them all
    return {"uncertain": uncertain, "coverage": 100.0 * (total - uncertain_pixels) / total if total else None,
            "uncertain_pixels": uncertain_pixels}


def evaluate_distributed(benchmark: Benchmark, source: PredictionSource, *, rank: int, world: int,
                         reduce_sum: Callable[[np.ndarray], np.ndarray]) -> dict:
    """Metrics when ``world`` processes share the work (training-time validation under
    torchrun): each scores every ``world``-th image into the benchmark's metric object,
    reduced over the processes with ``reduce_sum`` (an all_reduce): the (C, C) matrix of a
    semantic benchmark, the (N, 2) per-image [J, P] of a foreground one. In one process
    (``world == 1``, ``reduce_sum`` the identity) this is :func:`evaluate`'s result."""
    metric = new_metric(benchmark, per_image=False)
    for sample in benchmark.samples[rank::world]:
        score(metric, benchmark, source, sample)
    metric.reduce(reduce_sum)
    metrics = _scores(benchmark, metric, bootstrap=0, seed=0)
    metrics.update(_provenance(benchmark, source))
    return metrics


def _provenance(benchmark: Benchmark, source: PredictionSource) -> dict:
    """Where a result comes from: version, prediction source, data root, time. ``data.synthetic``
    marks ground truth from ``c2fbench data synth`` (its ``synth.json`` sits above the root), so
    reports never place synthetic scores among published ones unmarked."""
    root = Path(benchmark.root).resolve()
    synthetic = any((folder / "synth.json").is_file() for folder in [root, *root.parents][:4])
    data = {"root": str(root), "synthetic": synthetic}
    if benchmark.custom_split:  # the images of --split, not the benchmark's own list
        data["split"] = str(Path(benchmark.split_file).resolve())
    return {"c2fbench_version": __version__, "source": source.describe(), "data": data,
            "time_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}


def _scores(benchmark: Benchmark, metric: Metric, *, bootstrap: int, seed: int) -> dict:
    """metrics.json's scores (without provenance); bootstrap intervals need per-image results."""
    head = {"benchmark": benchmark.name, "num_images": len(benchmark.samples)}
    if benchmark.kind == "semantic":
        metrics = {**head, "num_classes": len(benchmark.classes), "classes": list(benchmark.classes),
                   **metric.compute().to_dict(benchmark.classes), "confusion_matrix": metric.matrix.tolist()}
        if bootstrap:
            metrics.update(mIoU_ci95=list(bootstrap_miou_stats(metric.class_stats(sparse=True), n=bootstrap,
                                                                seed=seed)),
                           bootstrap=bootstrap)
        return metrics
    metrics = {**head, "classes": list(benchmark.classes), **metric.compute().to_dict(),
               "num_images_without_ground_truth": len(benchmark.skipped)}
    if bootstrap:
        metrics.update(mean_J_ci95=list(bootstrap_mean_j(metric.group, metric.per_image[:, 0], n=bootstrap,
                                                         seed=seed)),
                       bootstrap=bootstrap)
    return metrics
