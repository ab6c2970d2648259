"""Prediction on a video file / frame folder: windows, per-frame scores, padding, agreement with evaluation."""
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
        assert [w["start"] for w in pred.windows] == [0, 4, 8]
        assert all(0 <= p <= 1 for p in pred.frames)
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
    assert [w["start"] for w in pred.windows] == [0, 4, 6] and len(pred.frames) == 10
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
