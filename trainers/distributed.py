"""Running under ``torchrun``: process group, model wrapping, reductions.

gloo on CPU, nccl on GPU. Without torchrun's environment everything degrades to one
process, so the same code path serves both.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from c2fbench.errors import InputError


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world > 1


def torchrun_env() -> tuple[int, int, int] | None:
    """(rank, world size, local rank) from torchrun's RANK / WORLD_SIZE / LOCAL_RANK, or None
    for one process (RANK not set, or WORLD_SIZE=1). Values that no launcher would set are an
    InputError, raised before anything is written."""
    if "RANK" not in os.environ:  # not launched by torchrun (whatever WORLD_SIZE says)
        return None
    raw = {name: os.environ.get(name, default) for name, default in
           (("RANK", "0"), ("WORLD_SIZE", "1"), ("LOCAL_RANK", "0"))}
    values = {}
    for name, text in raw.items():
        try:
            values[name] = int(text)
        except ValueError:
            raise InputError(f"{name}={text!r}: expected an integer (set by torchrun)") from None
    rank, world, local = values["RANK"], values["WORLD_SIZE"], values["LOCAL_RANK"]
    if not 0 <= rank < world:
        raise InputError(f"RANK={rank} WORLD_SIZE={world}: expected 0 <= RANK < WORLD_SIZE")
    if local < 0:
        raise InputError(f"LOCAL_RANK={local}: expected 0 or more")
    return None if world == 1 else (rank, world, local)


def init_distributed(device_type: str) -> Dist:
    """Join the process group when launched by torchrun (RANK and WORLD_SIZE set)."""
    import torch.distributed as dist

    env = torchrun_env()
    if env is None:
        return Dist()
    if not dist.is_initialized():
        missing = [name for name in ("MASTER_ADDR", "MASTER_PORT") if not os.environ.get(name)]
        if missing:  # torchrun sets them: RANK and WORLD_SIZE alone are not a launch
            raise InputError(f"RANK={env[0]} WORLD_SIZE={env[1]} without {' and '.join(missing)}: launch with "
                             "torchrun (it sets them), or unset RANK for one process")
        try:
            dist.init_process_group("nccl" if device_type == "cuda" else "gloo")
        except ValueError as e:  # e.g. a MASTER_PORT that is not a port number
            raise InputError(f"cannot join the torchrun process group: {e}") from None
    return Dist(dist.get_rank(), dist.get_world_size(), env[2])


def barrier(d: Dist) -> None:
    if d.enabled:
        import torch.distributed as dist

        dist.barrier()


def all_reduce_sum(d: Dist, array: np.ndarray) -> np.ndarray:
    """Element-wise sum over ranks (int64 confusion matrices stay exact): the ``reduce_sum``
    that a metric object's ``reduce`` applies to each of its arrays (training-time validation,
    :func:`c2fbench.eval.evaluator.evaluate_distributed`)."""
    if not d.enabled:
        return array
    import torch
    import torch.distributed as dist

    tensor = torch.from_numpy(np.ascontiguousarray(array))
    dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor.numpy()


def broadcast_model(d: Dist, model) -> None:
    """Give every rank rank 0's weights (after rank 0 loaded or initialised them)."""
    if d.enabled:
        import torch.distributed as dist

        for tensor in list(model.state_dict().values()):
            dist.broadcast(tensor, src=0)


def wrap(d: Dist, model, device):
    """DistributedDataParallel when distributed (SyncBatchNorm only with nccl: gloo's CPU
    path does not support it), the model itself otherwise."""
    if not d.enabled:
        return model
    import torch

    if device.type == "cuda":
        model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
        return torch.nn.parallel.DistributedDataParallel(model, device_ids=[device.index])
    return torch.nn.parallel.DistributedDataParallel(model)
