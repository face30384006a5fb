"""Accuracy parity: a checkpoint and its deployed form scored by the same evaluator.

Every benchmark image goes through both runtimes once, and each label map goes at once into
a metric object of its own (:func:`c2fbench.eval.evaluator.new_metric`), so that both
results come from the metric objects and :func:`~c2fbench.eval.evaluator.summarise` that
``c2fbench eval`` uses, and no label map is kept. On the way, the logits of the two are
compared on every image (max |diff| and argmax agreement over all pixels), polygraphy-style.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from deploy import DEFAULT_TOLERANCE


class _Pair:
    """Runs ``reference`` and ``deployed`` on each image: both label maps, and the agreement
    of their logits summed over the images."""

    def __init__(self, reference, deployed) -> None:
        from c2fbench.eval.sources import ModelPredictions

        self.reference, self.deployed = reference, deployed
        # the prediction sources `c2fbench eval --model` would use: their checks and provenance
        self.sources = ModelPredictions(reference), ModelPredictions(deployed)
        self.stats = {"pixels": 0, "agree": 0, "max_abs_diff": 0.0, "sum_abs_diff": 0.0, "values": 0}

    def check(self, benchmark) -> list[str]:
        return self.sources[0].check(benchmark) + self.sources[1].check(benchmark)

    def labels(self, sample, kind: str) -> tuple[np.ndarray, np.ndarray]:
        """(reference, deployed) label maps of ``sample``: class indices, or bool masks."""
        from c2fbench.data.images import read_rgb
        from c2fbench.predict import checked_logits
        from deploy.export import label_maps

        rgb = read_rgb(sample.image)
        ref, dep = checked_logits(self.reference, rgb), checked_logits(self.deployed, rgb)
        diff = np.abs(ref.astype(np.float64) - dep)
        # argmax of the logits is predict_label's argmax of softmax (and "logit > 0" its sigmoid)
        ref_label, dep_label = label_maps(ref[None])[0], label_maps(dep[None])[0]
        agree = ref_label == dep_label
        s = self.stats
        s["pixels"], s["agree"] = s["pixels"] + agree.size, s["agree"] + int(agree.sum())
        s["max_abs_diff"] = max(s["max_abs_diff"], float(diff.max()))
        s["sum_abs_diff"], s["values"] = s["sum_abs_diff"] + float(diff.sum()), s["values"] + diff.size
        ref_label, dep_label = ref_label.astype(np.uint8), dep_label.astype(np.uint8)
        return (ref_label, dep_label) if kind == "semantic" else (ref_label > 0, dep_label > 0)


def check_pair(reference, deployed, benchmark) -> None:
    """InputError unless both runtimes name the same classes and fit ``benchmark`` (its
    classes by name for a semantic benchmark, one foreground channel for mit-*), checked
    before any image is run."""
    from c2fbench.models.metadata import check_expected_classes

    check_expected_classes(list(deployed.classes), reference.classes, where=f"{deployed.source.get('model')}: ",
                           what="deployed model", by="its reference has")
    _Pair(reference, deployed).check(benchmark)


def parity(reference, deployed, benchmark, *, tolerance: float = DEFAULT_TOLERANCE,
           advance=lambda n: None) -> dict:
    """Score two runtimes on ``benchmark``: ``{"reference": metrics, "deployed": metrics,
    "metric", "delta" (deployed - reference, points), "within_tolerance", "logits": {...}}``.
    Refused (InputError) before any image runs when :func:`check_pair` refuses."""
    from c2fbench.eval.evaluator import new_metric, read_truth, summarise

    check_pair(reference, deployed, benchmark)
    pair = _Pair(reference, deployed)
    ref_metric, dep_metric = new_metric(benchmark), new_metric(benchmark)
    for sample in benchmark.samples:
        truth = read_truth(benchmark, sample)
        ref_label, dep_label = pair.labels(sample, benchmark.kind)
        ref_metric.update(truth, ref_label, image_id=sample.id)
        dep_metric.update(truth, dep_label, image_id=sample.id)
        advance(1)
    ref = summarise(benchmark, ref_metric, pair.sources[0]).metrics
    dep = summarise(benchmark, dep_metric, pair.sources[1]).metrics
    key = "mIoU" if benchmark.kind == "semantic" else "mean_J"
    s = pair.stats
    delta = float(dep[key] - ref[key])
    return {"benchmark": benchmark.name, "metric": key, "reference": ref, "deployed": dep, "delta": delta,
            "tolerance": tolerance, "within_tolerance": abs(delta) <= tolerance,
            "logits": {"max_abs_diff": s["max_abs_diff"], "mean_abs_diff": s["sum_abs_diff"] / max(s["values"], 1),
                       "argmax_agreement": 100.0 * s["agree"] / max(s["pixels"], 1)}}


def summary_rows(result: dict) -> list[tuple[str, str]]:
    """(label, value) rows for the terminal."""
    key, logits = result["metric"], result["logits"]
    return [("benchmark", result["benchmark"]),
            (f"reference {key}", f"{result['reference'][key]:.3f}"),
            (f"deployed {key}", f"{result['deployed'][key]:.3f}"),
            ("delta (points)", f"{result['delta']:+.3f} (tolerance {result['tolerance']})"),
            ("logits max |diff|", f"{logits['max_abs_diff']:.2e}"),
            ("argmax agreement %", f"{logits['argmax_agreement']:.4f}"),
            ("reference", str(Path(result['reference']['source'].get('model', '?')).name)),
            ("deployed", str(Path(result['deployed']['source'].get('model', '?')).name))]


def write_parity(out: Path, result: dict) -> Path:
    """``out/parity.json``, atomically."""
    import json

    from c2fbench.atomic import atomic_write_text

    path = Path(out) / "parity.json"
    atomic_write_text(path, json.dumps(result, indent=2) + "\n")
    return path
