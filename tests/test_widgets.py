"""The prediction viewer, headless: drive its widgets from Python and check what they show."""
import cv2
import numpy as np
import pytest

from lab.runtime.checkpoint import load_model
from lab.workbench.widgets import LRUCache, PredictionViewer, timeline_figure


@pytest.fixture(scope="module")
def loaded(tiny_checkpoint):
    return load_model(tiny_checkpoint)


@pytest.fixture
def viewer(loaded, synth_root):
    model, cfg, ckpt = loaded
    return PredictionViewer.from_split(model, cfg, synth_root / "test", ckpt["threshold"], max_videos=3,
                                       frame_cache=4)


def decode(png: bytes) -> np.ndarray:
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    return cv2.cvtColor(cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def test_viewer_opens_on_the_first_video(viewer, synth_root):
    names = [label for label, _ in viewer.dropdown.options]
    assert names[:2] == [names[0], names[1]] and names[0].startswith("real/") and names[1].startswith("fake/")
    assert len(names) == 3
    assert viewer.slider.max == viewer.play.max == viewer.num_frames - 1 == 11
    assert viewer.frame_index == 0 and viewer.cursor == 0
    assert np.array_equal(decode(viewer.frame_image.value), viewer.source().read(0, 1)[0])
    assert decode(viewer.timeline_image.value).ndim == 3
    assert viewer.prediction.label.upper() in viewer.verdict.value and "true label: real" in viewer.verdict.value
    assert viewer.widget._repr_mimebundle_()["application/vnd.jupyter.widget-view+json"]
    assert viewer._repr_mimebundle_() == viewer.widget._repr_mimebundle_()


def test_scrubbing_moves_frame_and_cursor(viewer):
    frame0, timeline0 = viewer.frame_image.value, viewer.timeline_image.value
    viewer.slider.value = 5
    assert viewer.cursor == 5
    assert viewer.frame_image.value != frame0 and viewer.timeline_image.value != timeline0
    assert np.array_equal(decode(viewer.frame_image.value), viewer.source().read(5, 1)[0])
    assert viewer.caption.value.startswith("frame 5 / 11")
    assert f"{viewer.prediction.frames[5]:.3f}" in viewer.caption.value
    # Scored windows [0,4) [4,8) [8,12), coverage-only [3,7) and [7,11): 3-6 and 4-7 cover frame 5.
    assert [(w["start"], w["end"]) for w in viewer.windows_at(5)] == [(3, 7), (4, 8)]
    assert viewer.windows_table.value.count("font-weight:bold") == 2
    for k in range(12):  # frames decode lazily through a bounded cache
        viewer.slider.value = k
    assert len(viewer._frames) == 4


def test_switching_video_loads_its_prediction_once(viewer):
    first, second = (value for _, value in viewer.dropdown.options[:2])
    viewer.slider.value = 7
    before = viewer.prediction
    viewer.dropdown.value = second
    assert viewer.path == second and viewer.prediction.source == str(second)
    assert viewer.prediction is not before and viewer.frame_index == 0 and viewer.cursor == 0
    assert "true label: fake" in viewer.verdict.value
    assert np.array_equal(decode(viewer.frame_image.value), viewer.source().read(0, 1)[0])
    viewer.dropdown.value = first
    assert viewer.prediction is before, "predictions are cached per video"


def test_heatmap_toggle_changes_the_image(viewer):
    # A window with no evidence for "fake" has an all-zero map by design (gradcam); which videos show some
    # depends on the tiny model's training draws, so take the first that does.
    for _, path in viewer.dropdown.options:
        viewer.dropdown.value = path
        if viewer.heatmap(6).max() > 0:
            break
    viewer.slider.value = 6
    plain = viewer.frame_image.value
    viewer.heatmap_toggle.value = True
    overlaid = decode(viewer.frame_image.value)
    heat = viewer.heatmap(6)
    assert heat.shape == overlaid.shape[:2] and 0 <= heat.min() and heat.max() <= 1
    assert viewer.frame_image.value != plain and overlaid.shape == decode(plain).shape
    assert "Grad-CAM: evidence of fake highlighted" in viewer.caption.value
    cached = len(viewer._heatmaps)
    viewer.slider.value = 7  # same window (4-7): its maps are reused
    assert len(viewer._heatmaps) == cached
    viewer.heatmap_toggle.value = False
    viewer.slider.value = 6
    assert viewer.frame_image.value == plain


def test_video_file_and_unreadable_item(loaded, synth_root, tmp_path):
    model, cfg, _ = loaded
    video = next((synth_root / "test").rglob("*.mp4"))
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video")
    viewer = PredictionViewer(model, cfg, {"movie": video, "broken": broken})
    viewer.slider.value = 3
    assert viewer.cursor == 3 and decode(viewer.frame_image.value).shape == viewer.frame(3).shape
    viewer.dropdown.value = broken
    assert viewer.error and "cannot score" in viewer.verdict.value and viewer.slider.disabled
    viewer.dropdown.value = video
    assert viewer.error is None and not viewer.slider.disabled and viewer.cursor == 0


def test_timeline_figure_and_lru(loaded, synth_root):
    model, cfg, _ = loaded
    viewer = PredictionViewer(model, cfg, [next((synth_root / "test" / "fake").iterdir())])
    fig = timeline_figure(viewer.prediction, cursor=2)
    assert list(fig.cursor_line.get_xdata()) == [2, 2] and len(fig.axes) == 1
    cache = LRUCache(2)
    for key in "abca":
        cache.get(key, lambda: key.upper())
    assert "b" not in cache and "a" in cache and "c" in cache


def test_summary_and_sample_frames(viewer):
    table = viewer.summary()
    assert list(table["item"]) == [name for name, _ in viewer.dropdown.options]
    assert list(table["true"]) == ["real", "fake", "real"]
    assert set(table["predicted"]) <= {"real", "fake"} and table["P(fake)"].between(0, 1).all()
    frames = viewer.sample_frames(5)
    assert frames.shape[0] == 5 and frames.dtype == np.uint8
    assert np.array_equal(frames[-1], viewer.source().read(11, 1)[0])


def test_notebook_05_is_thin():
    from pathlib import Path

    from lab.workbench.notebooks import lint_notebook, notebook_parameters

    path = Path(__file__).resolve().parents[1] / "notebooks" / "05_prediction_visualisation.ipynb"
    assert lint_notebook(path) == []
    assert {"project_dir", "checkpoint", "data_dir", "device", "max_videos"} <= set(notebook_parameters(path))
