"""Published numbers that remember how they were printed.

A paper prints 47.7 and 58.80; read as plain floats both lose their precision, and a report
that reprints them with two decimals claims a digit the paper never gave (47.70). The
leaderboard files are read with :func:`load_json`, whose decimal numbers are :class:`Printed`:
floats in every computation, with ``text`` holding the digits as the JSON file writes them,
which is as the source printed them.
"""

from __future__ import annotations

import json
from pathlib import Path


class Printed(float):
    """A float with the text it was printed as (``Printed("58.80").text == "58.80"``).

    Arithmetic gives plain floats, so a difference or a mean is never mistaken for a
    published number.

    >>> x = Printed("47.70")
    >>> x == 47.7, x.text, type(x - 1.0).__name__
    (True, '47.70', 'float')
    """
    __slots__ = ("text",)

    def __new__(cls, text: str) -> "Printed":
        number = super().__new__(cls, text)
        number.text = text
        return number

    def __reduce__(self):
        return Printed, (self.text,)


def load_json(path: Path) -> dict:
    """A leaderboard JSON file, its decimal numbers as :class:`Printed` (integers stay int)."""
    return json.loads(Path(path).read_text(), parse_float=Printed)
