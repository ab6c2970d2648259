"""Evaluation: score every window of a split, aggregate per video, compute clip- and video-level metrics.

Windows of one item overlap (stride < T), so by default each frame is encoded once for all the windows that hold
it (`lab.evaluation.shared`; scores equal re-running the model per window). `inference.share_encoder: false`, or a
model that cannot share (`can_share`), scores each window whole from a DataLoader.

Reporting (files, figures) lives in `lab.evaluation.report`; this module only computes.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from lab.evaluation.aggregate import STRATEGIES, decision_threshold, video_score
from lab.runtime.checkpoint import unwrap
from lab.config import Config
from lab.data.dataset import FrameSequenceDataset, build_dataset, resolve_num_workers
from lab.runtime.device import Precision
from lab.runtime.distributed import DistInfo, gather_tensor
from lab.evaluation.calibration import margins, nll, probabilities
from lab.evaluation.decision import Decision, as_decision
from lab.evaluation.groups import all_groups, attach_manifest
from lab.evaluation.shared import can_share, dataset_window_logits
from lab.evaluation.metrics import binary_metrics, both_classes, expected_calibration_error
from lab.evaluation.shortcuts import shortcut_checks


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


@dataclass
class Evaluation:
    """Everything a report needs: metrics plus per-window and per-video tables."""

    metrics: dict[str, Any]
    windows: pd.DataFrame  # one row per window: item, label, family, start, prob_fake, ...
    videos: pd.DataFrame  # one row per item: label, family, n_windows, score, pred, window_scores
    threshold: float
    aggregation: str
    extra: dict[str, Any] = field(default_factory=dict)
    decision: Decision | None = None  # the temperature and threshold rule the scores and decisions used


def aggregate_videos(windows: pd.DataFrame, strategy: str, threshold: float,
                     confident_fraction: float = 0.25) -> pd.DataFrame:
    """One row per item: its windows' scores aggregated by `strategy`, and the decision."""
    cut = decision_threshold(strategy, threshold)
    rows = []
    for item, group in windows.groupby("item", sort=False):
        group = group.sort_values("start")
        score = video_score(group["prob_fake"].to_numpy(), strategy, threshold, confident_fraction)
        rows.append({"item": item, "label": int(group["label"].iloc[0]), "family": group["family"].iloc[0],
                     "n_windows": len(group), "score": score, "pred": int(score >= cut),
                     "window_scores": " ".join(f"{p:.4f}" for p in group["prob_fake"])})
    return pd.DataFrame(rows)


def per_family(videos: pd.DataFrame, threshold: float) -> dict[str, dict[str, float]]:
    """For each fake family: that family's videos against all real videos (AUC, recall, count)."""
    reals = videos[videos["label"] == 0]
    out = {}
    for family, fakes in videos[videos["label"] == 1].groupby("family"):
        both = pd.concat([reals, fakes])
        m = binary_metrics(both["label"], both["score"], threshold)
        out[str(family)] = {"n_fake": float(len(fakes)), "n_real": float(len(reals)),
                            "roc_auc": m["roc_auc"], "recall": m["recall"]}
    return out


def calibration_summary(labels, logits, temperature: float) -> dict[str, float]:
    """ECE and NLL of the clip scores before (T = 1) and after temperature scaling, on these windows."""
    logits_t = torch.as_tensor(np.asarray(logits))
    y, m = np.asarray(labels), margins(logits)
    return {"temperature": float(temperature),
            "ece_raw": expected_calibration_error(y, probabilities(logits_t, 1.0).numpy()),
            "ece_calibrated": expected_calibration_error(y, probabilities(logits_t, temperature).numpy()),
            "nll_raw": nll(y, m, 1.0), "nll_calibrated": nll(y, m, temperature)}


def evaluate_split(model: torch.nn.Module, cfg: Config, data_dir: str | Path, device: torch.device, *,
                   threshold: float | Decision, precision: Precision | None = None, progress: bool = True,
                   shortcuts: bool = False, share_encoder: bool | None = None) -> Evaluation:
    """Score every window under `data_dir` (seed layout) and compute clip and video-level metrics.

    `threshold` is a checkpoint's Decision (`checkpoint_decision(ckpt)`: its temperature and threshold), or a
    plain threshold on uncalibrated scores (T = 1). `share_encoder` (default `inference.share_encoder`): see
    `score_dataset`. `shortcuts` adds the shortcut checks (`lab.evaluation.shortcuts`: trivial predictors and a
    frame-shuffled second scoring pass) under metrics["shortcuts"]."""
    decision = as_decision(threshold)
    threshold = decision.threshold
    ds = build_dataset(data_dir, cfg.sequence, cfg.image, cfg.augmentation, train=False, cache=cfg.data.cache)
    share = cfg.inference.share_encoder if share_encoder is None else share_encoder
    workers = resolve_num_workers(cfg.data.num_workers)
    scored = score_dataset(model, ds, torch.device(device), precision, batch_size=cfg.inference.batch_size,
                           num_workers=workers, share_encoder=share, progress=progress,
                           temperature=decision.temperature)
    windows = ds.metadata().reset_index(drop=True)
    windows["prob_fake"] = scored.probs
    windows["prob_fake_raw"] = probabilities(torch.as_tensor(scored.logits), 1.0).numpy()  # before scaling
    timeline = scored.timeline.copy()
    timeline[:, :cfg.sequence.first_scored_step] = np.nan  # steps with too little context are not evidence
    windows["timeline"] = [" ".join(f"{p:.4f}" for p in row) for row in timeline]
    metrics: dict[str, Any] = {"clip": binary_metrics(scored.labels, scored.probs, threshold), "video": {}}
    videos_by = {}
    for strategy in STRATEGIES:
        videos = aggregate_videos(windows, strategy, threshold, cfg.inference.confident_fraction)
        videos_by[strategy] = videos
        metrics["video"][strategy] = binary_metrics(videos["label"], videos["score"],
                                                    decision_threshold(strategy, threshold))
    chosen = cfg.inference.aggregation
    videos = attach_manifest(videos_by[chosen], data_dir)  # source, format, severity, ... where a manifest has them
    if both_classes(videos["label"]):
        metrics["per_family"] = per_family(videos, decision_threshold(chosen, threshold))
        metrics["groups"] = all_groups(videos, decision_threshold(chosen, threshold))
    if shortcuts:
        loader = DataLoader(ds, batch_size=cfg.inference.batch_size, shuffle=False, num_workers=workers)
        metrics["shortcuts"] = shortcut_checks(model, ds, loader, device, precision=precision, seed=cfg.seed,
                                               clip_auc=metrics["clip"]["roc_auc"],
                                               video_auc=metrics["video"][chosen]["roc_auc"])
    metrics.update({"aggregation": chosen, "threshold": threshold, "data_dir": str(data_dir),
                    "n_windows": len(windows), "n_videos": len(videos), "decision": decision.to_dict(),
                    "calibration": calibration_summary(scored.labels, scored.logits, decision.temperature)})
    return Evaluation(metrics, windows, videos, threshold, chosen, {"timeline": timeline}, decision)
