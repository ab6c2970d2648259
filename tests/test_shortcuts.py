"""Shortcut checks: a trivial property that separates the classes is found and warned about, a constant one
scores 0.5, and the frame-shuffled scoring pass runs and lands in metrics.json and the report."""
import json
import math

import numpy as np
import pytest
import torch

from _fixtures import tiny_config
from lab.data.dataset import FrameSequenceDataset
from lab.evaluation.shortcuts import (WARN_AUC, border_stats, item_features, oriented_auc, shuffle_time,
                                      trivial_predictors)


@pytest.fixture
def resolution_shortcut(tmp_path, write_video, synthetic_frames):
    """A split whose fakes are stored at 48x32 and reals at 32x32 (the same drifting texture otherwise):
    resolution alone tells them apart. Real .mp4 files, 3 per class, 8 frames each."""
    root = tmp_path / "split"
    for i in range(3):
        write_video(root / "real" / f"r{i}.mp4", synthetic_frames(8, 32, 32, seed=i))
        write_video(root / "fake" / f"warp__{i}.mp4", synthetic_frames(8, 32, 48, seed=10 + i))
    return root


def test_oriented_auc_takes_the_better_side_and_constant_features_score_half():
    labels = [0, 0, 1, 1]
    assert oriented_auc(labels, [4, 3, 2, 1]) == {"auc": 1.0, "raw_auc": 0.0, "fake_side": "lower", "n": 4}
    assert oriented_auc(labels, [7, 7, 7, 7])["auc"] == 0.5
    assert math.isnan(oriented_auc(labels, [1, 2, math.nan, math.nan])["auc"])  # one class left


def test_border_stats_read_only_the_border():
    frames = np.zeros((2, 10, 10, 3), np.uint8)
    frames[:, 2:-2, 2:-2] = 255  # a bright centre inside a black 2-pixel border
    assert border_stats(frames, width=2) == (0.0, 0.0)


def test_a_separating_trivial_feature_is_found(resolution_shortcut):
    ds = FrameSequenceDataset(resolution_shortcut, 4, 4)
    features = item_features(ds)
    assert list(features["pixels"]) == [32 * 32] * 3 + [32 * 48] * 3
    aucs = trivial_predictors(features)
    assert aucs["pixels"]["auc"] == 1.0 and aucs["pixels"]["fake_side"] == "higher"
    assert aucs["frames"]["auc"] == 0.5 and aucs["fps"]["auc"] == 0.5  # the same for every video


def test_shuffle_time_keeps_every_frame_and_changes_the_order():
    clips = torch.arange(2 * 5, dtype=torch.float32).view(2, 5, 1, 1, 1).expand(2, 5, 3, 2, 2)
    out = shuffle_time(clips, torch.Generator().manual_seed(0))
    for b in range(2):
        assert sorted(out[b, :, 0, 0, 0].tolist()) == clips[b, :, 0, 0, 0].tolist()
        assert out[b, :, 0, 0, 0].tolist() != clips[b, :, 0, 0, 0].tolist()


def test_shortcut_checks_land_in_metrics_and_warn_in_the_report(resolution_shortcut, tmp_path):
    from lab.evaluation.evaluate import evaluate_split
    from lab.evaluation.report import write_report
    from lab.models.classifier import build_model

    cfg = tiny_config(tmp_path, "model.temporal=d3", "model.d3.embedding=pixels")
    model = build_model(cfg.model).eval()  # unfitted D3: any model will do for the checks themselves
    ev = evaluate_split(model, cfg, resolution_shortcut, torch.device("cpu"), threshold=0.5, progress=False,
                        shortcuts=True)
    checks = ev.metrics["shortcuts"]
    assert checks["trivial"]["pixels"]["auc"] >= WARN_AUC
    assert any(w.startswith("pixels alone separates") for w in checks["warnings"])
    assert 0.0 <= checks["model"]["clip_auc_frames_shuffled"] <= 1.0
    report = write_report(ev, tmp_path / "report", cfg=cfg, checkpoint="none.pth")
    text = report.read_text()
    assert "## Shortcut checks" in text and "**warning:** pixels alone separates" in text
    assert json.loads((tmp_path / "report" / "metrics.json").read_text())["shortcuts"]["warn_auc"] == WARN_AUC
