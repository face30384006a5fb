"""matplotlib figures (Agg backend, so no display is needed)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from c2fbench.data.atomic import atomic_write_bytes


def confusion_heatmap_png(matrix: np.ndarray, classes, *, title: str = "") -> bytes:
    """Row-normalised confusion matrix (percent of each ground-truth class), like the paper's Fig. 7."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

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
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()


def write_confusion_heatmap(path: Path, matrix: np.ndarray, classes, *, title: str = "") -> None:
    atomic_write_bytes(path, confusion_heatmap_png(matrix, classes, title=title))
