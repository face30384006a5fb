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

from c2fbench.errors import InputError

MIT_CLASSES: tuple[str, ...] = ("Airplane", "Car", "Horse")


# What --data-root may be for mit-*, as find_mit_root searches it (quoted by the help texts).
ROOT_FORMS = "Object Discovery's Data/ or a folder up to three levels above it"


def find_mit_root(data_root: str | os.PathLike) -> Path:
    """Return the ``Data`` folder at or below ``data_root``: ``data_root`` itself,
    ``data_root/Data``, ``data_root/*/Data`` or ``data_root/*/*/Data`` (:data:`ROOT_FORMS`)."""
    root = Path(data_root)
    if not root.is_dir():
        raise InputError(f"{root}: data root not found (expected {ROOT_FORMS})")
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
