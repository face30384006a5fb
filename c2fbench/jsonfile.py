"""The one JSON reader for every file c2fbench reads from the user: configs, annotation files,
manifests, results, and JSON strings inside ONNX metadata.

Whatever the text holds, the answer is the parsed value or an
:class:`~c2fbench.errors.InputError` naming where it came from: invalid JSON, an integer
longer than Python's 4300 digits, or nesting deeper than ``max_depth`` (Python's parser
itself stops near 1000 levels with a RecursionError, and code that walks a parsed value
recursively can stop well before that; no c2fbench file nests deeper than a few levels).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from c2fbench.errors import InputError
from c2fbench.files import check_regular_file

MAX_DEPTH = 32


def parse_json(text: str | bytes, where: str, *, max_depth: int | None = MAX_DEPTH):
    """The value of the JSON ``text``; InputError naming ``where`` when it is not JSON or
    nests deeper than ``max_depth`` (None: only the parser's own limit)."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise InputError(f"{where}: not valid JSON ({e})") from None
    except (ValueError, RecursionError, UnicodeDecodeError) as e:
        raise InputError(f"{where}: not valid JSON ({str(e)[:120]})") from None
    if max_depth is not None and depth(value, stop=max_depth + 1) > max_depth:
        raise InputError(f"{where}: JSON nested more than {max_depth} levels deep (expected at most {max_depth})")
    return value


def read_json(path: str | os.PathLike, what: str = "JSON file", *, max_bytes: int = 64 << 20,
              max_depth: int | None = MAX_DEPTH, encoding: str = "utf-8-sig"):
    """The JSON value in ``path`` (a regular file of at most ``max_bytes``, refused unopened
    otherwise); InputError naming the file for any fault. A byte-order mark (Notepad) is
    no error."""
    path = Path(path)
    check_regular_file(path, max_bytes=max_bytes, what=what)
    try:
        text = path.read_text(encoding=encoding)
    except FileNotFoundError:
        raise InputError(f"{path}: {what} not found") from None
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: cannot read the {what} ({e})") from None
    return parse_json(text, str(path), max_depth=max_depth)


def read_json_object(path: str | os.PathLike, what: str = "JSON file", **kwargs) -> dict:
    """:func:`read_json`, refusing anything but a JSON object."""
    value = read_json(path, what, **kwargs)
    if not isinstance(value, dict):
        raise InputError(f"{path}: expected a JSON object ({what}), found {type(value).__name__}")
    return value


def depth(value, *, stop: int | None = None) -> int:
    """How deeply ``value``'s lists and dicts nest (a scalar is 0, ``[]`` is 1); walked
    without recursion, and no further than ``stop`` levels when given."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        deepest = max(deepest, level)
        if stop is not None and deepest >= stop:
            return deepest
        stack.extend((child, level + 1) for child in children if isinstance(child, (list, dict)))
    return deepest
