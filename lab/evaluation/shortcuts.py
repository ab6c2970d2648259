"""Shortcut checks: could a split be told apart without the artefact, and does the model need frame order?

Trivial predictors score each video by one property a detector should not care about (frame count, fps,
resolution, file size, bitrate, the mean and spread of a thin frame border). Each gets a video-level ROC-AUC
in its better orientation, max(AUC, 1 - AUC): the question is whether the property separates the classes at
all, whichever way round (an upper bound, since the orientation is chosen on the evaluated split itself). A
feature that is constant over the split scores 0.5. When one reaches `WARN_AUC`, the split carries a shortcut
a model may have learnt instead of the artefact, and the report says so.

The frame-shuffle check scores every window again with its frames in a random order: a model that reads
temporal artefacts drops toward chance (0.5), a model that reads single frames (or a shortcut) does not move.
"""
from __future__ import annotations

import contextlib
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import roc_auc_score
from torch.utils.data import DataLoader

from lab.data.dataset import FrameSequenceDataset
from lab.data.video import is_video, open_item
from lab.evaluation.metrics import both_classes
from lab.runtime.checkpoint import unwrap
from lab.runtime.device import Precision

WARN_AUC = 0.7  # a one-feature predictor at or above this separates the split without the artefact
TRIVIAL = ("frames", "fps", "pixels", "file_bytes", "bitrate", "border_mean", "border_std")


def _file_bytes(path: Path) -> int:
    return path.stat().st_size if path.is_file() else sum(p.stat().st_size for p in path.iterdir() if p.is_file())


def border_stats(frames: np.ndarray, width: int = 2) -> tuple[float, float]:
    """uint8 or float frames (k, H, W, C) -> (mean, std) of the grey values in a `width`-pixel frame border."""
    grey = np.asarray(frames, dtype=np.float32).mean(axis=-1)  # (k, H, W)
    w = max(1, min(width, grey.shape[1] // 2, grey.shape[2] // 2))
    strips = [grey[:, :w].ravel(), grey[:, -w:].ravel(), grey[:, w:-w, :w].ravel(), grey[:, w:-w, -w:].ravel()]
    border = np.concatenate(strips)
    return float(border.mean()), float(border.std())


def item_features(ds: FrameSequenceDataset, frames_per_item: int = 4, border: int = 2) -> pd.DataFrame:
    """One row per item of `ds`: item, label and every `TRIVIAL` feature. `pixels` is height x width of the
    stored frames, `bitrate` bits per second of a video file (NaN for frame folders or an unknown fps), the
    border statistics come from `frames_per_item` frames spread over the item (never the whole item). Frames are
    read from the item's own file or folder, never from a decoded-frame cache (which stores them resized)."""
    rows = []
    for item in ds.items:
        source = open_item(ds.root / item.name)
        picks = np.unique(np.linspace(0, item.num_frames - 1, min(frames_per_item, item.num_frames)).astype(int))
        frames = np.stack([source.read(int(i), 1)[0] for i in picks])
        size = _file_bytes(ds.root / item.name)
        seconds = item.num_frames / item.fps if item.fps else math.nan
        mean, std = border_stats(frames, border)
        rows.append({"item": item.name, "label": item.label, "frames": item.num_frames,
                     "fps": item.fps if item.fps else math.nan, "pixels": frames.shape[1] * frames.shape[2],
                     "file_bytes": size, "bitrate": size * 8 / seconds if is_video(item.name) else math.nan,
                     "border_mean": mean, "border_std": std})
    return pd.DataFrame(rows)


def oriented_auc(labels, values) -> dict[str, Any]:
    """ROC-AUC of one feature as a fake score, in its better orientation: {"auc": max(AUC, 1 - AUC), "raw_auc",
    "fake_side": "higher", "lower" or "neither", "n"}; rows where the feature is missing are left out. "auc" is NaN
    when fewer than both classes remain, 0.5 for a constant feature."""
    y, v = np.asarray(labels, dtype=int), np.asarray(values, dtype=float)
    keep = np.isfinite(v)
    y, v = y[keep], v[keep]
    if not both_classes(y):
        return {"auc": math.nan, "raw_auc": math.nan, "fake_side": "n/a", "n": int(len(y))}
    raw = float(roc_auc_score(y, v))
    side = "higher" if raw > 0.5 else "lower" if raw < 0.5 else "neither"
    return {"auc": max(raw, 1.0 - raw), "raw_auc": raw, "fake_side": side,
            "n": int(len(y))}


def trivial_predictors(features: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """{feature: oriented_auc} for every `TRIVIAL` column of an `item_features` table."""
    return {name: oriented_auc(features["label"], features[name]) for name in TRIVIAL if name in features}


def shortcut_table(checks: dict[str, Any]) -> pd.DataFrame:
    """metrics["shortcuts"] as a table: one row per trivial predictor, then the model in order and shuffled."""
    rows = [{"predictor": name, "video ROC-AUC": m["auc"], "fakes score": m["fake_side"], "videos": m["n"]}
            for name, m in checks["trivial"].items()]
    model = checks["model"]
    rows += [{"predictor": "the model (videos)", "video ROC-AUC": model["video_auc"]},
             {"predictor": "the model (clips, frames in order)", "video ROC-AUC": model["clip_auc"]},
             {"predictor": "the model (clips, frames shuffled)", "video ROC-AUC": model["clip_auc_frames_shuffled"]}]
    return pd.DataFrame(rows).rename(columns={"video ROC-AUC": "ROC-AUC"}).set_index("predictor")


def shuffle_time(clips: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """`(B, T, C, H, W)` -> the same clips with each clip's frames in its own random order (never the original
    order when T > 1). Every frame is kept, so a model that only looks at frames one by one cannot tell."""
    out = torch.empty_like(clips)
    steps = clips.shape[1]
    for b in range(clips.shape[0]):
        order = torch.randperm(steps, generator=generator)
        while steps > 1 and torch.equal(order, torch.arange(steps)):
            order = torch.randperm(steps, generator=generator)
        out[b] = clips[b, order]
    return out


@torch.no_grad()
def shuffled_probs(model: torch.nn.Module, loader: DataLoader, device: torch.device, precision: Precision | None = None,
                   seed: int = 0) -> np.ndarray:
    """Clip P(fake) of every window of `loader` with its frames shuffled in time (seeded), in dataset order."""
    net = unwrap(model)
    net.eval()
    generator = torch.Generator().manual_seed(seed)
    probs = []
    for clips, _ in loader:
        clips = shuffle_time(clips, generator).to(device)
        with precision.autocast() if precision is not None else contextlib.nullcontext():
            logits = net(clips)
        probs.append(logits.float().softmax(-1)[:, 1].cpu())
    return torch.cat(probs).numpy()


def shortcut_checks(model: torch.nn.Module, ds: FrameSequenceDataset, loader: DataLoader, device: torch.device, *,
                    clip_auc: float, video_auc: float, precision: Precision | None = None,
                    seed: int = 0) -> dict[str, Any]:
    """What metrics.json stores under "shortcuts": the trivial predictors' video AUCs, the model's clip AUC on
    the windows as they are (`clip_auc`) and frame-shuffled, its video AUC, and one warning per trivial
    predictor at or above `WARN_AUC`. `loader` iterates `ds`'s windows in order, unshuffled."""
    trivial = trivial_predictors(item_features(ds))
    labels = np.asarray(ds.labels)
    shuffled = math.nan
    if both_classes(labels):
        shuffled = float(roc_auc_score(labels, shuffled_probs(model, loader, device, precision, seed)))
    warnings = [f"{name} alone separates real from fake videos (AUC {m['auc']:.3f} >= {WARN_AUC}, fakes "
                f"{m['fake_side']}): the split carries a shortcut the model may have learnt instead of the artefact"
                for name, m in trivial.items() if m["auc"] >= WARN_AUC]
    return {"orientation": "max(AUC, 1 - AUC) on the evaluated split: an upper bound, whichever side is fake",
            "warn_auc": WARN_AUC, "trivial": trivial,
            "model": {"video_auc": video_auc, "clip_auc": clip_auc, "clip_auc_frames_shuffled": shuffled,
                      "shuffle_seed": seed},
            "warnings": warnings}
