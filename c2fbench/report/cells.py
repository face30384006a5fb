"""Table cells and row names shared by the report's sections."""

from __future__ import annotations

from pathlib import Path

from c2fbench.report.inputs import ReportInput

DASH = "—"
SYNTHETIC_NOTE = ("Rows marked (synthetic) were scored on c2fbench's synthetic benchmark (`c2fbench data synth`), "
                  "not on PASCAL VOC or Object Discovery: their place among published numbers shows the mechanics "
                  "of the comparison, not a comparison.")


def fmt(value, digits: int = 1) -> str:
    return DASH if value is None else f"{value:.{digits}f}"


def signed(value, digits: int = 1) -> str:
    return DASH if value is None else f"{value:+.{digits}f}"


def signed_interval(low: float, high: float, digits: int = 2) -> str:
    """``[+0.12, +3.40]``, with more digits (up to 6) where a bound that is not 0 would print
    as 0.00: a paired interval said to exclude 0 must not read ``[+0.00, ...]``."""
    while digits < 6 and any(v != 0 and round(v, digits) == 0 for v in (low, high)):
        digits += 1
    return f"[{low:+.{digits}f}, {high:+.{digits}f}]"


def with_ci(value, ci) -> str:
    return fmt(value) if not ci else f"{fmt(value)} [{ci[0]:.1f}, {ci[1]:.1f}]"


def is_synthetic(metrics: dict) -> bool:
    return bool((metrics.get("data") or {}).get("synthetic"))


def input_is_synthetic(item: ReportInput) -> bool:
    """An eval scored on the synthetic benchmark, or a training run validated on it."""
    if item.kind == "run":
        return any(is_synthetic(line["val"]) for line in item.data["rounds"] if "val" in line)
    return is_synthetic(item.data)


def scoring_marks(metrics: dict) -> str:
    """What sets an eval's score apart from a full-benchmark one: uncertain pixels left out
    (with the coverage) or scored as background (``eval --uncertain``), a ``--split`` list."""
    marks = []
    if metrics.get("uncertain") == "ignore":
        marks.append(f"coverage {fmt(metrics.get('coverage'))}%")
    elif metrics.get("uncertain") == "background":
        marks.append("uncertain as background")
    split = (metrics.get("data") or {}).get("split")
    if split:
        marks.append(f"split {Path(split).name}")
    return "".join(f" ({m})" for m in marks)


def row_name(item: ReportInput) -> str:
    marks = scoring_marks(item.data) if item.kind in ("semantic", "foreground") else ""
    return item.label + (" (synthetic)" if input_is_synthetic(item) else "") + marks


def short_path(path: str) -> str:
    """A model file with its folder, ``run-a/final.pt``: every run's checkpoint is final.pt."""
    p = Path(path)
    return f"{p.parent.name}/{p.name}" if p.parent.name else p.name


def model_name(metrics: dict) -> str:
    """The model a result was scored with (its folder and file name), or a dash."""
    model = (metrics.get("source") or {}).get("model")
    return short_path(model) if model else DASH


def headline(metrics: dict) -> tuple[str, float]:
    """(name, value) of a result's main score: mIoU, or mean J for a foreground result."""
    return ("mIoU", metrics["mIoU"]) if "mIoU" in metrics else ("mean J", metrics["mean_J"])
