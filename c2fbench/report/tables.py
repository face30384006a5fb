"""The report's tables as files for a spreadsheet or a paper (``report --format csv,latex``).

Both render a table's :class:`~c2fbench.report.document.Data`, the numbers behind the
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

LaTeX: a booktabs ``tabular`` (needs ``\\usepackage{booktabs}``), text columns left- and
number columns right-aligned, every text cell escaped. The user's rows are set in bold with a
dagger after the method's name (the user's columns, where rows are classes); a comment at
the top of each file says so.
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


def to_latex(data: Data) -> str:
    # a column with no value at all (no run had a bootstrap interval) is left out
    keep = [j for j in range(len(data.header)) if any(row[j] is not None for row in data.rows)]
    numeric = {j: all(isinstance(row[j], (int, float)) for row in data.rows if row[j] is not None) for j in keep}
    name_column = next((j for j in keep if not numeric[j]), keep[0])
    user_rows = {k for k, s in enumerate(data.source or []) if s == "yours"}
    marked = "rows" if data.source is not None else "columns"
    lines = [f"% {_printable(_one_line(data.caption or data.name))}: written by c2fbench report",
             f"% Your {marked} are set in \\textbf with a dagger (\\dag); unmarked {marked} are the paper's.",
             "% Needs \\usepackage{booktabs}.",
             "\\begin{tabular}{" + "".join("r" if numeric[j] else "l" for j in keep) + "}", "\\toprule"]
    head = []
    for j in keep:
        cell = tex_escape(data.header[j])
        head.append(f"\\textbf{{{cell}}}\\dag" if j in data.user_columns else cell)
    lines += [" & ".join(head) + " \\\\", "\\midrule"]
    for k, row in enumerate(data.rows):
        cells = []
        for j in keep:
            cell = _tex_cell(row[j])
            if k in user_rows:
                cell = f"\\textbf{{{cell}}}" + ("\\dag" if j == name_column else "")
            cells.append(cell)
        lines.append(" & ".join(cells) + " \\\\")
    lines += ["\\bottomrule", "\\end{tabular}"]
    return "\n".join(lines) + "\n"


def _tex_cell(value) -> str:
    if value is None:
        return "--"
    if isinstance(value, (int, float)):
        text = number(value)
        return f"$-${text[1:]}" if text.startswith("-") else text  # a minus sign, not a hyphen
    return tex_escape(value)


def _one_line(text: str) -> str:
    return " ".join(text.splitlines())
