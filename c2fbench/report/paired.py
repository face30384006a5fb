"""Paired differences: every two results of one benchmark, compared image by image
(:func:`c2fbench.report.compare.compare_results`), when both folders keep their per-image
results (``per_image.npz``)."""

from __future__ import annotations

from itertools import combinations

from c2fbench.errors import InputError
from c2fbench.report.cells import row_name, signed, signed_interval
from c2fbench.report.compare import compare_results
from c2fbench.report.document import Section, Table
from c2fbench.report.inputs import ReportInput

MAX_PAIRS = 10  # all pairs grow quadratically; the first ten cover a typical report


def paired_section(inputs: list[ReportInput], *, resamples: int = 1000) -> list[Section]:
    scored = [i for i in inputs if i.kind in ("semantic", "foreground") and (i.path.parent / "per_image.npz").is_file()]
    pairs = [(a, b) for a, b in combinations(scored, 2) if a.data["benchmark"] == b.data["benchmark"]]
    if not pairs:
        return []
    rows, skipped = [], []
    for a, b in pairs[:MAX_PAIRS]:
        try:
            result = compare_results(a.path.parent, b.path.parent, n=resamples)
        except InputError as e:  # e.g. scored on different images: not a paired comparison
            skipped.append(f"{a.label} and {b.label}: {e}")
            continue
        low, high = result["difference_ci95"]
        rows.append([row_name(a), row_name(b), result["benchmark"], result["metric"].replace("_", " "),
                     f"{result['a_value']:.2f}", f"{result['b_value']:.2f}", signed(result["difference"], 2),
                     signed_interval(low, high), "yes" if result["excludes_zero"] else "no"])
    blocks = [f"Each pair of results on the same benchmark, A - B, with a paired bootstrap over images "
              f"({resamples} resamples drawing the same images for both): an interval that excludes 0 means the "
              f"difference is more than the choice of images. `c2fbench compare` gives the per-class detail."]
    if rows:
        blocks.append(Table(["A", "B", "benchmark", "metric", "A score", "B score", "A - B", "paired 95% interval",
                             "excludes 0"], rows, caption="Paired differences (points)"))
    if len(pairs) > MAX_PAIRS:
        blocks.append(f"{len(pairs) - MAX_PAIRS} further pairs are left out; compare them with `c2fbench compare`.")
    blocks += [f"Not paired: {message}" for message in skipped]
    return [Section("Paired differences", blocks)]
