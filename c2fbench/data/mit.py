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
    """Read a foreground mask PNG as (H, W) bool: nonzero is foreground.

    Grayscale and palette PNGs: a nonzero value (palette index) is foreground. Colour PNGs
    are scored on their colour: black is background, any other colour foreground. Alpha
    (RGBA, LA) is never read as the mask: ``matplotlib.pyplot.imsave`` writes RGBA with
    alpha 255 everywhere, and reading alpha as foreground turned a perfect mask into J 25.

    Refused, rather than guessed (InputError naming the file):

    - a mask carried by alpha alone (transparency varies, the colour is uniform);
    - a colour rendering with no black pixel and several colours, such as ``plt.imsave``'s
      default viridis colormap, where background is purple (save with ``cmap="gray"``).

    With ``threshold`` (in [0, 1]), the PNG is a soft map instead: 8-bit values at or above
    ``threshold * 255`` (16-bit: ``* 65535``) are foreground; it must be grayscale (a
    colour PNG whose three channels are equal counts as grayscale).
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
    if a.ndim == 3:
        a = _colour_channels(path, a)
    if threshold is not None:
        if a.ndim == 3:
            raise InputError(f"{path}: a soft map must be a grayscale PNG, found colours")
        scale = 65535 if a.dtype == np.uint16 or a.max(initial=0) > 255 else 255
        return a >= threshold * scale
    if a.ndim == 2:
        return a > 0
    fg = a.any(axis=2)
    if not fg.all() or a.shape[0] * a.shape[1] == 0:
        return fg
    if (a.reshape(-1, a.shape[2]) != a[0, 0]).any():
        raise InputError(f"{path}: colour mask with no black (background) pixel and several colours, like a "
                         f"colormap rendering; expected nonzero = foreground on black (plt.imsave(..., cmap='gray'))")
    return fg


def _colour_channels(path: Path, a: np.ndarray) -> np.ndarray:
    """(H, W, k) pixels without alpha: (H, W) when the colour channels are equal (gray), else (H, W, 3)."""
    colour, alpha = (a[..., :-1], a[..., -1]) if a.shape[2] in (2, 4) else (a, None)
    if alpha is not None and colour.size and (alpha != alpha.max(initial=0)).any() and \
            (colour.reshape(-1, colour.shape[2]) == colour.reshape(-1, colour.shape[2])[0]).all():
        raise InputError(f"{path}: the mask is in the alpha channel only (uniform colour, varying transparency); "
                         f"expected the mask in the colour or gray values, nonzero = foreground")
    if colour.shape[2] == 1 or (colour == colour[..., :1]).all():
        return colour[..., 0]
    return colour
