"""`lab predict VIDEO --explain OUT`: the annotated verdict on a PyAV H.264 .mp4 (B-frames, 16:9), read back with
independent decoders; its heatmaps are the viewer's."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from lab.cli.main import main
from lab.data.video import open_item, write_h264
from lab.inference.explain import explain
from lab.inference.infer import predict
from lab.runtime.checkpoint import load_model
from lab.workbench.widgets import PredictionViewer


@pytest.fixture(scope="module")
def wide_video(synth_root, tmp_path_factory):
    """A fake of the tiny split, widened to 16:9 (64x36) and stored as H.264 with B-frames: 12 frames."""
    item = sorted(p for p in (synth_root / "test" / "fake").iterdir() if not p.name.startswith("."))[0]
    frames = np.stack([cv2.resize(f, (64, 36)) for f in open_item(item).read(0, 12)])
    return write_h264(tmp_path_factory.mktemp("explain") / "fake.mp4", frames, fps=12, bframes=2)


def test_explain_writes_video_and_strip(tiny_checkpoint, wide_video, tmp_path):
    model, cfg, ckpt = load_model(tiny_checkpoint)
    pred = predict(wide_video, model, cfg, threshold=ckpt["threshold"])
    shown = explain(wide_video, model, cfg, pred, tmp_path / "verdict.mp4", windows=2)
    assert len(shown.timeline) == pred.num_frames == 12  # one value per frame (NaN where none)
    assert len(shown.windows) == 2 and len(shown.frame_indices) == 8 == len(shown.heatmaps)
    assert shown.heatmaps.shape[1:] == (36, 64)
    assert shown.heatmaps.max() > shown.heatmaps.min() and shown.heatmaps.max() <= 1.0  # not constant

    cap = cv2.VideoCapture(str(shown.path))  # OpenCV's FFmpeg, not the PyAV that wrote it
    frames = []
    while (got := cap.read())[0]:
        frames.append(got[1])
    cap.release()
    assert len(frames) == 8 and frames[0].shape[:2] == shown.size
    assert np.std([f.astype(float).mean() for f in frames]) > 0  # the cursor and the frames move

    strip = explain(wide_video, model, cfg, pred, tmp_path / "verdict.png", windows=1)
    image = cv2.imread(str(strip.path))
    assert image is not None and image.shape[:2] == strip.size and len(strip.frame_indices) == 4

    viewer = PredictionViewer(model, cfg, [wide_video], threshold=ckpt["threshold"])
    for k, index in enumerate(shown.frame_indices):  # stride = T: the viewer explains a frame with the same window
        assert np.allclose(viewer.heatmap(index), shown.heatmaps[k], atol=1e-6)


def test_explain_flag_refuses_unknown_type_and_existing_file(tiny_checkpoint, wide_video, tmp_path, capsys):
    assert main(["predict", str(wide_video), "--checkpoint", str(tiny_checkpoint), "--explain",
                 str(tmp_path / "verdict.gif")]) == 2
    assert "error: cannot tell the output type" in capsys.readouterr().err
    (tmp_path / "taken.png").write_bytes(b"x")
    assert main(["predict", str(wide_video), "--checkpoint", str(tiny_checkpoint), "--explain",
                 str(tmp_path / "taken.png")]) == 2
    assert "already exists" in capsys.readouterr().err and (tmp_path / "taken.png").read_bytes() == b"x"
    # streaming scores no windows, so there is nothing to explain: refused before scoring, in one line
    assert main(["predict", str(wide_video), "--checkpoint", str(tiny_checkpoint), "--streaming", "--explain",
                 str(tmp_path / "verdict.png")]) == 2
    err = capsys.readouterr().err
    assert "error: --explain" in err and "streaming" in err and "Traceback" not in err
    assert not (tmp_path / "verdict.png").exists()
