"""Scoring does no work twice: split evaluation from shared encoder maps, and streaming prediction (one pass, the
ConvLSTM state carried). Tiny random models: equality does not need trained weights."""
import json

import numpy as np
import pytest
import torch

from lab.config import load_config
from lab.data.video import write_h264
from lab.errors import ConfigError
from lab.evaluation.evaluate import evaluate_split
from lab.inference.infer import predict
from lab.models.classifier import build_model
from lab.runtime.checkpoint import save_checkpoint

from _fixtures import ROOT

TINY = ("model.pretrained=false", "model.output_stride=8", "model.input_streams=[rgb,residual]",
        "model.convlstm.hidden_channels=[8,8]", "model.spatial_pooling=meanmax", "image.height=32", "image.width=32",
        "sequence.length=4", "sequence.stride=2", "sequence.min_context=2", "inference.batch_size=3", "device=cpu",
        "data.num_workers=0")


def tiny(*extra: str):
    cfg = load_config(ROOT / "config/data_config.yaml", ROOT / "config/model_config.yaml", overrides=[*TINY, *extra])
    torch.manual_seed(0)
    return build_model(cfg.model).eval(), cfg


def moving(n: int, height: int, width: int, seed: int) -> np.ndarray:
    """Frames with texture and motion, so windows (and their residual streams) differ."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (height, width * 2, 3), dtype=np.uint8)
    return np.stack([np.roll(base, 3 * i, axis=1)[:, :width] for i in range(n)])


@pytest.fixture(scope="module")
def split(tmp_path_factory):
    """real/: a 16:9 H.264 .mp4 with B-frames and a JPEG folder; fake/: an mp4v video and a 3-frame PNG folder
    (shorter than T=4: one padded window)."""
    import cv2

    root = tmp_path_factory.mktemp("split")
    write_h264(root / "real" / "phone.mp4", moving(15, 36, 64, 0), fps=25, gop=8, bframes=2)
    for cls, name, frames, ext in (("real", "jpgs", moving(11, 32, 48, 1), "jpg"),
                                   ("fake", "short", moving(3, 32, 32, 3), "png")):
        (root / cls / name).mkdir(parents=True)
        for i, frame in enumerate(frames):
            cv2.imwrite(str(root / cls / name / f"f{i}.{ext}"), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer = cv2.VideoWriter(str(root / "fake" / "clip.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 10, (40, 30))
    for frame in moving(12, 30, 40, 2):
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    return root


@pytest.mark.parametrize("extra", [(), ("sequence.max_windows_per_item=2",)])
def test_shared_split_evaluation_equals_per_window_evaluation(split, extra, monkeypatch):
    import lab.scoring.windows as windows

    calls = []  # wrapped (still run): `test.py --eval` calls evaluate_split like the first call below
    monkeypatch.setattr(windows, "dataset_window_logits",
                        lambda *a, _real=windows.dataset_window_logits, **k: calls.append(1) or _real(*a, **k))
    model, cfg = tiny(*extra)
    with pytest.warns(UserWarning, match="shorter than 4 frames"):
        shared = evaluate_split(model, cfg, split, "cpu", threshold=0.5, progress=False)
    with pytest.warns(UserWarning, match="shorter than 4 frames"):
        each = evaluate_split(model, cfg.replace("inference.share_encoder=false"), split, "cpu", threshold=0.5,
                              progress=False)
    assert calls == [1]  # the shared path ran once (every item), the per-window one not at all
    a, b = shared.windows, each.windows
    assert list(a.columns) == list(b.columns) and a.drop(columns=["prob_fake", "timeline"]).equals(
        b.drop(columns=["prob_fake", "timeline"]))
    assert a["padded"].any() and len(a) == (16 if not extra else 7)
    assert np.ptp(b["prob_fake"]) > 1e-3  # the windows' scores differ: equality is not a constant
    assert np.abs(a["prob_fake"] - b["prob_fake"]).max() < 1e-5
    ta, tb = shared.extra["timeline"], each.extra["timeline"]
    assert np.array_equal(np.isnan(ta), np.isnan(tb)) and np.nanmax(np.abs(ta - tb)) < 1e-5
    assert shared.videos.drop(columns=["score", "window_scores"]).equals(each.videos.drop(columns=["score", "window_scores"]))
    assert np.abs(shared.videos["score"] - each.videos["score"]).max() < 1e-5
    assert shared.metrics.keys() == each.metrics.keys()
    assert shared.metrics["clip"]["roc_auc"] == pytest.approx(each.metrics["clip"]["roc_auc"], abs=1e-6)


@pytest.fixture(scope="module")
def h264(tmp_path_factory):
    return write_h264(tmp_path_factory.mktemp("stream") / "v.mp4", moving(23, 36, 64, 4), fps=25, gop=8, bframes=2)


def test_streaming_gives_one_score_per_frame_and_chunks_equal_one_pass(h264):
    model, cfg = tiny()
    whole = predict(h264, model, cfg, streaming=True, chunk=23)
    assert whole.mode == "streaming" and whole.num_frames == 23 and len(whole.frames) == 23 and whole.windows == []
    assert whole.frames[0] is None and all(0 <= p <= 1 for p in whole.frames[1:])  # min_context 2
    assert "streaming, 23 frames" in whole.verdict() and json.loads(whole.to_json())["mode"] == "streaming"
    assert whole.prob_fake == pytest.approx(np.mean(whole.frames[1:]), abs=1e-9)  # inference.aggregation=mean
    assert np.ptp(whole.frames[1:]) > 1e-4
    for chunk in (3, 8):  # the residual stream and the state cross every chunk boundary
        chunked = predict(h264, model, cfg, streaming=True, chunk=chunk)
        assert np.abs(np.array(chunked.frames[1:]) - np.array(whole.frames[1:])).max() < 1e-5


def test_streaming_equals_the_window_timeline_on_a_one_window_video(tmp_path):
    # A video exactly T frames long is one window starting from a zero state: the same per-frame scores. (Its
    # video score differs: the clip head pools the window, streaming aggregates per-frame scores.)
    model, cfg = tiny()
    video = write_h264(tmp_path / "four.mp4", moving(4, 36, 64, 5), fps=25, gop=8, bframes=2)
    stream, windows = predict(video, model, cfg, streaming=True, chunk=2), predict(video, model, cfg)
    assert len(windows.windows) == 1 and stream.frames[0] is None and windows.frames[0] is None
    assert np.abs(np.array(stream.frames[1:]) - np.array(windows.frames[1:])).max() < 1e-5


@pytest.mark.parametrize("override, key", [("model.convlstm.bidirectional=true", "bidirectional"),
                                           ("model.temporal=frame", "model.temporal")])
def test_streaming_refuses_models_without_a_forward_state(h264, override, key):
    model, cfg = tiny(override)
    with pytest.raises(ConfigError, match=key):
        predict(h264, model, cfg, streaming=True)


def test_seed_entry_points_score_through_the_shared_path_and_stream(h264, tmp_path, monkeypatch, capsys):
    import lab.inference.infer as infer
    from lab.cli.evaluate import test_entry
    from lab.cli.main import main

    model, cfg = tiny()
    checkpoint = save_checkpoint(model, None, 0, tmp_path / "tiny.pth", config=cfg)
    calls = []  # the shared scorer is wrapped (and still runs), to see that `test.py --video` reaches it
    monkeypatch.setattr(infer, "encoded_windows", lambda *a, _real=infer.encoded_windows, **k: calls.append(1) or _real(*a, **k))
    assert test_entry(["--video", str(h264), "--checkpoint", str(checkpoint), "--json"]) == 0
    assert calls == [1]  # `--frames` and `lab predict` call the same `predict`
    capsys.readouterr()
    assert main(["predict", str(h264), "--checkpoint", str(checkpoint), "--streaming", "--json"]) == 0
    out = capsys.readouterr()
    assert json.loads(out.out)["mode"] == "streaming" and "note: streaming" in out.err
    assert test_entry(["--eval", "--streaming", "--checkpoint", str(checkpoint)]) == 2
    assert "use it with --video or --frames" in capsys.readouterr().err
