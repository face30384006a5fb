r"""The report's tables as LaTeX for a paper (``report --format latex``): one float per file,
``\input`` where the table goes.

Each ``tables/<name>.tex`` holds a ``table`` float (``--latex-layout column``, the default: one
column of a two-column paper, ``\columnwidth`` wide at most) or a ``table*`` float (``page``:
across both columns, ``\textwidth`` wide at most), with a caption, a label ``tab:c2fbench-<name>``
and a booktabs ``tabular``; it needs ``\usepackage{booktabs}`` and ``\usepackage{graphicx}``.
The tabular is set small, with narrow column gaps, and a table still wider than its measure
(a long label, the latency table) is scaled down to fit it, never up, so that it compiles
without an overfull box.

What differs from the CSV, which keeps every number and column:

- published numbers print as the paper or README printed them (47.7, 58.80: the ``text`` of
  :class:`~c2fbench.leaderboard.printed.Printed`); the user's and computed numbers with two
  decimals, a minus as ``$-$``, a missing value as ``--``;
- a bootstrap interval follows its value in the same cell, in small type;
- the per-class table is transposed as in the paper's Table III: classes are columns (with
  Table III's abbreviations), the paper's val row and each result a row; in the column layout
  its 22 columns are set as two blocks of 11, one under the other;
- the recent leaderboard leaves out rank, arXiv id, table number and the extra-supervision
  column (its '*' is on the method's name), the latency table its p95, CV and stability
  columns; headings are shortened where the caption says the rest (``VOC val`` for
  ``VOC val mIoU``).

The user's rows are set in bold with a dagger after the name (where the CSV's rows are mask
types, ``table1``, the user's columns' headings are); a comment at the top of each file says so.
"""

from __future__ import annotations

from dataclasses import dataclass

from c2fbench.data.voc import VOC_CLASSES
from c2fbench.leaderboard.printed import Printed
from c2fbench.report.document import Data
from c2fbench.report.tables import DIGITS, number, tex_escape

# layout -> (float environment, measure, type size, column gap)
LAYOUTS = {"column": ("table", r"\columnwidth", r"\footnotesize", "3pt"),
           "page": ("table*", r"\textwidth", r"\small", "4pt")}
# Table III's own column names.
CLASS_NAMES = dict(zip(VOC_CLASSES, ("bkg", "aero", "bike", "bird", "boat", "bottle", "bus", "car", "cat", "chair",
                                     "cow", "table", "dog", "horse", "mbike", "person", "plant", "sheep", "sofa",
                                     "train", "tv")))
TRANSPOSED = {"per_class"}  # rows are classes in the CSV, columns in the paper
BLOCKS = {"column": 8, "page": 11}  # value columns per block of a transposed table, one block under the other
LEFT_OUT = {"leaderboard": {"rank"}, "leaderboard_recent": {"rank", "arXiv", "table", "extra supervision"},
            "latency": {"p95 ms", "CV", "unstable"}}
HEADINGS = {"VOC val mIoU": "VOC val", "VOC test mIoU": "VOC test", "COCO val mIoU": "COCO val",
            "VOC train seed mIoU": "seed", "VOC train mask mIoU": "mask", "val mIoU": "val", "test mIoU": "test",
            "average J": "avg. J", "speed-up vs torch": "vs torch", "speed-up vs onnxruntime fp32": "vs ORT fp32",
            "argmax agreement %": "argmax agr. %"}
LOW, HIGH = " 95% low", " 95% high"


@dataclass
class _Grid:
    """A table as LaTeX cells, before the user's marks: ``header[j]`` heads column ``j``."""
    header: list[str]
    rows: list[list[str]]
    numeric: list[bool]
    user_rows: set[int]
    user_columns: set[int]


def to_latex(data: Data, layout: str = "column") -> str:
    """``data`` as a ``table`` (layout ``column``) or ``table*`` (``page``) float."""
    environment, measure, size, gap = LAYOUTS[layout]
    grid = _grid(data)
    if data.name in TRANSPOSED:
        grid = _transposed(grid)
    width = BLOCKS[layout] if data.name in TRANSPOSED else len(grid.header)
    marked = "rows" if data.source is not None or data.name in TRANSPOSED else "columns"
    caption = tex_escape(data.caption or data.name)
    return "\n".join([
        f"% {caption}: written by c2fbench report --format latex --latex-layout {layout}",
        f"% Your {marked} are set in \\textbf with a dagger (\\dag); unmarked {marked} are published ones.",
        f"% Needs \\usepackage{{booktabs}} and \\usepackage{{graphicx}}; scaled down only where wider than {measure}.",
        f"\\begin{{{environment}}}[t]", "\\centering", f"\\caption{{{caption}}}",
        f"\\label{{tab:c2fbench-{data.name.replace('_', '-')}}}", size, f"\\setlength{{\\tabcolsep}}{{{gap}}}",
        f"\\resizebox{{\\ifdim\\width>{measure}{measure}\\else\\width\\fi}}{{!}}{{%",
        *_tabular(grid, width), "\\end{tabular}}", f"\\end{{{environment}}}"]) + "\n"


def _grid(data: Data) -> _Grid:
    """The columns kept (not empty, not left out), each interval merged into its value's cell."""
    left_out = LEFT_OUT.get(data.name, set())
    header = data.header
    keep = [j for j in range(len(header)) if header[j] not in left_out and not header[j].endswith((LOW, HIGH))
            and any(row[j] is not None for row in data.rows)]
    interval = {j: (header.index(header[j] + LOW), header.index(header[j] + HIGH)) for j in keep
                if header[j] + LOW in header and header[j] + HIGH in header}
    d = _digits([value for row in data.rows for value in row])
    rows = []
    for row in data.rows:
        cells = []
        for j in keep:
            cell = _cell(row[j], d)
            low, high = (row[k] for k in interval[j]) if j in interval else (None, None)
            if row[j] is not None and low is not None and high is not None:
                cell += f" {{\\scriptsize[{_cell(low, d)}, {_cell(high, d)}]}}"
            cells.append(cell)
        rows.append(cells)
    numeric = [all(isinstance(row[j], (int, float)) for row in data.rows if row[j] is not None) for j in keep]
    user_rows = {k for k, s in enumerate(data.source or []) if s == "yours"}
    if len(user_rows) == len(data.rows):  # nothing published to set them apart from (latency, parity)
        user_rows = set()
    return _Grid([tex_escape(HEADINGS.get(header[j], header[j])) for j in keep], rows, numeric, user_rows,
                 {n for n, j in enumerate(keep) if j in data.user_columns})


def _transposed(grid: _Grid) -> _Grid:
    """Rows as columns: the first column's cells (class names) head the new columns."""
    names = [tex_escape(CLASS_NAMES.get(row[0], row[0])) for row in grid.rows]
    rows = [[grid.header[j], *(row[j] for row in grid.rows)] for j in range(1, len(grid.header))]
    return _Grid(["method", *names], rows, [False, *[True] * len(names)],
                 {j - 1 for j in grid.user_columns}, set())


def _tabular(grid: _Grid, width: int) -> list[str]:
    """The tabular: the value columns in blocks of ``width``, each with its heading row."""
    name_column = next((j for j, n in enumerate(grid.numeric) if not n), 0)
    first = grid.numeric[:name_column + 1]
    values = [j for j in range(len(grid.header)) if j > name_column]
    blocks = [values[i:i + width] for i in range(0, len(values), width)] or [[]]
    lead = list(range(name_column + 1))
    spec = "".join("r" if n else "l" for n in first) + "".join(
        "r" if grid.numeric[j] else "l" for j in blocks[0])
    lines = [f"\\begin{{tabular}}{{{spec}}}", "\\toprule"]
    for b, block in enumerate(blocks):
        columns = lead + block
        pad = [""] * (len(blocks[0]) - len(block))
        if b:
            lines.append("\\midrule")
        head = [f"\\textbf{{{grid.header[j]}}}\\dag" if j in grid.user_columns else grid.header[j] for j in columns]
        lines += [" & ".join(head + pad) + " \\\\", "\\midrule"]
        for k, row in enumerate(grid.rows):
            cells = [row[j] for j in columns]
            if k in grid.user_rows:
                cells = [f"\\textbf{{{c}}}" + ("\\dag" if j == name_column else "") for j, c in zip(columns, cells)]
            lines.append(" & ".join(cells + pad) + " \\\\")
    return lines + ["\\bottomrule"]


def _digits(values: list) -> int:
    """Decimals for the user's numbers in a table of ``values``: as many as its published ones
    print at most (one beside Tables I-III's 77.1, two beside Table IV's 58.80), else two."""
    printed = [len(v.text.partition(".")[2]) for v in values if isinstance(v, Printed)]
    return max(printed) if printed else DIGITS


def _cell(value, digits: int = DIGITS) -> str:
    """A value as LaTeX: a published number as printed, another with ``digits`` decimals, text escaped."""
    if value is None:
        return "--"
    if isinstance(value, float):
        text = value.text if isinstance(value, Printed) else f"{value:.{digits}f}"
    elif isinstance(value, int):
        text = number(value)
    else:
        return tex_escape(value)
    return f"$-${text[1:]}" if text.startswith("-") else text  # a minus sign, not a hyphen
