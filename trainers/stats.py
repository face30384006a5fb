"""What a round records in metrics.jsonl besides its losses: the validation score, the
statistics of the masks it trained on, and of its predictions on the training images.

``run`` is a :class:`trainers.recursive.Run` (config, run directory, samples, ranks).
"""

from __future__ import annotations

import numpy as np

from c2fbench.jsonfile import read_json_object

__all__ = ["CountingPredictions", "mask_stats", "prediction_stats", "sum_over_ranks", "validate"]


def validate(run, model, r: int) -> tuple[dict, int]:
    """(the val benchmark's metrics.json content, scored by the evaluator of ``c2fbench eval``;
    the number of pixels predicted as an object class or foreground, over all ranks).

    In one process the whole eval folder is kept as ``round-XX/eval`` (metrics.json,
    per_image.npz, confusion.csv: ``c2fbench eval --out``'s), so that ``c2fbench compare``
    of two rounds, paired over images, needs no rerun; under torchrun only the metrics."""
    from c2fbench.eval.benchmarks import load_benchmark
    from c2fbench.eval.evaluator import evaluate, evaluate_distributed
    from c2fbench.eval.results import write_eval
    from c2fbench.eval.sources import ModelPredictions
    from trainers.distributed import all_reduce_sum

    bench = load_benchmark(run.cfg.val_benchmark, run.cfg.val_root)
    source = CountingPredictions(ModelPredictions(run.runtime(model)))
    if run.dist.world == 1:
        result = evaluate(bench, source, workers=1)
        write_eval(run.eval_path(r), result)
        return result.metrics, source.foreground
    metrics = evaluate_distributed(bench, source, rank=run.dist.rank, world=run.dist.world,
                                   reduce_sum=lambda a: all_reduce_sum(run.dist, a))
    return metrics, sum_over_ranks(run, source.foreground)


class CountingPredictions:
    """A prediction source that counts the pixels predicted as anything but background
    (class 0, or "not foreground"), passing everything else through."""

    def __init__(self, source) -> None:
        self.source, self.foreground = source, 0

    def __getattr__(self, name):
        return getattr(self.source, name)

    def load(self, sample, shape, kind):
        prediction = self.source.load(sample, shape, kind)
        self.foreground += int(np.count_nonzero(prediction))
        return prediction


def sum_over_ranks(run, count: int) -> int:
    from trainers.distributed import all_reduce_sum

    return int(all_reduce_sum(run.dist, np.array([count], dtype=np.int64))[0])


def mask_stats(run, r: int) -> dict:
    """Statistics of the masks a round trained on; with hidden ground truth (the synthetic
    benchmark's imagenet/masks), their IoU with it."""
    summary_path = run.masks(r) / "summary.json"
    summary = read_json_object(summary_path, "masks summary") if summary_path.is_file() else {}
    stats = summary.get("stats", {})
    result = {"round": r, "dropped": stats.get("dropped_small", 0) + stats.get("dropped_large", 0), "events": stats}
    if run.dist.is_main:
        result["dropped_by_class"] = _dropped_by_class(run, r)
    truth = run.images.parent / "masks"
    if truth.is_dir() and run.dist.is_main:
        from c2fbench.masks.quality import score_masks

        quality = score_masks(run.masks(r), truth, ids=[s.rel for s in run.samples])
        result.update(iou=quality["mean_iou"], dataset_iou=quality["dataset_iou"])
    return result


def _dropped_by_class(run, r: int) -> dict[str, int]:
    """Images whose round-``r`` mask is all void (dropped by (a)), counted by category."""
    from collections import Counter

    from c2fbench.masks.categories import category_of
    from c2fbench.masks.quality import read_foreground

    names = run.classes if run.cfg.task == "semantic" else ["background", *run.classes]  # foreground: category 1
    counts = Counter(names[category_of(s.rel, run.wnid_labels)] for s in run.samples
                     if read_foreground(run.masks(r) / f"{s.rel}.png") is None)
    return dict(sorted(counts.items()))


def prediction_stats(run, r: int) -> dict:
    """How good round ``r``'s predictions on the training images are before refinement:
    with hidden ground truth, the IoU of each image's own category (before (a) and (c))."""
    truth = run.images.parent / "masks"
    if not (truth.is_dir() and run.dist.is_main):
        return {}
    from c2fbench.masks.categories import category_of
    from c2fbench.masks.quality import score_masks

    ids = [s.rel for s in run.samples]
    categories = {i: category_of(i, run.wnid_labels) for i in ids}
    quality = score_masks(run.predictions(r), truth, ids=ids, categories=categories)
    return {"iou": quality["mean_iou"], "dataset_iou": quality["dataset_iou"], "empty": quality["empty_masks"]}


