"""Interactive prediction viewer for notebooks: choose a video, scrub or play its frames, and see each
frame's P(fake) on a timeline with a cursor, the window scores, and optionally a Grad-CAM overlay.

All logic lives in `PredictionViewer` with plain methods and properties, so it runs and is tested without
a browser (set `viewer.slider.value`, read `viewer.frame_image.value`). Frames are decoded on demand, one
at a time, through a small LRU cache; predictions and heatmaps are cached per video / per window.
"""
from __future__ import annotations

import html
import io
from collections import OrderedDict
from collections.abc import Hashable, Mapping, Sequence
from pathlib import Path
from typing import Any, Callable

import cv2
import ipywidgets as W
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from torch import nn

from lab.config import Config
from lab.data.dataset import CLASSES, discover_items
from lab.data.video import FrameSource, open_item
from lab.errors import DataError, LabError
from lab.inference.heatmap import explaining_window, frame_heatmap, overlay_heatmap, window_heatmaps
from lab.inference.infer import Prediction, predict
from lab.runtime.device import module_device
from lab.scoring.decision import Decision

VIEWER_CLASS = "lab-prediction-viewer"  # CSS classes: handles for the browser test and for styling


class LRUCache:
    """The `capacity` most recently used values; `get(key, make)` computes a missing one with `make()`."""

    def __init__(self, capacity: int):
        self.capacity = max(int(capacity), 1)
        self._data: OrderedDict[Hashable, Any] = OrderedDict()

    def get(self, key: Hashable, make: Callable[[], Any]) -> Any:
        if key in self._data:
            self._data.move_to_end(key)
            return self._data[key]
        value = self._data[key] = make()
        if len(self._data) > self.capacity:
            self._data.popitem(last=False)
        return value

    def __contains__(self, key: Hashable) -> bool:
        return key in self._data

    def __len__(self) -> int:
        return len(self._data)


def png_bytes(image: np.ndarray) -> bytes:
    """uint8 RGB (H, W, 3) -> PNG file bytes (what `ipywidgets.Image` shows)."""
    ok, buf = cv2.imencode(".png", cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2BGR))
    if not ok:  # pragma: no cover - OpenCV always encodes uint8 RGB
        raise ValueError(f"cannot encode an image of shape {image.shape} as PNG")
    return buf.tobytes()


def figure_png(fig: Figure, dpi: int = 100) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def timeline_figure(prediction: Prediction, cursor: int | None = None, figsize=(7.0, 2.2)) -> Figure:
    """Per-frame P(fake) (line), each window's score (grey bars over its frames), the threshold (dashed) and
    an optional cursor at frame `cursor`. A plain `Figure`, outside pyplot: nothing shows it twice or leaks.
    Its cursor line is `fig.cursor_line` (move it with `set_xdata`)."""
    fig = Figure(figsize=figsize, layout="constrained")
    ax = fig.add_subplot()
    for w in prediction.windows:
        ax.hlines(w["prob_fake"], w["start"] - 0.5, w["end"] - 0.5, colors="grey", lw=5, alpha=0.35)
    scores = np.asarray(prediction.frames, dtype=float)  # None (too little context) -> NaN: a gap
    ax.plot(np.arange(len(scores)), scores, c="tab:red", lw=2, marker=".", label="per-frame P(fake)")
    ax.axhline(prediction.threshold, ls="--", c="black", lw=1, label=f"threshold {prediction.threshold:.2f}")
    ax.plot([], [], c="grey", lw=5, alpha=0.35, label="window scores")
    fig.cursor_line = ax.axvline(cursor if cursor is not None else 0, c="tab:blue", lw=2,
                                 visible=cursor is not None)
    ax.set(xlim=(-0.5, max(prediction.num_frames, 1) - 0.5), ylim=(-0.02, 1.02), xlabel="frame",
           ylabel="P(fake)", title=f"{Path(prediction.source).name}: {prediction.verdict()}")
    ax.legend(loc="upper right", fontsize=7, ncols=3)
    return fig


def item_name(path: Path) -> str:
    """`.../test/fake/clip_03` -> `fake/clip_03`: the class folder tells the true label."""
    return f"{path.parent.name}/{path.name}"


def true_label(path: Path) -> str:
    """"real" or "fake" for an item inside a real/ or fake/ folder, else "unknown"."""
    return path.parent.name if path.parent.name in CLASSES else "unknown"


class PredictionViewer:
    """A video picker, frame scrubber (slider + play), frame image, P(fake) timeline with a cursor, window
    scores and a Grad-CAM overlay toggle, over `paths` (frame folders or video files; a mapping gives
    display names). Shown by displaying the viewer itself (or `viewer.widget`).

    Widgets (public, for tests and for linking): `dropdown`, `slider`, `play`, `heatmap_toggle`,
    `frame_image` and `timeline_image` (PNG bytes), `verdict`, `caption`, `windows_table` (HTML).
    """

    def __init__(self, model: nn.Module, cfg: Config, paths: Sequence[str | Path] | Mapping[str, str | Path],
                 threshold: "float | Decision" = 0.5, *, frame_cache: int = 64, heatmap_cache: int = 16,
                 display_width: int = 360, play_interval_ms: int = 200):
        options = ([(str(name), Path(p)) for name, p in paths.items()] if isinstance(paths, Mapping)
                   else [(item_name(Path(p)), Path(p)) for p in paths])
        if not options:
            raise DataError("nothing to show", "paths", "give PredictionViewer at least one video or frame folder")
        # a checkpoint's Decision (temperature + threshold) passes through to predict; a float means T = 1
        self.threshold = threshold if isinstance(threshold, Decision) else float(threshold)
        self.model, self.cfg = model.eval(), cfg
        self.device = module_device(model)
        self._predictions: dict[Path, Prediction] = {}
        self._sources: dict[Path, FrameSource] = {}
        self._frames = LRUCache(frame_cache)  # (path, index) -> uint8 (H, W, 3)
        self._heatmaps = LRUCache(heatmap_cache)  # (path, window start) -> (t, h, w) feature-sized maps
        self._figure: Figure | None = None
        self._loading = False  # while a video loads, slider resets do not redraw (show_video draws once)
        self.error: str | None = None  # the message of a video that could not be read, shown in `verdict`

        self.dropdown = W.Dropdown(options=options, description="video", layout=W.Layout(width="420px"))
        self.slider = W.IntSlider(value=0, min=0, max=0, description="frame", continuous_update=True,
                                  layout=W.Layout(width="420px"))
        self.play = W.Play(value=0, min=0, max=0, interval=play_interval_ms, description="play")
        W.jslink((self.play, "value"), (self.slider, "value"))  # in the browser: smooth playback
        self.heatmap_toggle = W.Checkbox(value=False, description="Grad-CAM overlay", indent=False,
                                         tooltip="where the evidence for fake lies in this frame")
        self.frame_image = W.Image(format="png", layout=W.Layout(width=f"{display_width}px"))
        self.timeline_image = W.Image(format="png", layout=W.Layout(width="640px"))
        self.verdict, self.caption, self.windows_table = W.HTML(), W.HTML(), W.HTML()
        for widget, name in ((self.slider, "slider"), (self.frame_image, "frame"),
                             (self.timeline_image, "timeline"), (self.caption, "caption")):
            widget.add_class(f"lab-viewer-{name}")
        self.widget = W.VBox([
            self.dropdown, self.verdict, W.HBox([self.play, self.slider, self.heatmap_toggle]),
            W.HBox([W.VBox([self.frame_image, self.caption]), W.VBox([self.timeline_image, self.windows_table])]),
        ])
        self.widget.add_class(VIEWER_CLASS)

        self.dropdown.observe(lambda _: self.show_video(), names="value")
        self.slider.observe(lambda _: self.show_frame(), names="value")
        self.heatmap_toggle.observe(lambda _: self.show_frame(), names="value")
        self.show_video()

    @classmethod
    def from_split(cls, model: nn.Module, cfg: Config, root: str | Path, threshold: float = 0.5, *,
                   max_videos: int | None = None, **kwargs) -> PredictionViewer:
        """Every item under `root/{real,fake}`, alternating classes, the first `max_videos` of them."""
        found, _ = discover_items(root)
        by_class = [[p for p, label in found if label == c] for c in range(len(CLASSES))]
        paths = [p for group in zip(*by_class) for p in group]  # real, fake, real, fake, ...
        paths += [p for group in by_class for p in group[min(map(len, by_class)):]]  # the larger class's rest
        if not paths:
            raise DataError("no videos or frame folders under real/ or fake/", root, "pass a dataset split folder")
        return cls(model, cfg, paths[:max_videos] if max_videos else paths, threshold, **kwargs)

    # ----------------------------------------------------------------------------------------- state

    @property
    def path(self) -> Path:
        return self.dropdown.value

    @property
    def prediction(self) -> Prediction:
        return self.predict(self.path)

    @property
    def frame_index(self) -> int:
        return self.slider.value

    @property
    def num_frames(self) -> int:
        return self.prediction.num_frames

    @property
    def cursor(self) -> int | None:
        """The frame the timeline's cursor marks (None before a timeline is drawn)."""
        line = self._figure.cursor_line if self._figure is not None else None
        return int(round(line.get_xdata()[0])) if line is not None and line.get_visible() else None

    def predict(self, path: str | Path) -> Prediction:
        """The prediction for one video, computed once per viewer."""
        path = Path(path)
        if path not in self._predictions:
            self._predictions[path] = predict(path, self.model, self.cfg, threshold=self.threshold,
                                              device=self.device)
        return self._predictions[path]

    def source(self, path: str | Path | None = None) -> FrameSource:
        path = Path(path) if path is not None else self.path
        if path not in self._sources:
            self._sources[path] = open_item(path)
        return self._sources[path]

    def frame(self, index: int, path: str | Path | None = None) -> np.ndarray:
        """Frame `index` of a video (default: the current one), uint8 RGB (H, W, 3), decoded on demand."""
        source = self.source(path)
        return self._frames.get((source.path, index), lambda: source.read(index, 1)[0])

    def sample_frames(self, count: int = 8) -> np.ndarray:
        """Up to `count` frames spread evenly over the current video, uint8 RGB (k, H, W, 3)."""
        indices = np.linspace(0, self.num_frames - 1, min(count, self.num_frames)).round().astype(int)
        return np.stack([self.frame(int(i)) for i in indices])

    def summary(self) -> pd.DataFrame:
        """One row per video of the viewer (each scored once, then cached): true and predicted label."""
        rows = []
        for name, path in self.dropdown.options:
            pred = self.predict(path)
            rows.append({"item": name, "true": true_label(path),
                         "predicted": pred.label, "P(fake)": round(pred.prob_fake, 4),
                         "windows": sum(w["scored"] for w in pred.windows), "frames": pred.num_frames})
        return pd.DataFrame(rows)

    def windows_at(self, index: int) -> list[dict]:
        """The windows that cover frame `index` of the current video."""
        return [w for w in self.prediction.windows if w["start"] <= index < w["end"]]

    def heatmap(self, index: int) -> np.ndarray:
        """Grad-CAM (H, W) in [0, 1] for frame `index`, from the covering window whose centre is nearest
        among those where the frame has enough context (`sequence.min_context`); cached per window. All 0
        for an item's first frames, which no output with enough context covers."""
        window = explaining_window(self.prediction.windows, index, self.cfg.sequence.first_scored_step)
        frame = self.frame(index)
        if window is None:  # the item's first frames: nothing to explain
            return np.zeros(frame.shape[:2], np.float32)
        source, start = self.source(), window["start"]
        maps = self._heatmaps.get((source.path, start), lambda: window_heatmaps(
            self.model, self.cfg, source.read(start, window["end"] - start), full_size=False))
        return frame_heatmap(maps[index - start], frame.shape[:2], self.cfg.image)

    def image(self, index: int) -> np.ndarray:
        """What the frame view shows: the frame, with the heatmap blended in when the toggle is on."""
        frame = self.frame(index)
        return overlay_heatmap(frame, self.heatmap(index)) if self.heatmap_toggle.value else frame

    # ---------------------------------------------------------------------------------------- render

    def show_video(self) -> None:
        """Load the dropdown's video: predict (cached), reset the scrubber, redraw everything."""
        try:
            prediction = self.prediction
            self.error = None
        except LabError as exc:  # a corrupt video must not break the viewer: say what is wrong instead
            self.error = str(exc)
            self._figure = None
            self.verdict.value = f"<b style='color:#b00'>cannot score this item:</b> {html.escape(self.error)}"
            self.frame_image.value = self.timeline_image.value = b""
            self.caption.value = self.windows_table.value = ""
            self.slider.disabled = self.play.disabled = self.heatmap_toggle.disabled = True
            return
        last = prediction.num_frames - 1
        self._figure = timeline_figure(prediction, cursor=0)
        self._loading = True
        try:
            self.slider.value = self.play.value = 0
            self.slider.max = self.play.max = last
        finally:
            self._loading = False
        self.slider.disabled = self.play.disabled = self.heatmap_toggle.disabled = False
        colour = "#b00" if prediction.label == "fake" else "#070"
        self.verdict.value = (f"<b style='color:{colour}'>{prediction.label.upper()}</b> &nbsp; P(fake) = "
                              f"{prediction.prob_fake:.3f} (threshold {prediction.threshold:.2f}, "
                              f"{prediction.aggregation} of {sum(w['scored'] for w in prediction.windows)} windows) &nbsp; "
                              f"true label: {true_label(self.path)} &nbsp; {html.escape('; '.join(prediction.notes))}")
        self.show_frame()

    def show_frame(self) -> None:
        """Draw the current frame (with or without the overlay), move the cursor, update the captions."""
        if self.error is not None or self._loading:
            return
        index, prediction = self.frame_index, self.prediction
        frame = self.frame(index)
        heat = self.heatmap(index) if self.heatmap_toggle.value else None
        self.frame_image.value = png_bytes(frame if heat is None else overlay_heatmap(frame, heat))
        self._figure.cursor_line.set_xdata([index, index])
        self._figure.cursor_line.set_visible(True)
        self.timeline_image.value = figure_png(self._figure)
        covering = self.windows_at(index)
        score = prediction.frames[index]
        self.caption.value = (f"frame {index} / {prediction.num_frames - 1} &nbsp; P(fake) = "
                              + (f"{score:.3f}" if score is not None else "&ndash; (too little context)")
                              + ("" if heat is None else " &nbsp; Grad-CAM: " + (
                                  "evidence of fake highlighted" if heat.max() > 0 else "no evidence of fake here")))
        rows = "".join(
            f"<tr style='{'font-weight:bold;background:#ffe9a8' if w in covering else ''}'>"
            f"<td>{w['start']}&ndash;{w['end'] - 1}</td><td>{w['prob_fake']:.3f}</td></tr>"
            for w in prediction.windows)
        self.windows_table.value = ("<table><tr><th>window (frames)</th><th>P(fake)</th></tr>"
                                    f"{rows}</table><small>highlighted: windows covering this frame</small>")

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)
