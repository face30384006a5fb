"""Running under ``torchrun``: process group, model wrapping, reductions.

gloo on CPU, nccl on GPU. Without torchrun's environment everything degrades to one
process, so the same code path serves both.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np


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


def init_distributed(device_type: str) -> Dist:
    """Join the process group when launched by torchrun (RANK and WORLD_SIZE set)."""
    import torch.distributed as dist

    if "RANK" not in os.environ or int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return Dist()
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device_type == "cuda" else "gloo")
    return Dist(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def barrier(d: Dist) -> None:
    if d.enabled:
        import torch.distributed as dist

        dist.barrier()


def all_reduce_sum(d: Dist, array: np.ndarray) -> np.ndarray:
    """Element-wise sum over ranks (int64 confusion matrices stay exact)."""
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
