"""The one check of a ``--device`` option, shared by every command that takes one."""

from __future__ import annotations

import re

from c2fbench.errors import InputError

_DEVICE = re.compile(r"^(cpu|cuda)(:\d+)?$")


def resolve_device(device: str | None, *, option: str = "--device") -> str:
    """``device`` checked against this machine: ``cpu``, ``cuda`` or ``cuda:N``.

    None means CUDA when present, else the CPU. Anything else, or CUDA on a machine
    without it, is an InputError saying what to pass instead.
    """
    import torch

    if device is None:
        return "cuda" if torch.cuda.is_available() else "cpu"
    device = device.strip().lower()
    if not _DEVICE.match(device):
        raise InputError(f"{option} {device}: expected cpu, cuda or cuda:N")
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise InputError(f"{option} {device}: CUDA is not available on this machine "
                             f"(torch {torch.__version__}); use {option} cpu")
        index = int(device.split(":")[1]) if ":" in device else 0
        if index >= torch.cuda.device_count():
            raise InputError(f"{option} {device}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    return device
