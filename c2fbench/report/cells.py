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


def with_ci(value, ci) -> str:
    return fmt(value) if not ci else f"{fmt(value)} [{ci[0]:.1f}, {ci[1]:.1f}]"


def is_synthetic(metrics: dict) -> bool:
    return bool((metrics.get("data") or {}).get("synthetic"))


def row_name(item: ReportInput) -> str:
    return item.label + (" (synthetic)" if is_synthetic(item.data) else "")


def model_name(metrics: dict) -> str:
    """The file name of the model a result was scored with, or a dash."""
    return Path((metrics.get("source") or {}).get("model", DASH)).name


def headline(metrics: dict) -> tuple[str, float]:
    """(name, value) of a result's main score: mIoU, or mean J for a foreground result."""
    return ("mIoU", metrics["mIoU"]) if "mIoU" in metrics else ("mean J", metrics["mean_J"])
