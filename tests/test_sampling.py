"""Training draws replay exactly: order and augmentation are functions of (seed, epoch, position), the same with
0 or 2 DataLoader workers (persistent or not), when started mid-epoch, and different on each DDP rank."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
import torch
from torch.utils.data import DataLoader

from lab.data.sampling import EpochSampler, SeededSamples, sample_seed, step_seed
from lab.runtime.distributed import DistInfo
from lab.training.loop import _loaders

from _fixtures import ROOT, tiny_config

AUGMENT = ("augmentation.random_crop=true", "augmentation.color_jitter=true", "training.batch_size=2",
           "sequence.stride=2")


@pytest.fixture(scope="module")
def same_content_root(tmp_path_factory):
    """8 items per split of 8 identical frames (3 windows each): two clips differ only by their augmentation."""
    import cv2
    import numpy as np

    root = tmp_path_factory.mktemp("same")
    frame = cv2.resize(np.random.default_rng(0).integers(0, 255, (4, 4, 3), dtype=np.uint8), (32, 32))
    for split in ("train", "val", "test"):
        for cls in ("real", "fake"):
            for k in range(4):
                folder = root / split / cls / f"item{k}"
                folder.mkdir(parents=True)
                for i in range(8):
                    cv2.imwrite(str(folder / f"frame_{i}.png"), frame)
    return root


def epoch_batches(loader: DataLoader, epoch: int, start_batch: int = 0) -> list[torch.Tensor]:
    loader.sampler.set_epoch(epoch, start=start_batch * loader.batch_size)
    return [clips for clips, _ in loader]


def loader_for(root, rank: int = 0, world: int = 1, workers: int = 0) -> DataLoader:
    cfg = tiny_config(root, *AUGMENT, f"data.num_workers={workers}")
    train_loader, _, _ = _loaders(cfg, DistInfo(rank, world, rank), torch.device("cpu"))
    return train_loader


def test_draws_do_not_depend_on_workers_persistence_or_a_mid_epoch_start(same_content_root):
    plain = loader_for(same_content_root, workers=0)
    workers = loader_for(same_content_root, workers=2)  # persistent workers, as in training
    epoch1, epoch2 = epoch_batches(plain, 1), epoch_batches(plain, 2)
    assert all(torch.equal(a, b) for a, b in zip(epoch1, epoch_batches(workers, 1)))
    # Epoch 2 from workers that already served epoch 1 = epoch 2 in a fresh process (a resumed run).
    assert all(torch.equal(a, b) for a, b in zip(epoch2, epoch_batches(workers, 2)))
    fresh = loader_for(same_content_root, workers=2)
    tail = epoch_batches(fresh, 2, start_batch=3)  # resumed after 3 batches of epoch 2
    assert len(tail) == len(epoch2) - 3 and all(torch.equal(a, b) for a, b in zip(epoch2[3:], tail))
    assert not torch.equal(epoch1[0], epoch2[0])  # a new epoch draws anew


def test_two_ranks_with_two_workers_each_draw_their_own_augmentations(same_content_root):
    """Every window has the same frames here, so equal clips would mean equal crops, flips and jitter."""
    ranks = [epoch_batches(loader_for(same_content_root, rank, 2, workers=2), 1) for rank in (0, 1)]
    pairs = [(a[i], b[i]) for a, b in zip(*ranks) for i in range(min(len(a), len(b)))]
    assert pairs and not any(torch.equal(a, b) for a, b in pairs)


def test_seeded_samples_leave_the_callers_rng_alone():
    class Noise(torch.utils.data.Dataset):
        def __getitem__(self, i):
            return torch.rand(3)

        def __len__(self):
            return 4

    data = SeededSamples(Noise())
    torch.manual_seed(1)
    before = torch.get_rng_state()
    a, b = data[(2, 123)], data[(3, 123)]
    assert torch.equal(a, b) and torch.equal(torch.get_rng_state(), before)
    assert sample_seed(1, 2, 3) != sample_seed(1, 2, 4) != sample_seed(1, 3, 3)
    assert step_seed(1, 0, 5) != step_seed(1, 1, 5) and 0 <= step_seed(1, 0, 5) < 2 ** 63


def test_epoch_sampler_positions_interleave_like_a_distributed_sampler():
    base = torch.utils.data.DistributedSampler(range(10), num_replicas=2, rank=1, shuffle=True, seed=4)
    sampler = EpochSampler(base, seed=4, rank=1, world_size=2)
    sampler.set_epoch(3, start=2)
    base.set_epoch(3)
    expected = list(base)[2:]
    got = list(sampler)
    assert [i for i, _ in got] == expected and len(sampler) == len(expected)
    assert [s for _, s in got] == [sample_seed(4, 3, local * 2 + 1) for local in range(2, 5)]


GLOO = """
import torch, torch.distributed as dist
from lab.runtime.distributed import DistInfo, broadcast_buffers, gather_tensor, init_distributed
from lab.training.loop import _loaders
from _fixtures import tiny_config
import sys
from pathlib import Path

info = init_distributed("cpu")
cfg = tiny_config(Path(sys.argv[1]), "augmentation.random_crop=true", "augmentation.color_jitter=true",
                  "training.batch_size=2", "sequence.stride=2", "data.num_workers=2")
loader, _, _ = _loaders(cfg, info, torch.device("cpu"))
loader.sampler.set_epoch(1)
sums = torch.stack([clips.flatten(1).sum(1) for clips, _ in loader]).flatten()
both = gather_tensor(sums, info).view(2, -1)
assert not torch.isclose(both[0], both[1]).any(), both  # same frames everywhere: only the draws differ

bn = torch.nn.BatchNorm1d(3)
bn.running_mean.fill_(float(info.rank + 1))
broadcast_buffers(bn, info)
assert torch.equal(bn.running_mean, torch.ones(3)), bn.running_mean
print("rank", info.rank, "ok")
dist.destroy_process_group()
"""


@pytest.mark.slow
def test_gloo_ranks_with_workers_draw_apart_and_share_rank0_buffers(same_content_root, tmp_path):
    script = tmp_path / "ranks.py"
    script.write_text(textwrap.dedent(GLOO))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'tests'}"}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                           str(script), str(same_content_root)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("ok") == 2  # the two ranks print at once: lines may interleave ("rankrank  10  okok")
