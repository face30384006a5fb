"""Weights saved without their network: a state dict read without running code, and the one
check that it fits the network it is loaded into.

Shared by ``--model torchvision:NAME --weights FILE`` (:mod:`deploy.torchvision_models`) and
``--model FILE --arch ...`` (:mod:`deploy.user_models`). The file is read with
``torch.load(weights_only=True)``: tensors and plain containers only, so a file holding any
other pickled object is refused before anything in it runs. It may be:

- a state dict (name -> tensor), as ``torch.save(model.state_dict(), FILE)`` writes it;
- a dict holding one under ``"state_dict"`` (PyTorch Lightning, many training scripts) or
  ``"model"`` (torchvision's reference scripts), beside epochs, optimiser states and the like.

Names saved from a ``DataParallel`` / ``DistributedDataParallel`` wrapper all start with
``module.``; the prefix is removed. What was used is returned as a note, for one line on
stderr once the weights fit.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from c2fbench.errors import InputError

WRAPPER_KEYS = ("state_dict", "model")  # looked for in this order
DDP_PREFIX = "module."


def read_state_dict(path: Path, *, what: str = "weights file") -> tuple[dict, str]:
    """(state dict, note) of ``path``: the weights, and a few words on where they were found
    ("the state dict of w.pth", "its 'model' entry, 'module.' prefix removed"). InputError,
    one line naming ``path``, for a file that is unreadable, holds a pickled object, is a
    c2fbench checkpoint (which names its own network), or holds no state dict."""
    import torch

    from c2fbench.files import MAX_MODEL_BYTES, check_regular_file
    from c2fbench.models.checkpoint import FORMAT, why_unreadable

    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: {what} not found")
    check_regular_file(path, max_bytes=MAX_MODEL_BYTES, what=what)  # a FIFO would hang torch.load
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # zip, pickle and weights-only errors alike
        raise InputError(f"{path}: {why_unreadable(e)}; expected a state dict (torch.save(model.state_dict(), "
                         f"FILE))") from None
    if isinstance(payload, dict) and payload.get("format") == FORMAT:
        raise InputError(f"{path}: a c2fbench checkpoint, which names its own network and classes; give it as "
                         f"--model without --arch or --weights")
    where = f"the state dict of {path.name}"
    if isinstance(payload, dict) and not _is_state(payload):
        key = next((k for k in WRAPPER_KEYS if isinstance(payload.get(k), dict) and _is_state(payload[k])), None)
        if key is not None:
            payload, where = payload[key], f"the {key!r} entry of {path.name}"
    if not isinstance(payload, dict) or not _is_state(payload):
        raise InputError(f"{path}: {_describe(payload)}; expected a state dict (name -> tensor), or a dict holding "
                         f"one under {' or '.join(repr(k) for k in WRAPPER_KEYS)}")
    if all(str(k).startswith(DDP_PREFIX) for k in payload):
        payload = {k[len(DDP_PREFIX):]: v for k, v in payload.items()}
        where += f", {DDP_PREFIX!r} prefix removed (saved from a DataParallel wrapper)"
    return payload, where


def _is_state(value: dict) -> bool:
    import torch

    return bool(value) and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in value.items())


def _describe(payload) -> str:
    if not isinstance(payload, dict):
        return f"it holds a {type(payload).__name__}, not a dict"
    if not payload:
        return "it holds an empty dict"
    keys = ", ".join(repr(k) for k in list(payload)[:6])
    return f"a dict with no weights found in it (keys {keys}{', ...' if len(payload) > 6 else ''})"


def check_state_fits(expected: dict, state: dict, *, path: Path, what: str) -> None:
    """InputError, one line, unless ``state`` has exactly the keys of ``expected`` (a network's
    ``state_dict()``) with the same shapes: the missing, unexpected and misshapen keys are
    counted and the first of each named, e.g. "w.pth: does not fit torchvision fcn_resnet50
    with 21 classes: keys 3 missing (first 'a.weight'); 1 of another shape (...)"."""
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    wrong = [k for k in expected if k in state and tuple(state[k].shape) != tuple(expected[k].shape)]
    if missing or unexpected or wrong:
        parts = [f"{len(missing)} missing (first {missing[0]!r})" if missing else "",
                 f"{len(unexpected)} unexpected (first {unexpected[0]!r})" if unexpected else "",
                 f"{len(wrong)} of another shape (first {wrong[0]!r}: {tuple(state[wrong[0]].shape)}, model "
                 f"{tuple(expected[wrong[0]].shape)})" if wrong else ""]
        raise InputError(f"{path}: does not fit {what}: keys {'; '.join(p for p in parts if p)}")
