"""Metrics, per-video aggregation, evaluation of a split and the report files."""
import json

import numpy as np
import pandas as pd
import pytest

from lab.evaluation.evaluate import aggregate_videos, evaluate_split
from lab.evaluation.metrics import binary_metrics, choose_threshold, equal_error_rate, expected_calibration_error
from lab.evaluation.report import REPORT_FILES, write_report
from lab.runtime.checkpoint import load_model
from lab.scoring.aggregate import decision_threshold, video_score


def test_binary_metrics_on_known_values():
    y = [0, 0, 1, 1]
    m = binary_metrics(y, [0.1, 0.6, 0.4, 0.9], threshold=0.5)
    assert m["accuracy"] == 0.5 and m["precision"] == 0.5 and m["recall"] == 0.5
    assert m["roc_auc"] == 0.75 and (m["tn"], m["fp"], m["fn"], m["tp"]) == (1, 1, 1, 1)
    perfect = binary_metrics(y, [0.1, 0.2, 0.8, 0.9])
    assert perfect["roc_auc"] == 1.0 and perfect["eer"] == 0.0 and perfect["f1"] == 1.0


def test_eer_threshold_and_ece():
    rng = np.random.default_rng(0)
    y = np.r_[np.zeros(500), np.ones(500)]
    s = np.r_[rng.normal(0.4, 0.1, 500), rng.normal(0.6, 0.1, 500)]
    assert 0.10 < equal_error_rate(y, s) < 0.22  # two unit-separated Gaussians: EER ~ 0.16
    assert 0.45 < choose_threshold(y, s) < 0.55
    assert expected_calibration_error([0, 1], [0.0, 1.0]) == 0.0
    assert expected_calibration_error([0, 0], [0.9, 0.9]) == pytest.approx(0.9)


def test_video_aggregation_strategies():
    p = [0.1, 0.2, 0.3, 0.95]
    assert video_score(p, "mean", 0.5) == pytest.approx(0.3875)
    assert video_score(p, "vote", 0.5) == 0.25 and decision_threshold("vote", 0.3) == 0.5
    assert video_score(p, "confident", 0.5, confident_fraction=0.5) == pytest.approx((0.95 + 0.1) / 2)
    with pytest.raises(ValueError):
        video_score([], "mean", 0.5)


def test_aggregate_videos_groups_windows():
    windows = pd.DataFrame({"item": ["a", "a", "b"], "label": [1, 1, 0], "family": ["x", "x", "real"],
                            "start": [4, 0, 0], "prob_fake": [0.9, 0.7, 0.2]})
    videos = aggregate_videos(windows, "mean", 0.5).set_index("item")
    assert videos.loc["a", "score"] == pytest.approx(0.8) and videos.loc["a", "pred"] == 1
    assert videos.loc["a", "window_scores"] == "0.7000 0.9000"  # ordered by start frame
    assert videos.loc["b", "pred"] == 0 and videos.loc["b", "n_windows"] == 1


def test_evaluate_split_and_report(tiny_checkpoint, synth_root, tmp_path):
    model, cfg, ckpt = load_model(tiny_checkpoint)
    ev = evaluate_split(model, cfg, synth_root / "test", "cpu", threshold=ckpt["threshold"], progress=False)
    assert ev.metrics["n_videos"] == 6 and len(ev.videos) == 6
    assert set(ev.metrics["video"]) == {"mean", "vote", "confident"}
    assert ev.windows["prob_fake"].between(0, 1).all()
    report = write_report(ev, tmp_path / "rep", cfg=cfg, checkpoint=tiny_checkpoint)
    for name in REPORT_FILES:
        assert (tmp_path / "rep" / name).is_file(), name
    per_item = pd.read_csv(tmp_path / "rep" / "per_item.csv")
    assert {"item", "label", "score", "pred", "window_scores"} <= set(per_item.columns)
    metrics = json.loads((tmp_path / "rep" / "metrics.json").read_text())
    assert metrics["checkpoint"] == str(tiny_checkpoint) and "roc_auc" in metrics["clip"]
    text = report.read_text()
    assert "![roc.png](roc.png)" in text and "sequence:" in text
    # group-wise results from the split's manifest: in metrics.json, per_item.csv and the report
    assert {"family", "format", "source"} <= set(metrics["groups"]) and "source" in per_item.columns
    formats = metrics["groups"]["format"]
    assert sum(m["n_real"] + m["n_fake"] for m in formats.values()) == 6
    assert "## By format" in text


def test_group_metrics_score_each_group_and_one_class_groups_against_the_other_class():
    from lab.evaluation.groups import all_groups, group_columns, group_metrics

    videos = pd.DataFrame({"item": list("abcdefgh"), "label": [0, 0, 0, 0, 1, 1, 1, 1],
                           "family": ["real"] * 4 + ["warp", "warp", "blend", "blend"],
                           "format": ["mp4", "png"] * 4, "frames": ["16"] * 8,
                           "score": [0.1, 0.6, 0.2, 0.3, 0.9, 0.7, 0.15, 0.8]})
    assert group_columns(videos) == ["family", "format"]  # frames has one value: not a grouping
    family = group_metrics(videos, "family", threshold=0.5)
    assert family.loc["warp", "roc_auc"] == 1.0 and family.loc["warp", "fake_recall"] == 1.0  # against all reals
    assert family.loc["blend", "roc_auc"] == pytest.approx(5 / 8) and family.loc["blend", "fake_recall"] == 0.5
    assert family.loc["real", "real_fpr"] == 0.25 and np.isnan(family.loc["real", "fake_recall"])
    fmt = group_metrics(videos, "format", threshold=0.5)  # both classes in each: scored within the group
    assert fmt.loc["mp4", "roc_auc"] == pytest.approx(0.75) and fmt.loc["png", "roc_auc"] == 1.0
    assert fmt.loc["png", "real_fpr"] == 0.5 and set(all_groups(videos, 0.5)) == {"family", "format"}


def test_frame_scores_average_the_windows_covering_each_frame():
    from lab.scoring.aggregate import frame_scores

    scores = frame_scores([0, 2, 7], [[0.2, 0.2, 0.4, 0.4], [0.6, 0.6, 0.2, 0.2], [1.0, 1.0]])
    assert scores[:6].tolist() == pytest.approx([0.2, 0.2, 0.5, 0.5, 0.2, 0.2])
    assert np.isnan(scores[6]) and scores[7] == 1.0 and len(scores) == 9  # frame 6 is covered by no window
    assert len(frame_scores([0], [[0.1, 0.2, 0.3]], num_frames=2)) == 2  # padded steps cut off


def test_scoring_runs_a_compiled_model_compiled(tiny_checkpoint):
    """Validation in a `training.compile` run and evaluation score through the compiled wrapper (torch.compile's
    OptimizedModule keeps the model as `_orig_mod`), not the eager model under it."""
    import torch

    from lab.scoring.windows import score_clips

    model, cfg, _ = load_model(tiny_checkpoint)

    class Compiled(torch.nn.Module):  # stands in for torch.compile's wrapper, counting its calls
        def __init__(self, inner):
            super().__init__()
            self._orig_mod, self.calls = inner, 0

        def forward(self, *args, **kwargs):
            self.calls += 1
            return self._orig_mod(*args, **kwargs)

    clips = torch.randn(2, cfg.sequence.length, 3, cfg.image.height, cfg.image.width)
    wrapped = Compiled(model)
    with torch.no_grad():
        clip_logits, step_logits = score_clips(wrapped, clips)
        assert wrapped.calls == 1
        expected_clip, expected_steps = model(clips, with_timeline=True)
    assert torch.allclose(clip_logits, expected_clip) and torch.allclose(step_logits, expected_steps)
