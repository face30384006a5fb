"""CSV text for every table c2fbench writes (``worst.csv``, ``confusion.csv``, the report's
``tables/*.csv``), with text cells a spreadsheet cannot take for a formula.

Excel, LibreOffice and Google Sheets read a cell that starts with ``=``, ``+``, ``-`` or ``@``
(or a tab or carriage return before one) as a formula, so a label such as
``=HYPERLINK("http://x", "ours")`` given to ``report LABEL=RESULT`` would run when the file is
opened. OWASP's CSV Injection guidance: prefix such a cell with a single quote, which the
spreadsheet shows as text; the value stays readable (``'=HYPERLINK(...)``). Only text is
touched: numbers (int, float, numpy scalars) are written as numbers, negative ones too, so a
cell is text or number by its type, never by how it looks.
"""

from __future__ import annotations

import csv
import io
import numbers
from collections.abc import Callable, Iterable

# a cell starting with one of these is a formula (or may become one) to a spreadsheet: OWASP's list
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def text_cell(text: str) -> str:
    """``text`` as a CSV cell no spreadsheet reads as a formula: a single quote before it
    when it starts with a character of :data:`FORMULA_START`, also after leading blanks.

    >>> text_cell("=1+1"), text_cell("ours"), text_cell(" -2"), text_cell("a-b")
    ("'=1+1", 'ours', "' -2", 'a-b')
    """
    text = str(text)
    if text[:1] in FORMULA_START or text.lstrip(" \t\r\n")[:1] in FORMULA_START:
        return "'" + text
    return text


def plain_number(value) -> str:
    """An int as is, a float with Python's shortest round-trip digits."""
    return str(value) if isinstance(value, numbers.Integral) else repr(float(value))


def csv_text(rows: Iterable[Iterable], *, number: Callable[[object], str] = plain_number,
             lineterminator: str = "\r\n") -> str:
    """The CSV text of ``rows`` (header first), via Python's :mod:`csv` (excel dialect):
    None is an empty cell, a number (bool excluded) is ``number(value)``, anything else is
    text through :func:`text_cell`."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator=lineterminator)
    for row in rows:
        writer.writerow([_cell(value, number) for value in row])
    return buffer.getvalue()


def _cell(value, number: Callable[[object], str]) -> str:
    if value is None:
        return ""
    if isinstance(value, numbers.Number) and not isinstance(value, bool):
        return number(value)
    return text_cell(value)
