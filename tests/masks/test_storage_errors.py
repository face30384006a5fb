"""A full disk under a masks run (issue 25): every write of OUT's records (the journal, the
options, the failed list, the summary) that the storage refuses is one line naming the file,
exit status 2, and leaves no half-written file or temporary behind.

The disk is simulated: ``os.write`` / ``os.fsync`` raise ENOSPC for the file under test
(after writing part of the data, as a real full disk does).
"""

import errno
import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from c2fbench.atomic import StorageError
from c2fbench.errors import InputError
from c2fbench.masks import record, runner
from c2fbench.masks.runner import Shard
from cli_helpers import run

WNID = "n02690373"  # airplane in voc_synsets.json


def _images(folder: Path, count: int = 3) -> Path:
    """``count`` random 24x32 JPEGs in one VOC-mapped class folder."""
    rng = np.random.default_rng(7)
    (folder / WNID).mkdir(parents=True)
    for k in range(count):
        Image.fromarray(rng.integers(0, 255, (24, 32, 3), dtype=np.uint8)).save(folder / WNID / f"{WNID}_{k}.JPEG")
    return folder


def _name_of(fd: int) -> str:
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return ""


def _full_disk(monkeypatch, name: str, *, after: int = 0, on: str = "write"):
    """Make ``os.write`` (or ``os.fsync``) fail with ENOSPC for the file whose path holds
    ``name``, once ``after`` bytes went to it (a write crossing the limit writes part of its data)."""
    real_write, real_fsync = os.write, os.fsync
    written = {"n": 0}

    def write(fd, data):
        if name not in _name_of(fd):
            return real_write(fd, data)
        room = after - written["n"]
        if room <= 0:
            raise OSError(errno.ENOSPC, "No space left on device")
        n = real_write(fd, bytes(data)[:room])
        written["n"] += n
        return n

    def fsync(fd):
        if name in _name_of(fd):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_fsync(fd)

    if on == "write":
        monkeypatch.setattr(os, "write", write)
    else:
        monkeypatch.setattr(os, "fsync", fsync)


def _whole_lines(path: Path) -> list[dict]:
    """Every line of ``path`` as JSON; fails on a cut line."""
    text = path.read_text()
    assert text == "" or text.endswith("\n"), repr(text[-40:])
    return [json.loads(line) for line in text.splitlines()]


def _temporaries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob(".*") if p.suffix in (".tmp", ".staging"))


def test_a_journal_line_the_disk_cuts_is_removed_and_named(tmp_path, monkeypatch):
    journal = record.Journal(tmp_path, Shard())
    journal.append("a/1", "done", None, None)
    before = (tmp_path / "events.jsonl").read_bytes()
    _full_disk(monkeypatch, "events.jsonl", after=10)  # 10 bytes of the next line fit, then ENOSPC
    with pytest.raises(StorageError, match=r"events\.jsonl: could not write \(No space left on device\)"):
        journal.append("a/2", "done", None, None)
    assert (tmp_path / "events.jsonl").read_bytes() == before
    monkeypatch.undo()
    journal.close()
    assert [r["id"] for r in _whole_lines(tmp_path / "events.jsonl")] == ["a/1"]


def test_a_journal_sync_the_disk_refuses_is_named_and_closes(tmp_path, monkeypatch):
    journal = record.Journal(tmp_path, Shard())
    journal.append("a/1", "done", None, None)
    fd = journal.fd
    _full_disk(monkeypatch, "events.jsonl", on="fsync")
    with pytest.raises(StorageError, match=r"events\.jsonl: could not write"):
        journal.close()
    with pytest.raises(OSError):
        os.fstat(fd)  # closed all the same
    journal.close()  # a second close is nothing


def test_options_the_disk_refuses_leave_no_file_and_no_temporary(tmp_path, monkeypatch):
    _full_disk(monkeypatch, "options.json", after=5)
    with pytest.raises(StorageError, match=r"options\.json: could not write"):
        record.claim_options(tmp_path, {"job": "masks coarse", "seed": 0})
    assert sorted(os.listdir(tmp_path)) == []


@pytest.mark.parametrize("name, on", [("events.jsonl", "write"), ("events.jsonl", "fsync"),
                                      ("summary.json", "fsync"), ("failed.json", "fsync"),
                                      ("options.json", "write")])
def test_masks_enhance_on_a_full_disk_is_one_line_naming_the_file(tmp_path, monkeypatch, name, on):
    """The reported case: ``masks enhance`` exited 1 with a traceback from journal.close()."""
    images = _images(tmp_path / "images")
    assert run("masks", "coarse", "--images", images, "--out", tmp_path / "coarse", "--workers", 1).exit_code == 0
    out = tmp_path / "enhanced"
    _full_disk(monkeypatch, name, after=60, on=on)  # the journal: the first line fits, not the second
    result = run("masks", "enhance", "--images", images, "--coarse", tmp_path / "coarse", "--out", out,
                 "--workers", 1, "--iterations", 1)
    monkeypatch.undo()
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert errors == [f"error: {out / name}: could not write (No space left on device); nothing was written there"]
    assert _temporaries(out) == []
    if (out / "events.jsonl").exists():
        _whole_lines(out / "events.jsonl")
    for written in ("options.json", "summary.json", "failed.json"):
        if (out / written).exists():
            json.loads((out / written).read_text())
    # space again: the same command finishes the job
    again = run("masks", "enhance", "--images", images, "--coarse", tmp_path / "coarse", "--out", out,
                "--workers", 1, "--iterations", 1)
    assert again.exit_code == 0, again.output
    assert sorted(p.name for p in (out / WNID).iterdir()) == [f"{WNID}_{k}.png" for k in range(3)]


def test_a_worker_storage_error_reaches_the_parent_as_one_line():
    """StorageError does not unpickle (its constructor takes two arguments): a pool would
    wait forever for the worker's answer. The worker hands it over as a plain InputError."""

    class FullDisk:
        def process(self, image_id):
            raise StorageError(Path("out") / f"{image_id}.png", OSError(errno.ENOSPC, "No space left on device"))

    runner._job = FullDisk()
    try:
        with pytest.raises(InputError) as caught:
            runner._process("a/1")
    finally:
        runner._job = None
    copy = pickle.loads(pickle.dumps(caught.value))
    assert str(copy) == "out/a/1.png: could not write (No space left on device); nothing was written there"
