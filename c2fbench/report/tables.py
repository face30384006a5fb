"""The report's tables as files for a spreadsheet (``report --format csv``), and the text helpers
the LaTeX tables share (``report --format latex``, :mod:`c2fbench.report.latex`).

The CSV renders a table's :class:`~c2fbench.report.document.Data`, the numbers behind the
Markdown and HTML cells, not those cells: every number has exactly two decimals (``64.30``,
``-1.25``), rounded once here (Python's round-half-even on the float), with a ``.`` and no
thousands separator, percent sign, plus sign or markup; ranks and rounds are integers; an
interval is two columns (low, high); a missing value is an empty CSV cell and ``--`` in LaTeX.
Text cells are text: one that a spreadsheet would run as a formula (``=``, ``+``, ``-``, ``@``
first) gets a single quote before it (:mod:`c2fbench.eval.csvtext`); in LaTeX, a control
character prints as ``?``.

CSV: Python's :mod:`csv` (excel dialect: ``,``, quotes only around a cell holding a comma,
quote or line break, CRLF line ends), UTF-8 without a byte-order mark, a header row, then one
row per table row. Tables whose rows are methods end with a ``source`` column, ``paper`` or
``yours``; in tables whose rows are classes (``per_class``) or mask types (``table1``) the
user's numbers are whole columns, named by the result's label.

LaTeX, set for a paper (published numbers as printed, the per-class table transposed), is
:mod:`c2fbench.report.latex`'s; it shares :func:`number` and :func:`tex_escape`.
"""

from __future__ import annotations

import re
import unicodedata

from c2fbench.eval.csvtext import csv_text
from c2fbench.report.document import Data

DIGITS = 2


def number(value) -> str:
    """A cell as plain text: two decimals for a float, an integer as is, '' for None."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.{DIGITS}f}"
    return str(value)


def to_csv(data: Data) -> str:
    """The table as CSV; text cells (labels, method names) can never be spreadsheet formulas
    (:func:`c2fbench.eval.csvtext.text_cell`), numbers are :func:`number`'s."""
    header = [*data.header, *(["source"] if data.source is not None else [])]
    rows = ([_csv_value(v) for v in row] + ([data.source[k]] if data.source is not None else [])
            for k, row in enumerate(data.rows))
    return csv_text([[_one_line(h) for h in header], *rows], number=number)


def _csv_value(value):
    return _one_line(value) if isinstance(value, str) else value


# Every character LaTeX acts on in text, as the command that prints it.
_TEX_SPECIAL = {"&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}",
                "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "\\": r"\textbackslash{}",
                "<": r"\textless{}", ">": r"\textgreater{}", "|": r"\textbar{}"}
_TEX_PATTERN = re.compile("|".join(map(re.escape, _TEX_SPECIAL)))


def tex_escape(text: str) -> str:
    r"""Plain text as LaTeX that prints the same text, on one line; a control character
    (C0, DEL, C1), which TeX refuses, or a lone surrogate, which UTF-8 cannot hold, prints as
    ``?``.

    >>> tex_escape("a_b\x07c")
    'a\\_b?c'
    """
    return _TEX_PATTERN.sub(lambda m: _TEX_SPECIAL[m.group()], _printable(_one_line(str(text))))


def _printable(text: str) -> str:
    """``text`` with tabs as spaces and every other control character or lone surrogate as ``?``."""
    return "".join(" " if c == "\t" else "?" if unicodedata.category(c) in ("Cc", "Cs") else c for c in text)


def _one_line(text: str) -> str:
    return " ".join(text.splitlines())
