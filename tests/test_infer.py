"""Prediction on a video file / frame folder: windows, per-frame scores, padding, agreement with evaluation."""
import json

import numpy as np
import pytest

from lab.runtime.checkpoint import load_model
from lab.evaluation.evaluate import evaluate_split
from lab.inference.infer import inference_frames, inference_video, predict
from lab.errors import DataError


@pytest.fixture(scope="module")
def loaded(tiny_checkpoint):
    return load_model(tiny_checkpoint)


def test_video_and_frames_predictions_cover_every_frame(loaded, synth_root):
    model, cfg, ckpt = loaded
    video = next((synth_root / "test").rglob("*.mp4"))
    folder = next(p for p in (synth_root / "test" / "fake").iterdir() if p.is_dir())
    for pred in (inference_video(video, model, cfg, threshold=ckpt["threshold"]),
                 inference_frames(folder, model, cfg, threshold=ckpt["threshold"])):
        assert pred.num_frames == 12 and len(pred.frames) == 12
        assert [w["start"] for w in pred.windows if w["scored"]] == [0, 4, 8]  # the windows evaluation scores
        first = cfg.sequence.first_scored_step  # 1: min_context 2
        assert pred.frames[:first] == [None] * first  # too little context: never reported as evidence
        assert all(0 <= p <= 1 for p in pred.frames[first:])
        assert pred.label == ("fake" if pred.prob_fake >= pred.threshold else "real")
        assert pred.verdict().startswith(pred.label.upper()) and "(3 windows)" in pred.verdict()
        assert set(pred.to_dict()) >= {"label", "prob_fake", "threshold", "windows", "frames"}


def test_prediction_agrees_with_split_evaluation(loaded, synth_root):
    model, cfg, ckpt = loaded
    ev = evaluate_split(model, cfg, synth_root / "test", "cpu", threshold=0.5, progress=False)
    row = ev.windows.iloc[0]
    pred = predict(synth_root / "test" / row["item"], model, cfg, threshold=0.5)
    by_start = {w["start"]: w["prob_fake"] for w in pred.windows}
    same_item = ev.windows[ev.windows["item"] == row["item"]]
    for _, w in same_item.iterrows():
        assert by_start[w["start"]] == pytest.approx(w["prob_fake"], abs=1e-5)


def test_end_aligned_window_and_short_video(loaded, synth_root, tmp_path, write_video):
    model, cfg, _ = loaded
    frames = np.random.default_rng(0).integers(0, 255, (10, 32, 32, 3), dtype=np.uint8)
    pred = predict(write_video(tmp_path / "ten.mp4", frames), model, cfg)
    assert [w["start"] for w in pred.windows if w["scored"]] == [0, 4] and len(pred.frames) == 10
    assert "(2 windows)" in pred.verdict()
    # coverage-only windows give frames 4 and 8-9 (step 0 of window 4, past the last window) a score
    assert [w["start"] for w in pred.windows if not w["scored"]] == [3, 6]
    assert pred.frames[0] is None and all(p is not None for p in pred.frames[1:])
    short = predict(write_video(tmp_path / "three.mp4", frames[:3]), model, cfg)
    assert short.num_frames == 3 and len(short.windows) == 1 and "padded" in short.notes[0]
    with pytest.raises(DataError, match="shorter than one window"):
        predict(tmp_path / "three.mp4", model, cfg.replace("sequence.short_items=error"))


def test_missing_inputs_are_clear(loaded, tmp_path):
    model, cfg, _ = loaded
    with pytest.raises(DataError, match="not found"):
        predict(tmp_path / "nope.mp4", model, cfg)
    with pytest.raises(DataError, match="not a video file"):
        inference_video(tmp_path, model, cfg)


@pytest.mark.parametrize("aggregation", ["mean", "vote", "confident"])
def test_predict_and_split_evaluation_give_a_video_the_same_score(loaded, tmp_path, write_video, aggregation):
    """10 frames, T=4, stride 4: windows 0 and 4 leave frames 8-9 to an end-aligned window, which must not
    change the video score (it did: predict averaged it in, evaluation did not)."""
    model, cfg, _ = loaded
    cfg = cfg.replace(f"inference.aggregation={aggregation}", "inference.confident_fraction=0.5")
    rng = np.random.default_rng(1)
    for cls in ("real", "fake"):
        write_video(tmp_path / "split" / cls / "ten.mp4", rng.integers(0, 255, (10, 32, 32, 3), dtype=np.uint8))
    ev = evaluate_split(model, cfg, tmp_path / "split", "cpu", threshold=0.5, progress=False)
    for cls in ("real", "fake"):
        pred = predict(tmp_path / "split" / cls / "ten.mp4", model, cfg, threshold=0.5)
        assert len(pred.windows) > 2  # coverage windows still run, for per-frame scores
        video = ev.videos.set_index("item").loc[f"{cls}/ten.mp4"]
        assert pred.prob_fake == pytest.approx(video["score"], abs=1e-6)
        assert pred.label == ("fake" if video["pred"] else "real")


def test_per_frame_scores_skip_steps_without_context(loaded, synth_root):
    model, cfg, _ = loaded
    video = next((synth_root / "test").rglob("*.mp4"))
    for min_context, unscored in ((1, 0), (2, 1), (4, 3)):
        pred = predict(video, model, cfg.replace(f"sequence.min_context={min_context}"))
        assert pred.frames[:unscored] == [None] * unscored and None not in pred.frames[unscored:]
    assert json.loads(pred.to_json())["frames"][0] is None  # valid JSON: null, not NaN


@pytest.mark.parametrize("streams, temporal", [("[rgb]", "convlstm"), ("[rgb,residual]", "convlstm"),
                                               ("[residual,residual2,energy]", "convlstm"), ("[rgb,residual]", "frame")])
def test_shared_encoder_scores_equal_per_window_recomputation(tmp_path, write_video, streams, temporal):
    # Each frame encoded once for all its windows must give what re-running the model per window gives. The
    # first `context` frames of each window see zeros before the window (residual streams), so they are
    # re-encoded per window; reusing their shared features instead moves the scores by ~1e-3 (checked).
    import torch

    from lab.config import load_config
    from lab.models.classifier import build_model

    cfg = load_config("config/data_config.yaml", "config/demo.yaml", overrides=[
        f"model.input_streams={streams}", f"model.temporal={temporal}", "model.spatial_pooling=meanmax",
        "sequence.stride=2", "image.height=32", "image.width=32", "inference.batch_size=3"])
    torch.manual_seed(0)
    model = build_model(cfg.model).eval()
    frames = np.random.default_rng(0).integers(0, 255, (37, 40, 48, 3), dtype=np.uint8)
    video = write_video(tmp_path / "v.mp4", frames)
    shared, each = predict(video, model, cfg), predict(video, model, cfg, share_encoder=False)
    assert [w["start"] for w in shared.windows] == [w["start"] for w in each.windows] and len(shared.windows) == 16
    window_p = np.array([[w["prob_fake"] for w in p.windows] for p in (shared, each)])
    assert np.ptp(window_p[1]) > 1e-3  # the windows' scores differ, so equal scores are not a constant
    assert np.abs(window_p[0] - window_p[1]).max() < 1e-5
    frame_p = np.array([[np.nan if f is None else f for f in p.frames] for p in (shared, each)])
    assert np.array_equal(np.isnan(frame_p[0]), np.isnan(frame_p[1]))
    assert np.nanmax(np.abs(frame_p[0] - frame_p[1])) < 1e-5 and abs(shared.prob_fake - each.prob_fake) < 1e-5


def test_windows_no_longer_than_the_stream_context_are_scored_whole(tmp_path, write_video):
    # With T=1 and a residual stream every frame of a window is a window head: nothing to share (this crashed).
    import torch

    from lab.config import load_config
    from lab.models.classifier import build_model

    cfg = load_config("config/data_config.yaml", "config/demo.yaml", overrides=[
        "model.input_streams=[rgb,residual]", "sequence.length=1", "sequence.stride=1", "sequence.min_context=1"])
    torch.manual_seed(0)
    frames = np.random.default_rng(1).integers(0, 255, (5, 32, 32, 3), dtype=np.uint8)
    pred = predict(write_video(tmp_path / "v.mp4", frames), build_model(cfg.model).eval(), cfg)
    assert len(pred.windows) == 5 and all(p is not None for p in pred.frames)
