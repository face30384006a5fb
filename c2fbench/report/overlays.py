"""Images with their ground truth and prediction, for per-image diagnostics (matplotlib, Agg).

:func:`overlay_png` draws one image of ``eval --show-dir``: image | ground truth |
prediction side by side, the label maps in the PASCAL VOC palette blended over the image
(background left as the image, void in the palette's cream), a title with the image's rank,
id and score and the classes that differ, and a legend of the classes shown.
:func:`strip_png` draws the report's "worst images": the same three panels for each image,
two images a row. A foreground mask (mit-*) is drawn as the palette's first object colour.

A :class:`c2fbench.eval.show.View` is what both need of one image: the ranking entry, the
RGB image and the two label maps.
"""

from __future__ import annotations

import io
import textwrap
import warnings
import numpy as np

from c2fbench.data.png import VOID, voc_colormap
from c2fbench.eval.show import View
from c2fbench.eval.worst import fmt_score, score_name
from c2fbench.report.figures import DPI, MAX_WIDTH_IN, SMALL, _literal, _style

ALPHA = 0.55  # weight of the label colour over the image
PANEL_IN = 3.0  # width of one panel of an overlay, inches
_COLOURS = voc_colormap()


def as_labels(label: np.ndarray) -> np.ndarray:
    """(H, W) uint8 class indices: a bool mask becomes 0 / 1 (background / object)."""
    return label.astype(np.uint8)


def blend(rgb: np.ndarray, label: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8: each non-background pixel of ``rgb`` mixed with its class's palette colour.

    The image is resized (nearest) to the label map where their sizes differ, for display only."""
    label = as_labels(label)
    if rgb.shape[:2] != label.shape:
        import cv2

        rgb = cv2.resize(rgb, (label.shape[1], label.shape[0]), interpolation=cv2.INTER_NEAREST)
    out = rgb.astype(np.float32)
    shown = label != 0
    out[shown] = (1 - ALPHA) * out[shown] + ALPHA * _COLOURS[label[shown]]
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def _legend(ax_or_fig, views: list[View], classes, foreground: bool, **kwargs) -> None:
    from matplotlib.patches import Patch

    if foreground:
        handles = [Patch(color=_COLOURS[1] / 255, label="object")]
    else:
        shown = sorted({int(c) for v in views for c in np.union1d(np.unique(v.truth), np.unique(v.pred))} - {0})
        handles = [Patch(color=_COLOURS[c] / 255, label=_literal("void" if c == VOID else classes[c]))
                   for c in shown if c == VOID or c < len(classes)]
    if handles:
        ax_or_fig.legend(handles=handles, fontsize=SMALL, ncol=min(len(handles), 8), frameon=False, **kwargs)


def _title(view: View, kind: str) -> str:
    score, accuracy = score_name(kind)
    item = view.item
    line = f"#{item.rank}  {item.id}:  {score} {fmt_score(item.score)}  ({accuracy} {fmt_score(item.accuracy)})"
    if kind == "semantic":
        line += "\n" + "\n".join(textwrap.wrap(item.differences() or "no class missed or added", 130))
    return _literal(line)


def _save(fig) -> bytes:
    """The figure as PNG bytes at its own size (constrained layout), closed."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Glyph .* missing from font")
        fig.savefig(buf, format="png", dpi=DPI)
    plt.close(fig)
    return buf.getvalue()


def overlay_png(view: View, *, classes, kind: str) -> bytes:
    """One image of ``eval --show-dir``: image | ground truth | prediction, :data:`MAX_WIDTH_IN`
    wide (1056 px), as tall as the image's aspect needs."""
    h, w = view.truth.shape
    panel_h = min(PANEL_IN * h / max(w, 1), 2 * PANEL_IN)
    with _style() as plt:
        fig, axes = plt.subplots(1, 3, figsize=(MAX_WIDTH_IN, panel_h + 1.2), layout="constrained")
        panels = (("image", view.rgb), ("ground truth", blend(view.rgb, view.truth)),
                  ("prediction", blend(view.rgb, view.pred)))
        for ax, (name, pixels) in zip(axes, panels):
            ax.imshow(pixels, interpolation="nearest")
            ax.set_title(name, fontsize=8)
            ax.set_axis_off()
        fig.suptitle(_title(view, kind), fontsize=8)
        _legend(fig, [view], classes, kind != "semantic", loc="outside lower center")
        return _save(fig)


PER_ROW = 2  # images per row of the report's grid: three panels each, 176 px wide at the page's width


def strip_png(views: list[View], *, classes, kind: str, per_row: int = PER_ROW) -> bytes:
    """The report's worst images: image | ground truth | prediction for each, as
    :func:`overlay_png` draws one, ``per_row`` such triples a row (worst first, left to
    right), :data:`MAX_WIDTH_IN` wide, so that a panel is 176 px at two a row: a missed or
    extra object stays visible. Each triple's title gives rank, id, score and the classes
    that differ (two lines at most: the table beside it has them all)."""
    n = max(1, len(views))
    per_row = max(1, min(per_row, n))
    rows = -(-n // per_row)
    panel = MAX_WIDTH_IN / (3 * PER_ROW)  # one panel's width, inches: the same for one image as for eight
    aspect = float(np.median([v.truth.shape[0] / max(v.truth.shape[1], 1) for v in views])) if views else 1.0
    score, _ = score_name(kind)
    per_line = max(20, int(3 * panel * 72 / (0.6 * SMALL)))  # characters of a title's line
    title_in = 3 * SMALL / 72 * 1.3  # up to three lines of title
    with _style() as plt:
        fig = plt.figure(figsize=(panel * 3 * per_row, rows * (panel * min(aspect, 1.5) + title_in) + 0.5),
                         layout="constrained")
        cells = np.atleast_2d(fig.subfigures(rows, per_row, squeeze=False))
        for k, view in enumerate(views):
            cell = cells[k // per_row, k % per_row]
            axes = cell.subplots(1, 3)
            for ax, name, pixels in zip(axes, ("image", "ground truth", "prediction"),
                                        (view.rgb, blend(view.rgb, view.truth), blend(view.rgb, view.pred))):
                ax.imshow(pixels, interpolation="nearest")
                ax.set_xticks([])
                ax.set_yticks([])
                if k < per_row:
                    ax.set_xlabel(name, fontsize=SMALL)
                    ax.xaxis.set_label_position("top")
            item = view.item
            head = f"#{item.rank} {item.id}: {score} {fmt_score(item.score)}"
            if kind == "semantic":
                head += "\n" + (item.differences() or "no class missed or added")
            first, _, rest = head.partition("\n")
            lines = textwrap.wrap(first, per_line, break_long_words=True)[:1]
            lines += textwrap.wrap(rest, per_line, max_lines=2, placeholder=" ...")  # the table has them all
            cell.suptitle(_literal("\n".join(lines)), fontsize=SMALL, ha="left", x=0.02)
        for k in range(len(views), rows * per_row):
            cells[k // per_row, k % per_row].set_visible(False)
        _legend(fig, views, classes, kind != "semantic", loc="outside lower center")
        return _save(fig)
