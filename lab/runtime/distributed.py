"""DistributedDataParallel plumbing for `torchrun --nproc_per_node=N train.py ...`.

torchrun sets RANK / WORLD_SIZE / LOCAL_RANK; a plain `python train.py` runs as a world of one.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Iterator, Sequence

import torch
import torch.distributed as dist
from torch.utils.data import Sampler


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed(device_type: str) -> DistInfo:
    """Join the process group torchrun prepared (NCCL on CUDA, gloo on CPU); a no-op without torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    info = DistInfo(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0")))
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device_type == "cuda" else "gloo")
    if device_type == "cuda":
        torch.cuda.set_device(info.local_rank)
    return info


def shutdown(info: DistInfo) -> None:
    if info.enabled and dist.is_initialized():
        dist.destroy_process_group()


def gather_tensor(t: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """Concatenate a 1-D tensor of per-rank length from every rank (rank order), on every rank."""
    if not info.enabled:
        return t
    sizes = [torch.zeros(1, dtype=torch.long, device=t.device) for _ in range(info.world_size)]
    dist.all_gather(sizes, torch.tensor([t.numel()], device=t.device))
    longest = int(max(s.item() for s in sizes))
    padded = torch.zeros(longest, dtype=t.dtype, device=t.device)
    padded[: t.numel()] = t
    parts = [torch.zeros_like(padded) for _ in range(info.world_size)]
    dist.all_gather(parts, padded)
    return torch.cat([p[: int(s.item())] for p, s in zip(parts, sizes)])


def broadcast_flag(flag: bool, info: DistInfo, device: torch.device) -> bool:
    """Rank 0's decision (e.g. early stop) on every rank."""
    if not info.enabled:
        return flag
    t = torch.tensor([int(flag)], device=device)
    dist.broadcast(t, src=0)
    return bool(t.item())


def any_rank(flag: bool, info: DistInfo, device: torch.device) -> bool:
    """True on every rank when `flag` is True on at least one (a collective decision, e.g. skip this step)."""
    if not info.enabled:
        return flag
    t = torch.tensor([int(flag)], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


def broadcast_buffers(module: torch.nn.Module, info: DistInfo) -> None:
    """Give every rank rank 0's buffers (BatchNorm running statistics). DDP syncs them at the start of each
    training forward, so after the last step each rank holds its own; validation and the saved checkpoint
    must use one set."""
    if not info.enabled:
        return
    for buffer in module.buffers():
        dist.broadcast(buffer.data, src=0)


class DistributedWeightedSampler(Sampler[int]):
    """Class-balanced sampling split across ranks: every rank draws the same weighted sequence
    (seeded by seed+epoch) and keeps its own stride of it, so ranks see disjoint samples."""

    def __init__(self, weights: Sequence[float], num_samples: int, info: DistInfo, seed: int = 0):
        self.weights = torch.as_tensor(weights, dtype=torch.double)
        self.info = info
        self.seed = seed
        self.epoch = 0
        self.per_rank = math.ceil(num_samples / info.world_size)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        g = torch.Generator().manual_seed(self.seed + self.epoch)
        total = self.per_rank * self.info.world_size
        draws = torch.multinomial(self.weights, total, replacement=True, generator=g)
        return iter(draws[self.info.rank::self.info.world_size].tolist())

    def __len__(self) -> int:
        return self.per_rank
