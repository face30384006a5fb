"""CAM seeds scored on a semantic benchmark, at one background threshold or a sweep of them.

``eval voc-train --cams DIR --threshold 0.05:0.95:0.05`` reads ``DIR/<id>.npy`` in any of
the formats of :mod:`c2fbench.eval.cams` and labels each pixel by argmax over
[background, the file's classes]: ties go to background, then to the lower class index
(what ``np.argmax`` does on IRN's stack padded with the threshold, background first).
Background is the threshold t (a pixel is foreground where its best class scores
``> t``, t rounded to the scores' dtype: float32 for IRN's maps), or PSA's
``(1 - max_c CAM_c) ** alpha`` (``--bg-power``). A plain (20, H, W) array is restricted to
the classes of the image's ground truth (IRN's ``cls_labels.npy`` comes from the XML
annotations; on the segmentation splits the two agree); a (21, H, W) array with its own
background channel is a full score map, labelled by its argmax at every threshold.

Each file is read and decoded once; every threshold is scored in the same pass
(:class:`~c2fbench.metrics.sweep.ThresholdSweep`), so a sweep of 19 thresholds costs about
one pass (benchmarks/cam_sweep.py). The result is an ordinary eval result at the best
threshold (highest mIoU, the lower threshold on a tie), with ``cam_sweep``,
``best_threshold`` and per-class precision and recall added to metrics.json.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Callable

import numpy as np

from c2fbench.errors import InputError
from c2fbench.eval.benchmarks import Benchmark, Sample
from c2fbench.eval.cams import FORMATS, read_cam

MAX_THRESHOLDS = 1001


def parse_thresholds(text: str) -> tuple[float, ...]:
    """``START:STOP:STEP`` as the thresholds START, START + STEP, ... up to STOP included,
    each the double nearest its decimal value (``0.05:0.95:0.05`` gives 0.05, 0.1, 0.15, ...
    0.95, 19 values, without 0.15000000000000002)."""
    parts = text.split(":")
    try:
        start, stop, step = (Decimal(p.strip()) for p in parts)
    except (ValueError, InvalidOperation):
        raise ValueError(f"{text!r}: expected START:STOP:STEP (e.g. 0.05:0.95:0.05)") from None
    if not all(d.is_finite() for d in (start, stop, step)) or step <= 0 or stop < start:
        raise ValueError(f"{text!r}: expected START <= STOP and STEP > 0")
    count = int((stop - start) / step) + 1
    if count > MAX_THRESHOLDS:
        raise ValueError(f"{text!r}: {count} thresholds, more than {MAX_THRESHOLDS}")
    return tuple(float(start + i * step) for i in range(count))


@dataclass(frozen=True)
class CamSeeds:
    """A folder of ``<id>.npy`` CAMs, and how background is decided: ``thresholds``
    (ascending) or ``bg_power`` (one of them, or neither for files with their own background)."""

    root: Path
    fmt: str = "auto"
    thresholds: tuple[float, ...] | None = None
    bg_power: float | None = None
    parallel_safe: bool = field(default=True, init=False)

    def __post_init__(self) -> None:
        if self.fmt not in FORMATS:
            raise InputError(f"--cam-format {self.fmt}: expected one of {', '.join(FORMATS)}")
        if self.thresholds is not None and self.bg_power is not None:
            raise InputError("give --threshold or --bg-power, not both")

    def describe(self) -> dict:
        described = {"cams": str(Path(self.root).resolve()), "cam_format": self.fmt}
        if self.bg_power is not None:
            return {**described, "bg_power": self.bg_power}
        return {**described, "thresholds": list(self.thresholds or ())}

    def path(self, sample: Sample) -> Path:
        return Path(self.root) / f"{sample.id}.npy"

    def check(self, benchmark: Benchmark) -> list[str]:
        """Refuse a foreground benchmark or a folder that lacks a CAM; warn of extra files."""
        if benchmark.kind != "semantic":
            raise InputError(f"--cams applies to the semantic benchmarks (voc-*, coco-val), not {benchmark.name}")
        if not Path(self.root).is_dir():
            raise InputError(f"{self.root}: CAM folder not found")
        present = {n[:-4] for n in os.listdir(self.root) if n.endswith(".npy")}
        missing = [s.id for s in benchmark.samples if s.id not in present]
        if missing:
            raise InputError(f"{self.root}: {len(missing)} of {len(benchmark.samples)} CAMs missing (first: "
                             f"{missing[0]}.npy; expected <id>.npy for every id of {benchmark.name})")
        extra = len(present) - len(benchmark.samples)
        return [f"{self.root}: ignored {extra} .npy files that are not in {benchmark.name}"] if extra > 0 else []

    def seed(self, sample: Sample, gt: np.ndarray, num_foreground: int) -> tuple[np.ndarray, np.ndarray, str]:
        """(H, W) score of the winning class, (H, W) uint8 winner (class index, background
        0), and what was read (``"irn"``, ``"irn-upsampled"``, ``"seam"``, ``"dense"``,
        ``"dense-background"``). The score is +inf where no threshold decides the label
        (a file's own background channel, ``bg_power``), -inf on an image without classes."""
        path = self.path(sample)
        cam = read_cam(path, gt.shape, num_foreground, fmt=self.fmt)
        if cam.background is not None:  # a full score map: argmax over all channels, background first
            stack = np.concatenate([cam.background[None], cam.scores])
            return np.full(gt.shape, np.inf), np.argmax(stack, axis=0).astype(np.uint8), "dense-background"
        classes, scores = cam.classes, cam.scores
        if cam.format == "dense":  # the image's own classes, from its ground truth
            present = np.unique(gt)
            classes = present[(present > 0) & (present <= num_foreground)].astype(np.int64) - 1
            scores = scores[classes]
        kind = cam.format + ("-upsampled" if cam.upsampled else "")
        if classes.size == 0:
            return np.full(gt.shape, -np.inf), np.zeros(gt.shape, np.uint8), kind
        best, winner = _max_and_winner(scores, classes + 1)
        if self.bg_power is not None:  # PSA: argmax over [(1 - max)^alpha, CAMs], ties (and NaN) to background
            with np.errstate(invalid="ignore"):
                bg = (1 - best) ** self.bg_power
            winner[(bg >= best) | np.isnan(bg)] = 0
            return np.full(gt.shape, np.inf), winner, kind
        if self.thresholds is None:
            raise InputError(f"{path}: foreground-only CAMs need --threshold T (or START:STOP:STEP) or "
                             f"--bg-power ALPHA")
        return best, winner, kind


def _max_and_winner(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(H, W) highest score of (K, H, W) ``scores`` and the (H, W) uint8 ``labels`` entry of
    its channel, the first on a tie (``np.argmax``'s rule), one channel at a time: for the
    few classes of an image, 4x faster than ``argmax(axis=0)`` over the strided axis."""
    best = scores[0].copy()
    winner = np.full(best.shape, labels[0], dtype=np.uint8)
    better = np.empty(best.shape, dtype=bool)
    for channel, label in zip(scores[1:], labels[1:]):
        np.greater(channel, best, out=better)  # strictly: a tie keeps the earlier (lower) class
        winner[better] = label
        np.maximum(best, channel, out=best)
    return best, winner


# -- the sweep ------------------------------------------------------------------------------

_CHUNK = 24
_worker_state: tuple | None = None


def _new_sweep(benchmark: Benchmark, source: CamSeeds, samples):
    from c2fbench.metrics.sweep import ThresholdSweep

    return ThresholdSweep(len(benchmark.classes), source.thresholds or (0.0,), images=[s.id for s in samples])


def _swept(benchmark: Benchmark, source: CamSeeds, start: int, stop: int):
    from c2fbench.data.png import read_label_png

    samples = benchmark.samples[start:stop]
    sweep, kinds = _new_sweep(benchmark, source, samples), Counter()
    for sample in samples:
        gt = read_label_png(sample.label)
        score, winner, kind = source.seed(sample, gt, len(benchmark.classes) - 1)
        sweep.update(gt, score, winner, image_id=sample.id)
        kinds[kind] += 1
    return sweep, kinds


def _init_worker(benchmark: Benchmark, source: CamSeeds) -> None:
    global _worker_state
    import cv2

    cv2.setNumThreads(1)
    _worker_state = (benchmark, source)


def _sweep_chunk(bounds: tuple[int, int]):
    return _swept(*_worker_state, *bounds)


def sweep_cams(benchmark: Benchmark, source: CamSeeds, *, workers: int | None = None, bootstrap: int = 0,
               seed: int = 0, advance: Callable[[int], None] = lambda n: None,
               inform: Callable[[str], None] = lambda message: None):
    """Score ``source``'s CAMs on every sample of ``benchmark`` at each threshold; returns
    the :class:`~c2fbench.eval.evaluator.EvalResult` at the best one, its metrics with
    ``cam_sweep``, ``best_threshold``, ``per_class_precision`` and ``per_class_recall``.
    ``inform`` receives the notes a user should see (IRN CAMs upsampled, files with their
    own background)."""
    from c2fbench.eval.evaluator import summarise
    from c2fbench.metrics.semantic import semantic_scores
    from c2fbench.parallel import default_workers, pool

    workers = workers or default_workers()
    n = len(benchmark.samples)
    chunks = [(i, min(i + _CHUNK, n)) for i in range(0, n, _CHUNK)]
    total, kinds = _new_sweep(benchmark, source, benchmark.samples), Counter()
    if workers > 1 and len(chunks) > 1:
        with pool(min(workers, len(chunks)), initializer=_init_worker, initargs=(benchmark, source)) as p:
            parts = p.imap_unordered(_sweep_chunk, chunks)
            for part, part_kinds in parts:
                total.merge(part)
                kinds.update(part_kinds)
                advance(len(part.images))
    else:
        for start, stop in chunks:
            part, part_kinds = _swept(benchmark, source, start, stop)
            total.merge(part)
            kinds.update(part_kinds)
            advance(stop - start)
    for message in _notes(source, kinds):
        inform(message)
    matrices = total.compute()
    sweep = [{"threshold": float(t), **_headline(semantic_scores(m))} for t, m in zip(total.thresholds, matrices)]
    best = _best(sweep)
    result = summarise(benchmark, total.at(best), source, bootstrap=bootstrap, seed=seed)
    metrics = result.metrics
    if source.bg_power is None and source.thresholds is not None:
        metrics.update(best_threshold=sweep[best]["threshold"], cam_sweep=sweep)
    metrics.update(_precision_recall(matrices[best], benchmark.classes))
    metrics["cam_files"] = dict(sorted(kinds.items()))
    return result


def _headline(scores) -> dict:
    return {name: (None if np.isnan(v) else float(v)) for name, v in
            (("mIoU", scores.miou), ("aAcc", scores.aacc), ("mAcc", scores.macc), ("fwIoU", scores.fwiou))}


def _best(sweep: list[dict]) -> int:
    """The index of the highest mIoU; the lower threshold on a tie (thresholds ascend)."""
    values = [-np.inf if s["mIoU"] is None else s["mIoU"] for s in sweep]
    return int(np.argmax(values))


def _precision_recall(matrix: np.ndarray, classes) -> dict:
    """Per-class precision (of the pixels labelled c, the share that are c) and recall (of
    the pixels that are c, the share labelled c), in percent; null where undefined."""
    m = np.asarray(matrix, dtype=np.float64)
    tp, predicted, actual = np.diagonal(m), m.sum(axis=0), m.sum(axis=1)

    def ratio(a, b):
        return {name: (None if d == 0 else 100 * float(x) / float(d)) for name, x, d in zip(classes, a, b)}

    return {"per_class_precision": ratio(tp, predicted), "per_class_recall": ratio(tp, actual)}


def _notes(source: CamSeeds, kinds: Counter) -> list[str]:
    notes = []
    if kinds["irn-upsampled"]:
        notes.append(f"{kinds['irn-upsampled']} IRN CAM files hold no 'high_res': their strided 'cam' was upsampled "
                     f"bilinearly to the image size, as IRN does (results differ slightly from high_res)")
    if kinds["dense-background"] and (source.thresholds or source.bg_power is not None):
        notes.append(f"{kinds['dense-background']} CAM files hold their own background channel (21 channels): "
                     f"labelled by their argmax, whatever the threshold or --bg-power")
    return notes
