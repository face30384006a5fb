"""MIT Object Discovery (Rubinstein et al., CVPR 2013) on disk.

The archive unzips to ``Data/{Airplane,Car,Horse}`` (full sets) and
``Data/{Airplane100,Car100,Horse100}`` (the 100-image subsets the paper reports), each
holding ``<name>.jpg`` and ``GroundTruth/<name>.png``. Ground truth is binarised with
``> 0``: the archive's pixel values are not documented, and ``> 0`` is what the public
evaluation code does.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from c2fbench.errors import InputError

MIT_CLASSES: tuple[str, ...] = ("Airplane", "Car", "Horse")


def find_mit_root(data_root: str | os.PathLike) -> Path:
    """Return the ``Data`` folder at or below ``data_root`` (up to two levels down)."""
    root = Path(data_root)
    if not root.is_dir():
        raise InputError(f"{root}: data root not found (expected the folder holding Object Discovery's Data/)")
    candidates = [root, root / "Data", *sorted(root.glob("*/Data")), *sorted(root.glob("*/*/Data"))]
    for candidate in candidates:
        if all((candidate / name).is_dir() for name in MIT_CLASSES) or all(
            (candidate / f"{name}100").is_dir() for name in MIT_CLASSES
        ):
            return candidate
    raise InputError(f"{root}: no Object Discovery data found (expected Data/Airplane, Data/Car, Data/Horse "
                     f"or their 100-image subsets)")


def list_folder(data_dir: Path, folder: str) -> tuple[list[str], list[str]]:
    """Image names (stems) in ``data_dir/folder`` with ground truth, and those without.

    Images without a ``GroundTruth/<name>.png`` cannot be scored; the caller reports them.
    """
    path = data_dir / folder
    if not path.is_dir():
        raise InputError(f"{path}: folder not found")
    stems = sorted(p.stem for p in path.iterdir() if p.suffix.lower() == ".jpg")
    if not stems:
        raise InputError(f"{path}: no .jpg images found")
    gt_dir = path / "GroundTruth"
    have = {p.stem for p in gt_dir.iterdir()} if gt_dir.is_dir() else set()
    return [s for s in stems if s in have], [s for s in stems if s not in have]


def read_mask_png(path: str | os.PathLike, *, threshold: float | None = None) -> np.ndarray:
    """Read a foreground mask PNG as (H, W) bool: nonzero (in any channel) is foreground.

    With ``threshold`` (in [0, 1]), the PNG is a soft map instead: 8-bit values at or above
    ``threshold * 255`` (16-bit: ``* 65535``) are foreground.
    """
    from c2fbench.data.files import open_image

    path = Path(path)
    with open_image(path) as im:
        if im.format != "PNG":
            raise InputError(f"{path}: expected a PNG mask, found {im.format or 'unknown'} data")
        try:
            a = np.asarray(im)
        except (OSError, SyntaxError, ValueError) as e:
            raise InputError(f"{path}: corrupt or unreadable PNG ({e})") from None
    if threshold is not None:
        if a.ndim == 3:
            raise InputError(f"{path}: a soft map must be a single-channel PNG, found {a.shape[2]} channels")
        scale = 65535 if a.dtype == np.uint16 or a.max(initial=0) > 255 else 255
        return a >= threshold * scale
    return a.any(axis=2) if a.ndim == 3 else a > 0
