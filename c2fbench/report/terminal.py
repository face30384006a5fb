"""Rich tables of a results dict on the terminal."""

from __future__ import annotations

from rich.table import Table

from c2fbench.console import out


def _fmt(v) -> str:
    return "—" if v is None else f"{v:.2f}"


def print_metrics(metrics: dict) -> None:
    """Per-class table and summary for a semantic or foreground results dict."""
    if "per_class_iou" in metrics:
        table = Table(title=f"{metrics['benchmark']}: per-class IoU (%)", show_edge=False)
        table.add_column("class")
        table.add_column("IoU", justify="right")
        table.add_column("acc", justify="right")
        for name, iou in metrics["per_class_iou"].items():
            table.add_row(name, _fmt(iou), _fmt(metrics["per_class_acc"][name]))
        out.print(table)
        summary = (f"mIoU {_fmt(metrics['mIoU'])}   aAcc {_fmt(metrics['aAcc'])}   "
                   f"mAcc {_fmt(metrics['mAcc'])}   fwIoU {_fmt(metrics['fwIoU'])}   "
                   f"({metrics['num_images']} images)")
        if "mIoU_ci95" in metrics:
            low, high = metrics["mIoU_ci95"]
            summary += f"\nmIoU 95% interval [{low:.2f}, {high:.2f}] ({metrics['bootstrap']} bootstrap resamples)"
        out.print(summary)
        return
    table = Table(title=f"{metrics['benchmark']}: foreground J and P (%)", show_edge=False)
    for column in ("class", "J", "P", "images", "scored for J"):
        table.add_column(column, justify="left" if column == "class" else "right")
    for name, row in metrics["per_class"].items():
        table.add_row(name, _fmt(row["J"]), _fmt(row["P"]), str(row["num_images"]), str(row["num_images_scored_J"]))
    table.add_row("mean", _fmt(metrics["mean_J"]), _fmt(metrics["mean_P"]), str(metrics["num_images"]), "")
    out.print(table)
    if "mean_J_ci95" in metrics:
        low, high = metrics["mean_J_ci95"]
        out.print(f"mean J 95% interval [{low:.2f}, {high:.2f}] ({metrics['bootstrap']} bootstrap resamples)")
