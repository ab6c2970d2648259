"""Scoring windows: clips through the model to clip and per-timestep logits, every window of a DataLoader or a
dataset to calibrated P(fake), in dataset order.

`score_dataset` encodes each frame once for all the windows that hold it where the model can (`lab.scoring.shared`;
scores equal re-running the model per window), and otherwise runs the whole model per window from a DataLoader.
Evaluation, training's validation, calibration and the benchmarks all score through here.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from lab.data.dataset import FrameSequenceDataset
from lab.runtime.checkpoint import unwrap
from lab.runtime.device import Precision
from lab.runtime.distributed import DistInfo, gather_tensor
from lab.scoring.decision import probabilities
from lab.scoring.shared import can_share, dataset_window_logits


@dataclass(frozen=True)
class Scored:
    """Model outputs for N windows, in dataset order."""

    labels: np.ndarray  # (N,) 0 real / 1 fake
    probs: np.ndarray  # (N,) clip P(fake) = softmax(logits / temperature)[fake]
    timeline: np.ndarray  # (N, T) per-timestep P(fake), at the same temperature
    loss: float  # mean cross-entropy of the (unscaled) clip logits
    logits: np.ndarray | None = None  # (N, 2) unscaled clip logits: what temperature scaling is fitted on


@torch.no_grad()
def score_clips(model: torch.nn.Module, clips: torch.Tensor, precision: Precision | None = None):
    """(B,T,C,H,W) normalised clips -> clip logits (B,2) and per-timestep logits (B,T,2). A `torch.compile`d
    model runs compiled (validation during a `training.compile` run too, so the checkpoint's threshold and
    temperature are chosen on the compiled model's scores, which differ from eager ones by rounding);
    DistributedDataParallel is unwrapped, since ranks score different numbers of batches."""
    net = model.module if isinstance(model, torch.nn.parallel.DistributedDataParallel) else model
    with precision.autocast() if precision is not None else contextlib.nullcontext():
        clip_logits, step_logits = net(clips, with_timeline=True)
    return clip_logits.float(), step_logits.float()


@torch.no_grad()
def score_loader(model, loader: DataLoader, device: torch.device, precision: Precision | None = None, *,
                 info: DistInfo | None = None, progress: bool = True, temperature: float = 1.0) -> Scored:
    """Score every batch of `loader`, P(fake) at `temperature`. Under DDP each rank holds windows r, r+W, ...;
    they are gathered from all ranks and put back into dataset order."""
    model.eval()
    labels, logits, timeline, losses = [], [], [], []
    for clips, y in tqdm(loader, desc="scoring", leave=False, disable=not progress):
        clips, y = clips.to(device, non_blocking=True), y.to(device, non_blocking=True)
        clip_logits, step_logits = score_clips(model, clips, precision)
        losses.append(F.cross_entropy(clip_logits, y, reduction="none"))
        labels.append(y)
        logits.append(clip_logits)
        timeline.append(probabilities(step_logits, temperature))
    lab_t, logit_t, loss_t = torch.cat(labels), torch.cat(logits), torch.cat(losses)
    tl_t = torch.cat(timeline)
    steps = tl_t.shape[1]
    if info is not None and info.enabled:
        lab_t, loss_t = (gather_tensor(t, info) for t in (lab_t, loss_t))
        tl_t = gather_tensor(tl_t.flatten(), info).view(-1, steps)
        logit_t = gather_tensor(logit_t.flatten(), info).view(-1, 2)
        n = lab_t.numel()
        order = torch.cat([torch.arange(r, n, info.world_size) for r in range(info.world_size)])
        restore = torch.empty_like(order)
        restore[order] = torch.arange(n)
        lab_t, logit_t, loss_t, tl_t = lab_t[restore], logit_t[restore], loss_t[restore], tl_t[restore]
    return Scored(lab_t.cpu().numpy().astype(int), probabilities(logit_t, temperature).cpu().numpy(),
                  tl_t.cpu().numpy(), float(loss_t.mean().item()), logit_t.cpu().numpy())


@torch.no_grad()
def score_dataset(model: torch.nn.Module, ds: FrameSequenceDataset, device: torch.device,
                  precision: Precision | None = None, *, batch_size: int = 8, num_workers: int = 0,
                  share_encoder: bool = True, progress: bool = True, temperature: float = 1.0) -> Scored:
    """Score every window of `ds` (built with the evaluation transform), in dataset order. `share_encoder`: encode
    each frame once for all its windows (`dataset_window_logits`), where the model can (`can_share`); padded
    windows of short items are scored whole. Else (or False) the whole model runs per window from a DataLoader."""
    net = unwrap(model)
    if not (share_encoder and can_share(net, ds.sequence_length)):
        loader = DataLoader(ds, batch_size=batch_size, shuffle=False, num_workers=num_workers,
                            pin_memory=device.type == "cuda")
        return score_loader(model, loader, device, precision, progress=progress, temperature=temperature)
    model.eval()
    clip_by, steps_by = {}, {}
    for indices, clip_logits, step_logits in dataset_window_logits(net, ds, device, precision, batch_size, progress):
        clip_by.update(zip(indices, clip_logits.cpu()))
        steps_by.update(zip(indices, step_logits.cpu()))
    padded = [i for i, window in enumerate(ds.windows) if window.padded]
    for first in range(0, len(padded), batch_size):
        chunk = padded[first:first + batch_size]
        clips = torch.stack([ds[i][0] for i in chunk]).to(device)
        clip_logits, step_logits = score_clips(model, clips, precision)
        clip_by.update(zip(chunk, clip_logits.cpu()))
        steps_by.update(zip(chunk, step_logits.cpu()))
    clip_logits = torch.stack([clip_by[i] for i in range(len(ds))])
    step_logits = torch.stack([steps_by[i] for i in range(len(ds))])
    labels = torch.as_tensor(ds.labels)
    return Scored(labels.numpy().astype(int), probabilities(clip_logits, temperature).numpy(),
                  probabilities(step_logits, temperature).numpy(), float(F.cross_entropy(clip_logits, labels).item()),
                  clip_logits.numpy())
