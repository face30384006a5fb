"""matplotlib figures (Agg backend, so no display is needed).

Sized for the report's HTML page, whose content column is 1068 px wide (``max-width: 1100px``
less 1 rem of padding each side): no figure is wider than :data:`MAX_WIDTH_IN` at :data:`DPI`,
so the page never scales one down, and no text is smaller than 7 pt (10.7 px) there.

Names and labels come from the user's files and are shown as written: ``$`` is escaped so
that matplotlib does not read ``$...$`` as mathtext, and a user's matplotlibrc cannot turn
on LaTeX (``text.usetex``).
"""

from __future__ import annotations

import contextlib
import io
import warnings
from pathlib import Path

import numpy as np

from c2fbench.atomic import atomic_write_bytes


DPI = 110
MAX_WIDTH_IN = 9.6  # 1056 px at DPI: fits the HTML page's 1068 px column unscaled
SMALL = 7  # pt, the smallest text in any figure: 10.7 px at DPI
TOO_SHORT = 1.0  # points on a 0-100 axis: a bar under it is labelled with its value


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


@contextlib.contextmanager
def _style():
    """Settings every figure is drawn under, whatever the user's matplotlibrc says."""
    plt = _pyplot()
    with plt.rc_context({"text.usetex": False, "text.parse_math": True, "font.size": 9}):
        yield plt


def _literal(text) -> str:
    """``text`` as matplotlib shows it verbatim: an escaped ``$`` is a dollar sign, never mathtext."""
    return str(text).replace("$", r"\$")


def _png(fig) -> bytes:
    """The figure as PNG bytes; the figure is closed."""
    plt = _pyplot()
    buf = io.BytesIO()
    with warnings.catch_warnings():  # a label in a script DejaVu Sans lacks shows as boxes, not as warnings
        warnings.filterwarnings("ignore", message="Glyph .* missing from font")
        warnings.filterwarnings("ignore", message="Tight layout not applied")  # a very long label: it is cut
        fig.tight_layout()
        fig.savefig(buf, format="png", dpi=DPI)
    plt.close(fig)
    return buf.getvalue()


def _width(inches: float) -> float:
    return min(MAX_WIDTH_IN, inches)


def confusion_heatmap_png(matrix: np.ndarray, classes, *, title: str = "") -> bytes:
    """Row-normalised confusion matrix (percent of each ground-truth class), like the paper's Fig. 7."""
    m = np.asarray(matrix, dtype=np.float64)
    rows = m.sum(axis=1, keepdims=True)
    norm = np.divide(100 * m, rows, out=np.zeros_like(m), where=rows > 0)
    n = len(classes)
    labels = [_literal(c) for c in classes]
    width = _width(max(5.0, 0.42 * n + 3))
    with _style() as plt:
        fig, ax = plt.subplots(figsize=(width, width - 1))
        image = ax.imshow(norm, cmap="Blues", vmin=0, vmax=100)
        ax.set_xticks(range(n), labels=labels, rotation=60, ha="right", fontsize=8)
        ax.set_yticks(range(n), labels=labels, fontsize=8)
        ax.set_xlabel("predicted class")
        ax.set_ylabel("ground-truth class")
        if title:
            ax.set_title(_literal(title))
        if n <= 25:
            for i in range(n):
                for j in range(n):
                    if norm[i, j] >= 1:
                        ax.text(j, i, f"{norm[i, j]:.0f}", ha="center", va="center", fontsize=SMALL,
                                color="white" if norm[i, j] > 50 else "black")
        fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="% of ground-truth pixels")
        return _png(fig)


def write_confusion_heatmap(path: Path, matrix: np.ndarray, classes, *, title: str = "") -> None:
    atomic_write_bytes(path, confusion_heatmap_png(matrix, classes, title=title))


def eval_figures(result) -> dict[str, bytes]:
    """The figures of an eval's ``--out`` folder, by file name, for
    :func:`c2fbench.eval.results.write_eval`: ``confusion.png`` for a semantic benchmark,
    none for a foreground one. ``result`` is a :class:`c2fbench.eval.evaluator.EvalResult`."""
    bench = result.benchmark
    if bench.kind != "semantic":
        return {}
    figures = {"confusion.png": confusion_heatmap_png(np.array(result.metrics["confusion_matrix"]), bench.classes,
                                                      title=f"{bench.name}: row-normalised confusion (%)")}
    if len(result.metrics.get("cam_sweep") or ()) > 1:
        figures["cam_sweep.png"] = cam_sweep_png(result.metrics["cam_sweep"], title=f"{bench.name}: CAM seeds")
    return figures


def cam_sweep_png(sweep: list[dict], *, title: str = "", label: str = "") -> bytes:
    """mIoU of CAM seeds against the background threshold (``cam_sweep`` of metrics.json:
    ``{"threshold", "mIoU", ...}`` ascending), the best threshold marked (the first of
    equal maxima). ``sweep`` may also be a list of (label, sweep) pairs: one curve each."""
    curves = sweep if sweep and isinstance(sweep[0], tuple) else [(label, sweep)]
    with _style() as plt:
        fig, ax = plt.subplots(figsize=(6.0, 3.6))
        for name, points in curves:
            t = [p["threshold"] for p in points]
            m = [np.nan if p["mIoU"] is None else p["mIoU"] for p in points]
            best = int(np.nanargmax(m)) if not np.isnan(m).all() else None
            line, = ax.plot(t, m, marker="o", markersize=3, label=_literal(name) if name else None)
            if best is not None:
                ax.plot([t[best]], [m[best]], marker="*", markersize=11, color=line.get_color())
                ax.annotate(f"{m[best]:.1f} at {t[best]:g}", (t[best], m[best]), textcoords="offset points",
                            xytext=(4, 6), fontsize=SMALL)
        ax.set_xlabel("background threshold")
        ax.set_ylabel("seed mIoU (%)")
        ax.grid(alpha=0.3)
        if any(name for name, _ in curves):
            ax.legend(fontsize=SMALL)
        if title:
            ax.set_title(_literal(title))
        return _png(fig)


# Colours for the leaderboard's supervision types and for the user's own rows.
SUPERVISION_COLOURS = {"Bounding Box": "#8da0cb", "Scribbles": "#66c2a5", "Spot": "#a6d854",
                       "Image-level Labels": "#bdbdbd"}
USER_COLOUR = "#d62728"


def leaderboard_png(rows: list[dict], *, metric: str = "val mIoU (%)", legend: bool = True) -> bytes:
    """Horizontal bars, best at the top: ``rows`` of ``{"name", "value", "supervision", "user"}``
    already in rank order. Paper rows are coloured by supervision; the user's rows are red.
    ``legend=False`` leaves the key out (one supervision: the caption says grey and red)."""
    from matplotlib.patches import Patch

    with _style() as plt:
        fig, ax = plt.subplots(figsize=(7.5, 0.28 * len(rows) + 1.4))
        y = np.arange(len(rows))[::-1]
        colours = [USER_COLOUR if r["user"] else SUPERVISION_COLOURS.get(r["supervision"], "#bdbdbd") for r in rows]
        ax.barh(y, [r["value"] for r in rows], color=colours)
        ax.set_yticks(y, labels=[_literal(r["name"]) for r in rows], fontsize=8)
        for yi, r in zip(y, rows):
            ax.text(r["value"] + 0.5, yi, f"{r['value']:.1f}", va="center", fontsize=SMALL)
        ax.set_xlabel(_literal(metric))
        ax.set_xlim(0, max(r["value"] for r in rows) * 1.12 + 1)
        handles = [Patch(color=c, label=k) for k, c in SUPERVISION_COLOURS.items()
                   if any(r["supervision"] == k and not r["user"] for r in rows)]
        handles.append(Patch(color=USER_COLOUR, label="your results"))
        if legend:
            ax.legend(handles=handles, loc="lower right", fontsize=SMALL, title="supervision", title_fontsize=SMALL)
        return _png(fig)


def per_class_png(classes, series: dict[str, list], *, ylabel: str = "IoU (%)", title: str = "") -> bytes:
    """Grouped bars: one group per class, one bar per series, the first series grey. A bar too
    short to see (under 1 point, 3 px) is labelled with its value ("0.0") so that it is not
    taken for a missing one; a missing value (None: a class absent from ground truth and
    prediction) is marked "n/a"."""
    n, k = len(classes), max(1, len(series))
    width = 0.8 / k
    colours = ["#7f7f7f", *(f"C{j}" for j in range(k))]
    with _style() as plt:
        fig, ax = plt.subplots(figsize=(_width(max(6.0, 0.45 * n * max(1, k / 2) + 1.5)), 4.4))
        for i, (name, values) in enumerate(series.items()):
            xs = [c + (i - (k - 1) / 2) * width for c in range(len(values))]
            shown = [(x, v) for x, v in zip(xs, values) if v is not None]
            ax.bar([x for x, _ in shown], [v for _, v in shown], width, label=_literal(name), color=colours[i])
            for x, v in zip(xs, values):
                if v is None or v < TOO_SHORT:
                    ax.text(x, 1, "n/a" if v is None else f"{v:.1f}", rotation=90, ha="center", va="bottom",
                            fontsize=SMALL, color="#555555" if v is None else colours[i])
        labels = [_literal(c) for c in classes]
        if n > 6:
            ax.set_xticks(range(n), labels=labels, rotation=60, ha="right", fontsize=8)
        else:
            ax.set_xticks(range(n), labels=labels)
        ax.set_ylabel(_literal(ylabel))
        ax.set_ylim(0, 100)
        if title:
            ax.set_title(_literal(title))
        ax.legend(fontsize=8)
        ax.grid(axis="y", alpha=0.3)
        return _png(fig)


def score_range(values, *, least: float = 2.0, low: float = 0.0, high: float = 100.0) -> tuple[float, float]:
    """A y range for scores: at least ``least`` points tall (a flat line gets +-1 point, not
    matplotlib's +-0.04), within [low, high] when the values are, with a 5% margin."""
    lo, hi = min(values), max(values)
    pad = max(0.0, least - (hi - lo)) / 2
    lo, hi = lo - pad, hi + pad
    if lo < low <= min(values):
        lo, hi = low, hi + (low - lo)
    if hi > high >= max(values):
        lo, hi = lo - (hi - high), high
    margin = 0.05 * (hi - lo)
    return lo - margin, hi + margin


MARKERS = "osD^vPX*"  # one shape per line, so that lines drawn over each other stay told apart
LINESTYLES = ("-", "--", "-.", ":")
DODGE = 0.06  # rounds: each line sits this far beside the next, so equal scores in one round stay visible


def dodge(count: int) -> list[float]:
    """x offsets (in rounds) of ``count`` lines, centred on the round: -0.03, +0.03 for two."""
    return [(i - (count - 1) / 2) * DODGE for i in range(count)]


def rounds_png(lines: dict[str, tuple[list[int], list[float]]], *, ylabel: str, title: str = "") -> bytes:
    """Validation score per training round, one line per run (like the paper's Fig. 6).

    Runs often coincide (a one-round Table I run on the first round of another, or two runs
    whose rounds score alike), so each line has its own marker, dash and colour, and sits a
    little beside the round (:func:`dodge`): a point drawn under another still shows."""
    with _style() as plt:
        fig, ax = plt.subplots(figsize=(_width(8.5), 4.0))
        for i, ((name, (rounds, values)), offset) in enumerate(zip(lines.items(), dodge(len(lines)))):
            ax.plot([r + offset for r in rounds], values, marker=MARKERS[i % len(MARKERS)], markersize=7,
                    markerfacecolor="none", markeredgewidth=1.5, linestyle=LINESTYLES[i % len(LINESTYLES)],
                    label=_literal(name))
        every = sorted({r for rounds, _ in lines.values() for r in rounds})
        ax.set_xticks(every)
        ax.set_xlim(every[0] - 0.5, every[-1] + 0.5)
        ax.set_ylim(*score_range([v for _, values in lines.values() for v in values]))
        ax.set_xlabel("training round")
        ax.set_ylabel(_literal(ylabel))
        if title:
            ax.set_title(_literal(title))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0)  # beside, not over
        return _png(fig)


def latency_accuracy_png(points: list[dict], *, ylabel: str) -> bytes:
    """Median latency against accuracy, one labelled marker per ``{"name", "ms", "score"}``;
    the latency axis turns logarithmic when the points span more than 20x."""
    from matplotlib.ticker import ScalarFormatter

    with _style() as plt:
        fig, ax = plt.subplots(figsize=(6.5, 4.2))
        markers = "osD^vP*X"
        for i, p in enumerate(points):
            ax.scatter([p["ms"]], [p["score"]], s=60, marker=markers[i % len(markers)], label=_literal(p["name"]),
                       zorder=3)
        ms = [p["ms"] for p in points]
        if min(ms) > 0 and max(ms) > 20 * min(ms):
            ax.set_xscale("log")
            ax.xaxis.set_major_formatter(ScalarFormatter())
            ax.set_xlabel("median latency per batch (ms, log scale)")
        else:
            ax.set_xlim(0, max(max(ms) * 1.15, 1e-3))
            ax.set_xlabel("median latency per batch (ms)")
        scores = [p["score"] for p in points]
        spread = max(max(scores) - min(scores), 2.0)
        ax.set_ylim(min(scores) - spread, max(scores) + spread)
        ax.set_ylabel(_literal(ylabel))
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=SMALL, loc="best")
        return _png(fig)
