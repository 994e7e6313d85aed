"""Multi-GPU / multi-node training through torchrun + DistributedDataParallel.

`torchrun --nproc_per_node=G -m ssamt train ...` sets RANK, WORLD_SIZE, LOCAL_RANK and
MASTER_ADDR/PORT; `init_from_env` joins the process group when WORLD_SIZE > 1 (nccl on CUDA,
gloo on CPU). Every rank builds the same batch list for an epoch (same seed) and takes every
world_size-th batch (TokenBudgetSampler's rank/world_size), padded to a common length so all
ranks step together.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def init_from_env(device: str = "cpu") -> DistInfo:
    """Join the process group described by torchrun's environment; a no-op for one process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", rank))
    if not dist.is_initialized():
        backend = "nccl" if device.startswith("cuda") else "gloo"
        if device.startswith("cuda"):
            torch.cuda.set_device(local_rank)
        dist.init_process_group(backend=backend, rank=rank, world_size=world)
    return DistInfo(rank=rank, world_size=world, local_rank=local_rank)


def device_for(info: DistInfo, device: str) -> torch.device:
    if device.startswith("cuda") and info.enabled:
        return torch.device("cuda", info.local_rank)
    return torch.device(device)


def wrap_ddp(module: torch.nn.Module, info: DistInfo, device: torch.device) -> torch.nn.Module:
    """DDP over the trainable parameters of `module` (frozen ones are left out by DDP)."""
    if not info.enabled:
        return module
    device_ids = [device.index] if device.type == "cuda" else None
    # Some parameters (e.g. the box projection without box data) may get no gradient.
    return torch.nn.parallel.DistributedDataParallel(
        module, device_ids=device_ids, find_unused_parameters=True
    )


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()


def broadcast_parameters(module: torch.nn.Module, info: DistInfo) -> None:
    """Copy rank 0's parameters and buffers to every rank (e.g. after rank 0 loaded best.pt)."""
    if not info.enabled:
        return
    with torch.no_grad():
        for tensor in module.state_dict().values():
            dist.broadcast(tensor, src=0)


def all_mean(value: float, info: DistInfo) -> float:
    """Mean of a scalar over ranks (for logging)."""
    if not info.enabled:
        return value
    t = torch.tensor([value], dtype=torch.float64)
    dist.all_reduce(t)
    return float(t.item()) / info.world_size


def cleanup(info: DistInfo) -> None:
    if info.enabled and dist.is_initialized():
        dist.destroy_process_group()
