"""The report's figures as the HTML page shows them: text at least 10 px at the page's width,
user strings drawn literally (never as mathtext), zero bars told apart from missing ones,
and a flat Fig. 6 line on a readable axis."""

import io
import re
import xml.etree.ElementTree as ET

import matplotlib
import pytest
from PIL import Image

from c2fbench.report import figures

# report.html's CSS: body { max-width: 1100px; padding: 0 1rem }, so 1100 - 2 * 16 px of column;
# figure img { max-width: 100% } scales a wider image down to it, never a narrower one up.
PAGE_COLUMN_PX = 1100 - 2 * 16
SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture
def drawn(monkeypatch):
    """Each figure drawn is also kept: its SVG (text as text), the PNG's width, the figure."""
    kept = []
    png = figures._png

    def keep(fig):
        buf = io.StringIO()
        with matplotlib.rc_context({"svg.fonttype": "none"}):
            fig.savefig(buf, format="svg", dpi=figures.DPI)
        data = png(fig)
        kept.append({"svg": buf.getvalue(), "width": Image.open(io.BytesIO(data)).width, "figure": fig})
        return data

    monkeypatch.setattr(figures, "_png", keep)
    return kept


def texts(svg: str) -> list[tuple[str, float]]:
    """(text, font size in SVG user units) of every text element."""
    found = []
    for element in ET.fromstring(svg).iter(f"{SVG}text"):
        styles = [element.get("style", "")] + [span.get("style", "") for span in element.iter(f"{SVG}tspan")]
        sizes = [float(m.group(1)) for style in styles
                 if (m := re.search(r"font(?:-size)?:\s*(?:[a-z]+\s+)*([\d.]+)px", style))]
        found.append(("".join(element.itertext()), min(sizes)))
    return found


def smallest_px_on_page(kept) -> float:
    view_width = float(ET.fromstring(kept["svg"]).get("viewBox").split()[2])
    shown = min(kept["width"], PAGE_COLUMN_PX)
    return min(size for _, size in texts(kept["svg"])) * shown / view_width


VOC = ["background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
       "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor"]


def draw_all(label):
    """Every figure function, with ``label`` in each place a user's string goes."""
    series = {f"{label} {k}": [float(10 + k + c) for c in range(20)] for k in range(5)}
    figures.per_class_png(VOC[1:], {"paper": [50.0] * 20, **series}, title=f"{label} title")
    figures.confusion_heatmap_png([[3 + (i == j) * 20 for j in range(21)] for i in range(21)],
                                  [f"{label}{c}" for c in VOC], title=label)
    figures.leaderboard_png([{"name": f"{label} {i}", "value": 60.0 - i, "supervision": "Spot", "user": i == 2}
                             for i in range(32)])
    figures.rounds_png({label: ([1, 2, 3], [40.0, 45.0, 47.0])}, ylabel=f"{label} mIoU (%)", title=label)
    figures.latency_accuracy_png([{"name": f"{label} {i}", "ms": 10.0 * 30 ** i, "score": 50.0} for i in range(2)],
                                 ylabel=label)


def test_text_is_at_least_10_px_where_the_page_shows_it(drawn):
    draw_all("run")  # a per-class chart of 6 series over 20 classes, the case that drew 5 px text
    assert len(drawn) == 5
    for kept in drawn:
        assert smallest_px_on_page(kept) >= 10, (kept["width"], sorted(texts(kept["svg"]), key=lambda t: t[1])[:3])


def test_labels_with_dollar_signs_are_drawn_literally(drawn):
    label = r"cost $x^2$ in $\alpha$"
    draw_all(label)
    for kept in drawn:
        shown = [t for t, _ in texts(kept["svg"])]
        # mathtext would split "$x^2$" into glyphs "x" and "2", dropping the dollars
        assert any(label in t for t in shown), shown[:8]


def test_zero_bars_are_marked_and_missing_ones_say_n_a(drawn):
    values = [0.0, None, 35.0, 0.0, None, 0.012, 0.8, 1.5]  # under 1 point a bar is 3 px or less: invisible
    figures.per_class_png(list("abcdefgh"), {"paper": [10.0] * 8, "ours": values})
    ax = drawn[0]["figure"].axes[0]
    marks = sorted(t.get_text() for t in ax.texts)
    assert marks == sorted(["0.0", "0.0", "0.0", "0.8", "n/a", "n/a"])
    assert len(ax.patches) == 8 + sum(v is not None for v in values)  # a bar for every value, even 0


@pytest.mark.parametrize("values", [[0.0, 0.0, 0.0], [100.0, 100.0], [42.0, 42.02]])
def test_a_flat_line_gets_an_axis_of_at_least_two_points(drawn, values):
    figures.rounds_png({"run": (list(range(1, len(values) + 1)), values)}, ylabel="mIoU (%)")
    low, high = drawn[0]["figure"].axes[0].get_ylim()
    assert high - low >= 2 and low <= min(values) and high >= max(values)
    assert low >= -0.5 and high <= 100.5  # no room for impossible scores below 0 or above 100


def test_runs_that_coincide_stay_visible_in_the_rounds_figure(drawn):
    """A one-round Table I run on the first round of another, at the same score: each line has
    its own marker and sits beside the round, so neither point hides the other."""
    figures.rounds_png({"coarse": ([1], [50.0]), "boxes": ([1], [50.0]), "main": ([1, 2], [50.0, 55.0])},
                       ylabel="mIoU (%)")
    lines = [line for line in drawn[-1]["figure"].axes[0].get_lines() if line.get_label() in ("coarse", "boxes", "main")]
    assert len(lines) == 3
    assert len({line.get_marker() for line in lines}) == 3  # three shapes
    first = [line.get_xdata()[0] for line in lines]
    assert len(set(first)) == 3 and all(abs(x - 1) < 0.25 for x in first)  # apart, still at round 1
    assert all(line.get_markerfacecolor() == "none" for line in lines)  # hollow: one drawn over another shows both
