"""matplotlib figures (Agg backend, so no display is needed)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from c2fbench.data.atomic import atomic_write_bytes


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig) -> bytes:
    """The figure as PNG bytes; the figure is closed."""
    plt = _pyplot()
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()


def confusion_heatmap_png(matrix: np.ndarray, classes, *, title: str = "") -> bytes:
    """Row-normalised confusion matrix (percent of each ground-truth class), like the paper's Fig. 7."""
    plt = _pyplot()
    m = np.asarray(matrix, dtype=np.float64)
    rows = m.sum(axis=1, keepdims=True)
    norm = np.divide(100 * m, rows, out=np.zeros_like(m), where=rows > 0)
    n = len(classes)
    size = max(4.0, 0.42 * n + 2)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    image = ax.imshow(norm, cmap="Blues", vmin=0, vmax=100)
    ax.set_xticks(range(n), labels=classes, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(n), labels=classes, fontsize=8)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("ground-truth class")
    if title:
        ax.set_title(title)
    if n <= 25:
        for i in range(n):
            for j in range(n):
                if norm[i, j] >= 1:
                    ax.text(j, i, f"{norm[i, j]:.0f}", ha="center", va="center", fontsize=6,
                            color="white" if norm[i, j] > 50 else "black")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="% of ground-truth pixels")
    return _png(fig)


def write_confusion_heatmap(path: Path, matrix: np.ndarray, classes, *, title: str = "") -> None:
    atomic_write_bytes(path, confusion_heatmap_png(matrix, classes, title=title))


# Colours for the leaderboard's supervision types and for the user's own rows.
SUPERVISION_COLOURS = {"Bounding Box": "#8da0cb", "Scribbles": "#66c2a5", "Spot": "#a6d854",
                       "Image-level Labels": "#bdbdbd"}
USER_COLOUR = "#d62728"


def leaderboard_png(rows: list[dict], *, metric: str = "val mIoU (%)") -> bytes:
    """Horizontal bars, best at the top: ``rows`` of ``{"name", "value", "supervision", "user"}``
    already in rank order. Paper rows are coloured by supervision; the user's rows are red."""
    plt = _pyplot()
    from matplotlib.patches import Patch

    fig, ax = plt.subplots(figsize=(7.5, 0.28 * len(rows) + 1.4))
    y = np.arange(len(rows))[::-1]
    colours = [USER_COLOUR if r["user"] else SUPERVISION_COLOURS.get(r["supervision"], "#bdbdbd") for r in rows]
    ax.barh(y, [r["value"] for r in rows], color=colours)
    ax.set_yticks(y, labels=[r["name"] for r in rows], fontsize=8)
    for yi, r in zip(y, rows):
        ax.text(r["value"] + 0.5, yi, f"{r['value']:.1f}", va="center", fontsize=7)
    ax.set_xlabel(metric)
    ax.set_xlim(0, max(r["value"] for r in rows) * 1.12 + 1)
    handles = [Patch(color=c, label=k) for k, c in SUPERVISION_COLOURS.items()
               if any(r["supervision"] == k and not r["user"] for r in rows)]
    handles.append(Patch(color=USER_COLOUR, label="your results"))
    ax.legend(handles=handles, loc="lower right", fontsize=7, title="supervision", title_fontsize=7)
    return _png(fig)


def per_class_png(classes, series: dict[str, list], *, ylabel: str = "IoU (%)", title: str = "") -> bytes:
    """Grouped bars: one group per class, one bar per series (None values are left out)."""
    plt = _pyplot()
    n, k = len(classes), max(1, len(series))
    width = 0.8 / k
    fig, ax = plt.subplots(figsize=(max(6.0, 0.45 * n * max(1, k / 2) + 1.5), 4.2))
    for i, (name, values) in enumerate(series.items()):
        xs = [c + (i - (k - 1) / 2) * width for c, v in enumerate(values) if v is not None]
        ax.bar(xs, [v for v in values if v is not None], width, label=name,
               color=None if i else "#7f7f7f")
    if n > 6:
        ax.set_xticks(range(n), labels=classes, rotation=60, ha="right", fontsize=8)
    else:
        ax.set_xticks(range(n), labels=classes)
    ax.set_ylabel(ylabel)
    ax.set_ylim(0, 100)
    if title:
        ax.set_title(title)
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    return _png(fig)


def rounds_png(lines: dict[str, tuple[list[int], list[float]]], *, ylabel: str, title: str = "") -> bytes:
    """Validation score per training round, one line per run (like the paper's Fig. 6)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 4.0))
    for name, (rounds, values) in lines.items():
        ax.plot(rounds, values, marker="o", label=name)
    every = sorted({r for rounds, _ in lines.values() for r in rounds})
    ax.set_xticks(every)
    ax.set_xlabel("training round")
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _png(fig)


def latency_accuracy_png(points: list[dict], *, ylabel: str) -> bytes:
    """Median latency against accuracy, one labelled marker per ``{"name", "ms", "score"}``;
    the latency axis turns logarithmic when the points span more than 20x."""
    plt = _pyplot()
    from matplotlib.ticker import ScalarFormatter

    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    markers = "osD^vP*X"
    for i, p in enumerate(points):
        ax.scatter([p["ms"]], [p["score"]], s=60, marker=markers[i % len(markers)], label=p["name"], zorder=3)
    ms = [p["ms"] for p in points]
    if max(ms) > 20 * min(ms):
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.set_xlabel("median latency per batch (ms, log scale)")
    else:
        ax.set_xlim(0, max(ms) * 1.15)
        ax.set_xlabel("median latency per batch (ms)")
    scores = [p["score"] for p in points]
    spread = max(max(scores) - min(scores), 2.0)
    ax.set_ylim(min(scores) - spread, max(scores) + spread)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7, loc="best")
    return _png(fig)
