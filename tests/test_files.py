"""File guards (c2fbench.files), the pixel limit in every image reader, and the
mode of atomically written files."""

import os
import stat
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from c2fbench import files
from c2fbench.atomic import atomic_write_bytes
from c2fbench.data.images import read_rgb
from c2fbench.data.png import read_label_png, read_mask_png
from c2fbench.errors import InputError

READERS = [read_rgb, read_label_png, read_mask_png]


def _png(width, height, raw, colour=0):
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, colour, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


@pytest.mark.parametrize("reader", READERS)
@pytest.mark.parametrize("width,height", [(10000, 9000), (20000, 20000)])  # under and over PIL's own limit
def test_decompression_bomb_is_refused_before_decoding(tmp_path, reader, width, height):
    # A huge grey image declared, a few kB on disk: refused from the header.
    row = b"\x00" * (width + 1)
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(_png(width, height, row * 16))  # data far short of the declared size
    with pytest.raises(InputError, match=r"bomb.png: .*pixels.*decompression bomb"):
        reader(bomb)


@pytest.mark.parametrize("reader", READERS)
def test_symlink_to_a_device_and_a_fifo_are_refused_without_reading(tmp_path, reader):
    link = tmp_path / "zero.png"
    link.symlink_to("/dev/zero")
    with pytest.raises(InputError, match="zero.png: not a regular file"):
        reader(link)
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    with pytest.raises(InputError, match="pipe.png: not a regular file"):
        reader(fifo)  # would block forever if it were opened


@pytest.mark.parametrize("reader", READERS)
def test_missing_and_oversized_files(tmp_path, reader, monkeypatch):
    with pytest.raises(InputError, match="absent.png: .*not found"):
        reader(tmp_path / "absent.png")
    big = tmp_path / "big.png"
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(big)
    monkeypatch.setattr(files, "MAX_IMAGE_BYTES", 10)
    with pytest.raises(InputError, match="big.png: .* bytes, more than"):
        reader(big)


def test_fast_png_path_stops_inflating_at_the_declared_size(tmp_path):
    # IDAT holds more rows than the header declares: the fast path must not inflate them all,
    # and PIL (which reads only what is declared) gives the declared image.
    width, height = 4, 2
    rows = (b"\x00" + bytes([1, 2, 3, 4])) * 1000
    path = tmp_path / "long.png"
    path.write_bytes(_png(width, height, rows))
    np.testing.assert_array_equal(read_label_png(path), np.array([[1, 2, 3, 4]] * 2, np.uint8))


def test_atomic_write_gives_the_mode_open_would(tmp_path):
    old = os.umask(0o027)
    try:
        atomic_write_bytes(tmp_path / "a.bin", b"x")
        with open(tmp_path / "b.bin", "wb") as f:
            f.write(b"x")
    finally:
        os.umask(old)
    mode = stat.S_IMODE(os.stat(tmp_path / "a.bin").st_mode)
    assert mode == stat.S_IMODE(os.stat(tmp_path / "b.bin").st_mode) == 0o640


def test_a_full_disk_is_one_input_error_and_leaves_no_file_or_new_folder(tmp_path, full_disk):
    (tmp_path / "kept").mkdir()
    (tmp_path / "kept" / "old.bin").write_bytes(b"old")
    with pytest.raises(InputError, match=r"a/b/c\.bin: could not write \(No space left on device\)"):
        atomic_write_bytes(tmp_path / "a" / "b" / "c.bin", b"x")
    with pytest.raises(InputError, match=r"old\.bin: could not write"):
        atomic_write_bytes(tmp_path / "kept" / "old.bin", b"new")
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == ["kept", "kept/old.bin"]
    assert (tmp_path / "kept" / "old.bin").read_bytes() == b"old"


def test_a_full_disk_in_a_staged_folder_names_the_folder_and_leaves_it_as_it_was(tmp_path, full_disk):
    from c2fbench.atomic import staged_folder

    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "r.txt").write_bytes(b"earlier")
    for out in (tmp_path / "out", tmp_path / "new" / "deeper"):
        with pytest.raises(InputError, match=rf"{out.name}: could not write \(No space left on device\)"):
            with staged_folder(out) as staging:
                atomic_write_bytes(staging / "r.txt", b"later")
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == ["out", "out/r.txt"]
    assert (tmp_path / "out" / "r.txt").read_bytes() == b"earlier"



def test_file_sha256_matches_hashlib_across_its_read_blocks(tmp_path):
    """files.file_sha256 reads 1 MiB at a time: a file of a few blocks and a ragged end, and
    an empty one, hash as hashlib does on the whole bytes (issue 28: the hash moved here from
    inference.py, so that c2fbench/data reaches nothing above the ground floor)."""
    import hashlib

    data = np.random.default_rng().integers(0, 256, (2 << 20) + 12345, dtype=np.uint8).tobytes()
    (tmp_path / "big.bin").write_bytes(data)
    (tmp_path / "empty.bin").write_bytes(b"")
    assert files.file_sha256(tmp_path / "big.bin") == hashlib.sha256(data).hexdigest()
    assert files.file_sha256(str(tmp_path / "empty.bin")) == hashlib.sha256(b"").hexdigest()
