"""Tiny hand-built datasets in tmp_path, independent of the synthetic generator."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

NUM_CLASSES = 21


def random_label_map(rng: np.random.Generator, h: int, w: int, *, void_rate: float = 0.1) -> np.ndarray:
    """Blocky random class map with void pixels, as (H, W) uint8."""
    small = rng.integers(0, NUM_CLASSES, size=(max(1, h // 8), max(1, w // 8)))
    label = np.kron(small, np.ones((8, 8), dtype=np.int64))[:h, :w]
    label = np.pad(label, ((0, h - label.shape[0]), (0, w - label.shape[1])), mode="edge")
    label[rng.random((h, w)) < void_rate] = 255
    return label.astype(np.uint8)


def save_palette_png(path: Path, label: np.ndarray) -> None:
    """Write a palette PNG with PIL directly (not through c2fbench), for test fixtures."""
    path.parent.mkdir(parents=True, exist_ok=True)
    im = Image.fromarray(label, mode="L").convert("P")
    im.putpalette([v for i in range(256) for v in (i, 255 - i, (7 * i) % 256)])
    im.save(path)


@pytest.fixture
def voc_tree(tmp_path):
    """A VOC2012 folder with 5 val images of varying sizes and their ground truth.

    Returns (data_root, voc_root, {id: label}).
    """
    rng = np.random.default_rng(1234)
    voc = tmp_path / "VOCdevkit" / "VOC2012"
    labels = {}
    for k in range(5):
        image_id = f"2007_{k:06d}"
        h, w = 40 + 3 * k, 56 - 2 * k
        labels[image_id] = random_label_map(rng, h, w)
        save_palette_png(voc / "SegmentationClass" / f"{image_id}.png", labels[image_id])
        (voc / "JPEGImages").mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(voc / "JPEGImages" / f"{image_id}.jpg")
    split = voc / "ImageSets" / "Segmentation"
    split.mkdir(parents=True)
    (split / "val.txt").write_text("".join(f"{i}\n" for i in labels))
    (split / "train.txt").write_text("".join(f"{i}\n" for i in list(labels)[:2]))
    return tmp_path, voc, labels


@pytest.fixture
def mit_tree(tmp_path):
    """Object Discovery Data/ with 3 small images per subset, one of them a noise image.

    Returns (data_root, {id: bool mask}).
    """
    rng = np.random.default_rng(99)
    data = tmp_path / "ObjectDiscovery" / "Data"
    masks = {}
    for cls in ("Airplane", "Car", "Horse"):
        for folder in (cls, cls + "100"):
            for k in range(3):
                name = f"{k:04d}"
                mask = np.zeros((20, 30), dtype=bool)
                if k > 0:  # image 0000 is a noise image without the object
                    y, x = rng.integers(0, 10), rng.integers(0, 15)
                    mask[y:y + 8, x:x + 12] = True
                masks[f"{folder}/{name}"] = mask
                (data / folder / "GroundTruth").mkdir(parents=True, exist_ok=True)
                Image.fromarray(rng.integers(0, 255, (20, 30, 3), dtype=np.uint8)).save(data / folder / f"{name}.jpg")
                Image.fromarray(mask.astype(np.uint8) * 255).save(data / folder / "GroundTruth" / f"{name}.png")
    return tmp_path, masks


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item):
    """A gpu test whose setup (a fixture exporting an ONNX file: torch's exporter needs the
    onnx package) finds a package missing is skipped naming it, rather than erroring: the bare
    GPU machine of benchmarks/gpu_check.py ``--prepared`` has torch, torchvision, numpy, pillow
    and onnxruntime only. Elsewhere a missing package stays an error."""
    try:
        return (yield)
    except Exception as e:
        missing = missing_module(e)
        if missing is None or item.get_closest_marker("gpu") is None:
            raise
        pytest.skip(f"needs {missing}, which is not installed here (in the test's setup)")


def missing_module(error: BaseException | None) -> str | None:
    """The module a ModuleNotFoundError in ``error``'s chain names (torch raises its own error
    "Module onnx is not installed!" from one), else None."""
    while error is not None:
        if isinstance(error, ModuleNotFoundError):
            return error.name
        error = error.__cause__ or error.__context__
    return None


@pytest.fixture(autouse=True, scope="session")
def torch_one_thread():
    """One torch thread for the whole test session: the tests share 2 cores with worker
    processes, and two torch threads on two busy cores ran 10-100x slower (measured)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True)
def torch_one_thread_after_each_test():
    """Back to one thread after every test: a CLI call sets its own count (``--threads`` or
    the load-based default), and a run's floating-point results depend on the thread count,
    so a later test (or module fixture) must not inherit it."""
    import torch

    yield
    torch.set_num_threads(1)


@pytest.fixture
def full_disk(monkeypatch):
    """Every fsync of a regular file fails as on a full disk (folders still sync)."""
    import errno
    import os
    import stat

    real = os.fsync

    def fsync(fd):
        if stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
