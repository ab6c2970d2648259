"""Evaluation: score every window of a split, aggregate per video, compute clip- and video-level metrics.

Windows of one item overlap (stride < T), so by default each frame is encoded once for all the windows that hold
it (`lab.scoring.windows.score_dataset`; scores equal re-running the model per window). `inference.share_encoder:
false`, or a model that cannot share (`lab.scoring.shared.can_share`), scores each window whole from a DataLoader.

Reporting (files, figures) lives in `lab.evaluation.report`; this module only computes.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader

from lab.config import Config
from lab.data.dataset import build_dataset, resolve_num_workers
from lab.evaluation.calibration import margins, nll
from lab.evaluation.groups import all_groups, attach_manifest
from lab.evaluation.metrics import binary_metrics, both_classes, expected_calibration_error
from lab.evaluation.shortcuts import shortcut_checks
from lab.runtime.device import Precision
from lab.scoring.aggregate import STRATEGIES, decision_threshold, video_score
from lab.scoring.decision import Decision, as_decision, probabilities
from lab.scoring.windows import score_dataset


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
