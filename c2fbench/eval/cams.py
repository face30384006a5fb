"""Class activation maps (CAMs) as the WSSS methods save them, one ``<id>.npy`` per image.

Three formats, told apart by their content (:func:`read_cam`; ``fmt`` forces one):

- ``irn``: IRN's ``make_cam.py`` writes a dict ``{"keys": (K,) 0-based foreground class
  indices, "cam": (K, h, w) at stride 4, "high_res": (K, H, W)}`` (``keys`` and ``cam`` are
  torch tensors there). ``high_res`` is used; without it, ``cam`` is upsampled as IRN upsamples
  it (bilinear by the stride, half-pixel centres as ``F.interpolate(align_corners=False)``,
  then cropped to the image), and the caller says so.
- ``seam``: SEAM's and PSA's dict ``{0-based foreground class: (H, W) map}``.
- ``dense``: a plain (F, H, W) array of every foreground class's scores (F = 20 on VOC),
  restricted to the image's own classes by the caller, or (F + 1, H, W) with background first,
  a full score map whose own background channel decides.

**Pickles run nothing.** The two dicts are pickled inside the ``.npy`` file, and
``np.load(allow_pickle=True)`` would run whatever a pickle names. They are read by
:class:`_CamUnpickler`, which admits only what these formats hold: dicts, lists, numpy arrays,
dtypes and scalars, and torch tensors (rebuilt from their bytes by
``torch.load(weights_only=True)``, the loader checkpoints use); anything else is refused before
it is called, with one line naming the file. A file is bounded in size before it is opened
(:func:`max_cam_bytes`), and a plain array's header, which declares its shape, is checked
against the image's size before its data are read.
"""

from __future__ import annotations

import collections
import io
import math
import os
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from c2fbench.errors import InputError

FORMATS = ("auto", "irn", "seam", "dense")
MAX_STRIDE = 32  # the coarsest CAM stride taken for IRN's strided ``cam`` (IRN's is 4)


@dataclass(frozen=True)
class Cam:
    """One image's CAM. ``classes``: (K,) ascending 0-based foreground class indices;
    ``scores``: (K, H, W) float, one map per class in that order. ``background``: (H, W)
    scores of a dense file's own background channel, None for foreground-only CAMs.
    ``upsampled``: IRN's strided ``cam`` was upsampled (no ``high_res`` in the file)."""

    format: str
    classes: np.ndarray
    scores: np.ndarray
    background: np.ndarray | None = None
    upsampled: bool = False


def max_cam_bytes(num_foreground: int, shape: tuple[int, int]) -> int:
    """The largest CAM file taken for an image of ``shape``: float64 maps of every class and
    background, twice (IRN keeps ``cam`` beside ``high_res``), plus 1 MiB of pickle framing."""
    return 2 * (num_foreground + 1) * shape[0] * shape[1] * 8 + (1 << 20)


def read_cam(path: str | os.PathLike, shape: tuple[int, int], num_foreground: int, *, fmt: str = "auto") -> Cam:
    """The CAM of an image of ``shape`` (H, W) from ``path``, in format ``fmt`` (or detected).

    Raises InputError naming the file for a file too large, a pickle that names anything
    but the formats' types, a shape other than the image's, unknown or repeated classes,
    non-finite scores, or content of another format than ``fmt``.
    """
    from c2fbench.files import check_regular_file

    path = Path(path)
    check_regular_file(path, max_bytes=max_cam_bytes(num_foreground, shape), what="CAM file (.npy)")
    with open(path, "rb") as f:
        try:
            version = np.lib.format.read_magic(f)
            if version not in ((1, 0), (2, 0)):
                raise ValueError(f"format version {version[0]}.{version[1]}, expected 1.0 or 2.0")
            read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) \
                else np.lib.format.read_array_header_2_0
            header = read_header(f, max_header_size=10_000)
        except (ValueError, EOFError, SyntaxError) as e:
            raise InputError(f"{path}: not a .npy file ({e})") from None
        array_shape, fortran, dtype = header
        if dtype.hasobject:
            if array_shape != ():
                raise InputError(f"{path}: holds an object array of shape {array_shape}; expected IRN's or "
                                 f"SEAM's dict (a 0-d object array) or a plain float array")
            content = _unpickle(f, path)
        else:
            _check_dense_header(path, array_shape, dtype, shape, num_foreground)
            f.seek(0)
            try:
                content = np.lib.format.read_array(f, allow_pickle=False)
            except (ValueError, EOFError, OSError) as e:
                raise InputError(f"{path}: truncated or corrupt .npy file ({e})") from None
    return _interpret(path, content, shape, num_foreground, fmt)


def _check_dense_header(path: Path, array_shape: tuple, dtype: np.dtype, shape: tuple[int, int],
                        num_foreground: int) -> None:
    """A plain array's declared shape and dtype, checked before its data are read."""
    channels = (num_foreground, num_foreground + 1)
    if len(array_shape) != 3 or array_shape[0] not in channels or tuple(array_shape[1:]) != tuple(shape):
        raise InputError(f"{path}: array of shape {tuple(array_shape)}; expected ({num_foreground}, {shape[0]}, "
                         f"{shape[1]}) foreground scores or ({num_foreground + 1}, {shape[0]}, {shape[1]}) with "
                         f"background first, at the image's size")
    if dtype.kind != "f":
        raise InputError(f"{path}: {dtype} scores; expected floating-point CAM scores")


# -- the restricted unpickler --------------------------------------------------------------

def _numpy_global(name: str):
    from numpy._core import multiarray

    return getattr(multiarray, name)


def _load_storage(data: bytes):
    """A torch storage pickled inside a tensor (``torch.storage._load_from_bytes``), loaded
    with ``weights_only=True``: nothing it names runs."""
    try:
        import torch
    except ImportError:
        raise InputError("holds torch tensors; install torch to read them") from None
    return torch.load(io.BytesIO(data), weights_only=True)


def _rebuild_tensor(storage, offset, size, stride, *args):
    import torch._utils

    return torch._utils._rebuild_tensor_v2(storage, offset, size, stride, False, collections.OrderedDict())


# (module, name) -> what it stands for. numpy 1.x pickles name numpy.core, numpy 2 numpy._core.
_ALLOWED = {
    ("numpy", "ndarray"): lambda: np.ndarray,
    ("numpy", "dtype"): lambda: np.dtype,
    **{(module, name): (lambda name=name: _numpy_global(name))
       for module in ("numpy.core.multiarray", "numpy._core.multiarray") for name in ("_reconstruct", "scalar")},
    ("collections", "OrderedDict"): lambda: collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): lambda: _rebuild_tensor,
    ("torch.storage", "_load_from_bytes"): lambda: _load_storage,
}


class _CamUnpickler(pickle.Unpickler):
    """Admits only the callables in :data:`_ALLOWED`; every other global is refused before
    it is looked up, so a pickle's ``__reduce__`` cannot call ``os.system`` or anything else."""

    def find_class(self, module: str, name: str):
        allowed = _ALLOWED.get((module, name))
        if allowed is None:
            raise _Refused(f"{module}.{name}")
        return allowed()

    def persistent_load(self, pid):
        raise _Refused("a persistent id")


class _Refused(Exception):
    pass


def _unpickle(f, path: Path):
    try:
        array = _CamUnpickler(f).load()
    except _Refused as e:
        raise InputError(f"{path}: refused, the pickle names {e} (it could run code); a CAM file holds only "
                         f"dicts, numpy arrays and numbers") from None
    except InputError as e:
        raise InputError(f"{path}: {e}") from None
    except Exception as e:  # any unpickling failure means "not a readable CAM file"
        raise InputError(f"{path}: corrupt pickle in .npy file ({type(e).__name__}: {e})") from None
    if not isinstance(array, np.ndarray) or array.shape != () or array.dtype != object:
        raise InputError(f"{path}: the pickle holds {type(array).__name__}; expected a dict")
    return array.item()


# -- interpreting the content --------------------------------------------------------------

def _as_array(value) -> np.ndarray:
    """A numpy array of ``value`` (a numpy array, a torch tensor, a number or a list)."""
    if type(value).__module__.startswith("torch"):
        return value.detach().cpu().numpy()
    return np.asarray(value)


def _detect(content) -> str | None:
    if isinstance(content, np.ndarray):
        return "dense"
    if isinstance(content, dict):
        if "keys" in content:
            return "irn"
        if all(isinstance(k, (int, np.integer)) and not isinstance(k, bool) for k in content):
            return "seam"
    return None


def _interpret(path: Path, content, shape: tuple[int, int], num_foreground: int, fmt: str) -> Cam:
    found = _detect(content)
    if found is None:
        what = f"a dict with keys {sorted(map(str, content))[:4]}" if isinstance(content, dict) \
            else type(content).__name__
        raise InputError(f"{path}: holds {what}; expected IRN's dict (keys, high_res), SEAM's dict "
                         f"{{class: map}} or a plain (C, H, W) array")
    if fmt != "auto" and fmt != found:
        raise InputError(f"{path}: holds the {found} format, not --cam-format {fmt}")
    if found == "dense":
        scores = _float_maps(path, content, "the array")
        if scores.shape[0] == num_foreground:
            return Cam("dense", np.arange(num_foreground), scores)
        return Cam("dense", np.arange(num_foreground), scores[1:], background=scores[0])
    if found == "irn":
        classes = _classes(path, _as_array(content["keys"]), num_foreground, "'keys'")
        upsampled = "high_res" not in content
        if upsampled:
            if "cam" not in content:
                raise InputError(f"{path}: IRN's dict holds neither 'high_res' nor 'cam'")
            scores = _upsample_strided(path, _float_maps(path, _as_array(content["cam"]), "'cam'"), shape)
        else:
            scores = _float_maps(path, _as_array(content["high_res"]), "'high_res'")
        if scores.shape[0] != classes.size:
            raise InputError(f"{path}: {scores.shape[0]} maps for {classes.size} classes in 'keys'")
        return _ordered(path, "irn", classes, scores, shape, upsampled)
    keys = np.array([int(k) for k in content], dtype=np.int64)
    classes = _classes(path, keys, num_foreground, "the dict's keys")
    maps = [_float_maps(path, _as_array(content[k])[None], f"the map of class {int(k)}") for k in content]
    scores = np.concatenate(maps) if maps else np.zeros((0, *shape), dtype=np.float32)
    return _ordered(path, "seam", classes, scores, shape, False)


def _classes(path: Path, keys: np.ndarray, num_foreground: int, what: str) -> np.ndarray:
    if keys.ndim != 1 or (keys.size and keys.dtype.kind not in "iu"):
        raise InputError(f"{path}: {what} must be 0-based foreground class indices, found {keys.dtype} "
                         f"{keys.shape}")
    keys = keys.astype(np.int64)
    bad = (keys < 0) | (keys >= num_foreground)
    if bad.any():
        raise InputError(f"{path}: {what} hold class {int(keys[bad][0])}; expected 0-based foreground classes "
                         f"0..{num_foreground - 1}")
    if np.unique(keys).size != keys.size:
        raise InputError(f"{path}: {what} list a class twice")
    return keys


def _float_maps(path: Path, value: np.ndarray, what: str) -> np.ndarray:
    if not isinstance(value, np.ndarray) or value.dtype.kind != "f" or value.ndim != 3:
        found = f"{value.dtype} {value.shape}" if isinstance(value, np.ndarray) else type(value).__name__
        raise InputError(f"{path}: {what} must be float (K, H, W) maps, found {found}")
    if not np.isfinite(value).all():
        raise InputError(f"{path}: {what} holds NaN or infinite scores")
    return value  # in its own dtype: thresholds are compared as the stored values compare


def _ordered(path: Path, fmt: str, classes: np.ndarray, scores: np.ndarray, shape: tuple[int, int],
             upsampled: bool) -> Cam:
    """Classes ascending, so that argmax ties go to the lower class index."""
    if scores.shape[1:] != tuple(shape):
        raise InputError(f"{path}: maps of {scores.shape[2]}x{scores.shape[1]} (WxH); the image is "
                         f"{shape[1]}x{shape[0]}")
    if np.all(np.diff(classes) > 0):
        return Cam(fmt, classes, scores, upsampled=upsampled)
    order = np.argsort(classes, kind="stable")
    return Cam(fmt, classes[order], scores[order], upsampled=upsampled)


def _upsample_strided(path: Path, cam: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """IRN's strided (K, ceil(H/s), ceil(W/s)) ``cam`` at the image's (H, W): bilinear by s,
    half-pixel centres (``F.interpolate(..., scale_factor=s, align_corners=False)``), cropped."""
    import cv2

    h, w = cam.shape[1:]
    strides = [s for s in range(1, MAX_STRIDE + 1) if (math.ceil(shape[0] / s), math.ceil(shape[1] / s)) == (h, w)]
    if not strides:
        raise InputError(f"{path}: 'cam' of {w}x{h} (WxH) is no stride of the {shape[1]}x{shape[0]} image, and "
                         f"there is no 'high_res'")
    s = 4 if 4 in strides else strides[0]
    if cam.shape[0] == 0:
        return np.zeros((0, *shape), dtype=cam.dtype)
    dtype = np.promote_types(cam.dtype, np.float32)  # OpenCV resizes float32 and float64
    up = [cv2.resize(np.ascontiguousarray(m, dtype=dtype), (w * s, h * s), interpolation=cv2.INTER_LINEAR)
          for m in cam]
    return np.stack(up)[:, :shape[0], :shape[1]]
