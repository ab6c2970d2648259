"""Training draws that replay exactly: the order of an epoch and every sample's augmentation are functions of
(seed, epoch, position), never of a worker's or a process's RNG history.

`EpochSampler` wraps the real sampler (weighted, shuffled or distributed): `set_epoch(epoch, start)` reseeds
its order from (seed, epoch) and skips the first `start` draws, and it yields `(index, sample_seed)` where
the seed comes from (seed, epoch, position in the global draw). `SeededSamples` runs the dataset's random
transform under that seed. So a run resumed mid-epoch, with any number of DataLoader workers (persistent or
not), sees the same crops, flips and jitter as the run it continues, and DDP ranks (which hold different
positions of one global draw) never share a draw.
"""
from __future__ import annotations

import itertools
from typing import Iterator

import numpy as np
import torch
from torch.utils.data import Dataset, RandomSampler, Sampler, WeightedRandomSampler


def sample_seed(seed: int, epoch: int, position: int) -> int:
    """A 63-bit seed for the sample at `position` of the global draw of `epoch` (SeedSequence: well mixed)."""
    return int(np.random.SeedSequence([seed, epoch, position]).generate_state(1, np.uint64)[0] >> np.uint64(1))


def step_seed(seed: int, rank: int, step: int) -> int:
    """The seed of optimizer step `step` on `rank` (dropout and any other in-model randomness)."""
    return int(np.random.SeedSequence([seed, 1 << 20, rank, step]).generate_state(1, np.uint64)[0] >> np.uint64(1))


class EpochSampler(Sampler[tuple[int, int]]):
    """`(index, sample_seed)` pairs of one epoch from `base`, starting at draw `start`.

    `rank` / `world_size` say where this process's draws sit in the global one: a distributed sampler hands
    rank r the draws r, r + W, r + 2W, ... (torch's DistributedSampler and DistributedWeightedSampler do)."""

    def __init__(self, base: Sampler[int], seed: int, rank: int = 0, world_size: int = 1):
        self.base, self.seed, self.rank, self.world_size = base, seed, rank, world_size
        self.epoch, self.start = 0, 0

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        """Draw epoch `epoch`'s order (a function of seed and epoch) and begin at this process's draw `start`."""
        self.epoch, self.start = epoch, start
        if isinstance(self.base, (WeightedRandomSampler, RandomSampler)):
            self.base.generator = torch.Generator().manual_seed(self.seed + epoch)
        elif hasattr(self.base, "set_epoch"):
            self.base.set_epoch(epoch)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        draws = itertools.islice(enumerate(self.base), self.start, None)
        for local, index in draws:
            yield int(index), sample_seed(self.seed, self.epoch, local * self.world_size + self.rank)

    def __len__(self) -> int:
        return max(len(self.base) - self.start, 0)


class SeededSamples(Dataset):
    """`dataset[(index, seed)]`: item `index` with the torch RNG seeded by `seed` for its transform, and the
    caller's RNG untouched (the draw is forked), so it does not matter which process or worker reads it."""

    def __init__(self, dataset: Dataset):
        self.dataset = dataset

    def __getitem__(self, key: tuple[int, int]):
        index, seed = key
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return self.dataset[index]

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getattr__(self, name: str):
        if name == "dataset":  # not yet set (unpickling): no recursion
            raise AttributeError(name)
        return getattr(self.dataset, name)
