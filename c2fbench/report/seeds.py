"""CAM seed sweeps: seed mIoU against the background threshold, one curve per result that
``eval --cams --threshold START:STOP:STEP`` wrote (its ``cam_sweep`` and ``best_threshold``)."""

from __future__ import annotations

import math

from c2fbench.report import figures
from c2fbench.report.cells import DASH, fmt, row_name
from c2fbench.report.document import Data, Figure, Section, Table
from c2fbench.report.inputs import ReportInput


def _sweep(item: ReportInput) -> list[dict] | None:
    """The result's ``cam_sweep`` when it is a list of two or more {threshold, mIoU} numbers."""
    sweep = item.data.get("cam_sweep") if item.kind == "semantic" else None
    if not isinstance(sweep, list) or len(sweep) < 2:
        return None
    points = []
    for point in sweep:
        t, m = (point.get("threshold"), point.get("mIoU")) if isinstance(point, dict) else (None, None)
        if not isinstance(t, (int, float)) or not math.isfinite(t) or not (m is None or isinstance(m, (int, float))):
            return None
        points.append({"threshold": float(t), "mIoU": None if m is None else float(m)})
    return points


def _threshold(value) -> str:
    return f"{value:g}" if isinstance(value, (int, float)) else DASH


def cam_sweep_section(inputs: list[ReportInput]) -> list[Section]:
    swept = [(item, points) for item in inputs if (points := _sweep(item)) is not None]
    if not swept:
        return []
    rows = [[row_name(item), str(item.data.get("benchmark", "")), _threshold(item.data.get("best_threshold")),
             fmt(item.data.get("mIoU"))] for item, _ in swept]
    data = Data("cam_sweep", ["result", "benchmark", "threshold", "mIoU"],
                [[row_name(item), item.data.get("benchmark", ""), p["threshold"], p["mIoU"]]
                 for item, points in swept for p in points], source=["yours"] * sum(len(p) for _, p in swept),
                caption="CAM seed mIoU (%) at each threshold")
    curves = [(f"{row_name(item)} ({item.data.get('benchmark', '')})", points) for item, points in swept]
    return [Section("CAM seeds: the threshold sweep", [
        "Seed mIoU of CAMs (`eval --cams`) at each background threshold: a pixel is background where no class "
        "of the image scores above the threshold. The star marks the best threshold (the lower one on a tie), "
        "at which the result's other scores are given.",
        Table(["result", "benchmark", "best threshold", "mIoU at it"], rows, set(range(len(rows))),
              caption="Best threshold of each sweep", data=data),
        Figure("cam-sweep", figures.cam_sweep_png(curves), "Seed mIoU (%) against the background threshold."),
    ])]
