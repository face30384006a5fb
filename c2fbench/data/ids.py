"""Image-id lists: VOC's split files (``ImageSets/Segmentation/<split>.txt``) and any list given
with ``eval --split FILE`` or ``predict --split FILE``.

One id a line, UTF-8 (a byte-order mark is skipped), blank lines ignored. An id is a plain
file name stem: letters, digits, ``_``, ``-`` and ``.``, not ``.`` or ``..``, at most
:data:`MAX_ID` characters. A path (``/abs``, ``../x``) would make eval read, or predict
write, outside its folders, so it is refused with its line number; so is an id listed twice
(it would be scored twice).
"""

from __future__ import annotations

import re
from pathlib import Path

from c2fbench.errors import InputError

_ID = re.compile(r"[A-Za-z0-9_.-]+")
MAX_ID = 200  # <id>.png and its temporary name fit a file name's 255 bytes
MAX_LIST_BYTES = 64 << 20  # VOC's trainval.txt is 32 kB, train_aug.txt 127 kB


def is_plain_id(name: str) -> bool:
    """Whether ``name`` can be an image id (see the module docstring)."""
    return len(name) <= MAX_ID and bool(_ID.fullmatch(name)) and name not in (".", "..")


def read_id_list(path: Path, *, what: str = "id list") -> list[str]:
    """The ids of ``path``, in file order; InputError naming the file and line otherwise."""
    from c2fbench.files import check_regular_file

    path = Path(path)
    check_regular_file(path, max_bytes=MAX_LIST_BYTES, what=what)
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[:e.start].count(b"\n") + 1
        raise InputError(f"{path}: line {line} is not UTF-8 (byte 0x{raw[e.start]:02x}); expected one image id "
                         f"per line") from None
    first_line: dict[str, int] = {}
    for number, line in enumerate(text.split("\n"), start=1):  # "\n" only: str.splitlines also splits at U+2028
        image_id = line.strip()
        if not image_id:
            continue
        if not is_plain_id(image_id):
            raise InputError(f"{path}: line {number}: {image_id[:60]!r} is not an image id (expected a plain name "
                             f"of letters, digits, '_', '-', '.', without folders, at most {MAX_ID} characters)")
        if image_id in first_line:
            raise InputError(f"{path}: line {number}: image id {image_id} is listed twice (first on line "
                             f"{first_line[image_id]}); each image is scored once")
        first_line[image_id] = number
    if not first_line:
        raise InputError(f"{path}: {what} is empty (expected one image id per line)")
    return list(first_line)


def check_files_exist(ids: list[str], path_of, *, listed_in: Path, what: str) -> None:
    """Refuse ``ids`` when the file ``path_of(id)`` of any is missing, naming the first such id,
    how many there are, the list they came from and the expected path. One ``stat`` an id:
    10,582 for train_aug, well under a second."""
    missing = [i for i in ids if not path_of(i).exists()]
    if missing:
        more = f" and {len(missing) - 1} more ids" if len(missing) > 1 else ""
        raise InputError(f"{listed_in}: image id {missing[0]}{more} ha{'ve' if more else 's'} no {what} "
                         f"(expected {path_of(missing[0])})")
