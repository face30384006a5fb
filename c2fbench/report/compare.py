"""``c2fbench compare A B``: two results of the same benchmark, per class and paired.

The interval of the difference comes from a paired bootstrap over images: each resample
draws the same images for both results, so what they share (which images are hard) cancels
out, and the interval says whether the difference is more than the choice of images.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from c2fbench.errors import InputError
from c2fbench.eval.results import read_per_image, semantic_stats
from c2fbench.metrics.bootstrap import paired_bootstrap_mean_j, paired_bootstrap_miou_stats
from c2fbench.report.inputs import read_metrics


def compare_results(a: Path, b: Path, *, n: int = 1000, seed: int = 0) -> dict:
    """Per-class differences (A - B, points) and the paired 95% interval of the headline.

    Each folder's ``per_image.npz`` must belong with its ``metrics.json``
    (:func:`c2fbench.eval.results.read_per_image`), and the two folders must hold the same
    images of the same benchmark. The interval is of the very difference reported (each
    headline over its own full-data classes, see :mod:`c2fbench.metrics.bootstrap`), and
    ``excludes_zero`` is read from that interval.
    """
    ma, mb = read_metrics(a), read_metrics(b)
    if ma.get("benchmark") != mb.get("benchmark"):
        raise InputError(f"{a} is {ma.get('benchmark')} but {b} is {mb.get('benchmark')}: compare one benchmark")
    pa, pb = read_per_image(a, ma), read_per_image(b, mb)
    if list(pa["ids"]) != list(pb["ids"]):
        only = sorted(set(pa["ids"]) ^ set(pb["ids"]))
        raise InputError(f"{b}: its images differ from {a}'s"
                         + (f" ({len(only)} ids in one only, first: {only[0]})" if only else " (order)"))
    if "confusion_matrix" in ma:
        if ma.get("classes") != mb.get("classes") or "confusion_matrix" not in mb:
            raise InputError(f"{b}: its classes differ from {a}'s")
        c = ma["num_classes"]
        low, high = paired_bootstrap_miou_stats(semantic_stats(pa, c), semantic_stats(pb, c), n=n, seed=seed)
        per_class = {k: _diff(v, mb["per_class_iou"].get(k)) for k, v in ma["per_class_iou"].items()}
        headline, values = "mIoU", (ma["mIoU"], mb["mIoU"])
    else:
        if not np.array_equal(pa["group"], pb["group"]) or not np.array_equal(np.isnan(pa["J"]), np.isnan(pb["J"])):
            raise InputError(f"{b}: its images have other classes or other ground truth than {a}'s "
                             f"(J scored on different images)")
        low, high = paired_bootstrap_mean_j(pa["group"], pa["J"], pb["J"], n=n, seed=seed)
        per_class = {k: _diff(v["J"], (mb["per_class"].get(k) or {}).get("J")) for k, v in ma["per_class"].items()}
        headline, values = "mean_J", (ma["mean_J"], mb["mean_J"])
    return {"benchmark": ma["benchmark"], "a": str(a), "b": str(b), "metric": headline, "a_value": values[0],
            "b_value": values[1], "difference": _diff(*values), "difference_ci95": [low, high],
            "excludes_zero": bool(low > 0 or high < 0), "bootstrap": n, "per_class_difference": per_class,
            "num_images": int(len(pa["ids"]))}


def _diff(x, y):
    return None if x is None or y is None else x - y
