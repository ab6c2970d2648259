"""An annotated verdict (`lab predict VIDEO --explain OUT`): the frames of the most suspicious windows with a
Grad-CAM overlay of where the evidence for "fake" lies, above the per-frame P(fake) timeline with the threshold.

OUT.mp4: H.264 (PyAV), one output frame per frame shown: the frame and its overlay side by side, the timeline
below with a cursor at that frame. OUT.png: one row per window (its frames with the overlay), the timeline
below. Each frame's heatmap comes from the window notebook 05's viewer uses for it (`explaining_window`), through the
same functions (`window_heatmaps`, `frame_heatmap`, `overlay_heatmap`), so both show the same maps.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from lab.config import Config
from lab.data.video import open_item, write_h264
from lab.errors import ConfigError, StorageError
from lab.inference.heatmap import explaining_window, frame_heatmap, overlay_heatmap, window_heatmaps
from lab.inference.infer import Prediction
from lab.outputs import write_bytes

FORMATS = (".mp4", ".png")
TIMELINE_HEIGHT = 160  # pixels


@dataclass
class Explanation:
    path: Path  # the file written
    windows: list[dict]  # the windows shown (start, end, prob_fake), most suspicious first
    frame_indices: list[int]  # the video's frame index of each frame shown, in the order shown
    heatmaps: np.ndarray  # (N, H, W) float32 in [0, 1]: one Grad-CAM map per frame shown, at the video's size
    timeline: np.ndarray  # (num_frames,) per-frame P(fake), NaN where a frame has none (too little context)
    size: tuple[int, int]  # (height, width) of the image or of each video frame written
    notes: list[str] = field(default_factory=list)


def check_explain_target(out: str | Path, overwrite: bool = False) -> Path:
    """The output path, refused before any work when its type is unknown or it exists (unless `overwrite`)."""
    out = Path(out)
    if out.suffix.lower() not in FORMATS:
        raise ConfigError(f"cannot tell the output type from {out.name!r}", "--explain",
                          "end the name with .mp4 (an annotated video) or .png (a strip)")
    if out.exists() and not overwrite:
        raise StorageError("the annotated verdict already exists", out, "pass another name, or --overwrite")
    if out.exists() and not out.is_file():
        raise StorageError("the annotated verdict's path is a folder", out, "pass a file name")
    return out


def suspicious_windows(prediction: Prediction, count: int = 2) -> list[dict]:
    """The `count` scored windows with the highest P(fake) that do not overlap one another, most suspicious
    first (fewer when the video has fewer)."""
    chosen: list[dict] = []
    for w in sorted((w for w in prediction.windows if w["scored"]), key=lambda w: -w["prob_fake"]):
        if all(w["end"] <= c["start"] or w["start"] >= c["end"] for c in chosen):
            chosen.append(w)
        if len(chosen) == count:
            break
    return chosen


def timeline_image(prediction: Prediction, width: int, height: int = TIMELINE_HEIGHT,
                   shaded: list[dict] = ()) -> tuple[np.ndarray, np.ndarray]:
    """The per-frame P(fake) curve with the threshold (dashed) and the shown windows shaded, rendered by
    matplotlib to uint8 RGB (height, width, 3); also the pixel column of every frame index (for a cursor)."""
    fig = Figure(figsize=(width / 100, height / 100), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0.07, 0.28, 0.91, 0.62))
    scores = np.asarray([np.nan if p is None else p for p in prediction.frames], float)
    for w in shaded:
        ax.axvspan(w["start"] - 0.5, w["end"] - 0.5, color="tab:orange", alpha=0.2, lw=0)
    ax.plot(np.arange(len(scores)), scores, c="tab:red", lw=1.5, marker=".", ms=3, label="P(fake) per frame")
    ax.axhline(prediction.threshold, ls="--", c="black", lw=1, label=f"threshold {prediction.threshold:.2f}")
    ax.set(xlim=(-0.5, max(prediction.num_frames, 1) - 0.5), ylim=(-0.02, 1.02))
    ax.set_xlabel("frame", fontsize=7, labelpad=1)
    ax.tick_params(labelsize=6)
    ax.set_title(f"{prediction.verdict()}   (shaded: the windows shown)", fontsize=8)
    ax.legend(loc="upper left", fontsize=6, ncols=2)
    fig.canvas.draw()
    image = np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
    xs = ax.transData.transform(np.c_[np.arange(prediction.num_frames), np.zeros(prediction.num_frames)])[:, 0]
    return image, np.clip(np.round(xs), 0, width - 1).astype(int)


def explain(path: str | Path, model: torch.nn.Module, cfg: Config, prediction: Prediction, out: str | Path, *,
            windows: int = 2, display_height: int = 240, overwrite: bool = False) -> Explanation:
    """Write the annotated verdict of `prediction` (the `predict` result for `path`) to `out` (.mp4 or .png)."""
    out = check_explain_target(out, overwrite)
    if windows < 1:
        raise ConfigError(f"{windows} windows is below 1", "--explain-windows", "give at least 1")
    chosen = suspicious_windows(prediction, windows)
    source = open_item(path)
    first = cfg.sequence.first_scored_step
    maps_by_start: dict[int, np.ndarray] = {}  # window start -> (t, h, w) feature-sized maps, as the viewer caches
    frames, heat, indices = [], [], []
    for w in chosen:
        clip = source.read(w["start"], w["end"] - w["start"])  # (t, H, W, 3)
        for index, frame in zip(range(w["start"], w["end"]), clip):
            # Each frame is explained by the window the viewer picks (a frame early in this window has too little
            # context here, so it takes its map from an overlapping window); None: the item's first frames.
            source_window = explaining_window(prediction.windows, index, first)
            if source_window is None:
                heat.append(np.zeros(frame.shape[:2], np.float32))
            else:
                start = source_window["start"]
                if start not in maps_by_start:
                    maps_by_start[start] = window_heatmaps(
                        model, cfg, source.read(start, source_window["end"] - start), full_size=False)
                heat.append(frame_heatmap(maps_by_start[start][index - start], frame.shape[:2], cfg.image))
        frames.append(clip)
        indices += list(range(w["start"], w["end"]))
    frames, heat = np.concatenate(frames), np.stack(heat)
    overlays = overlay_heatmap(frames, heat)
    timeline = np.asarray([np.nan if p is None else p for p in prediction.frames], float)
    if out.suffix.lower() == ".mp4":
        size = _write_video(out, prediction, chosen, frames, overlays, indices, display_height, source.fps)
    else:
        size = _write_strip(out, prediction, chosen, overlays, indices, min(display_height, 128))
    return Explanation(out, chosen, indices, heat, timeline, size)


def _scaled(images: np.ndarray, height: int) -> np.ndarray:
    """(N, H, W, 3) -> (N, height, W', 3), W' even, keeping the aspect ratio."""
    h, w = images.shape[1:3]
    width = max(2, round(w * height / h) // 2 * 2)
    interp = cv2.INTER_NEAREST if height >= 2 * h else cv2.INTER_AREA if height < h else cv2.INTER_LINEAR
    return np.stack([cv2.resize(im, (width, height), interpolation=interp) for im in images])


def _label(image: np.ndarray, text: str) -> np.ndarray:
    cv2.putText(image, text, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(image, text, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1, cv2.LINE_AA)
    return image


def _write_video(out: Path, prediction: Prediction, chosen: list[dict], frames: np.ndarray, overlays: np.ndarray,
                 indices: list[int], height: int, fps: float | None) -> tuple[int, int]:
    height -= height % 2
    left, right = _scaled(frames, height), _scaled(overlays, height)
    width = left.shape[2] * 2
    strip, xs = timeline_image(prediction, width, TIMELINE_HEIGHT, chosen)
    video = np.empty((len(indices), height + TIMELINE_HEIGHT, width, 3), np.uint8)
    for n, index in enumerate(indices):
        score = prediction.frames[index]
        top = np.concatenate([left[n], right[n]], axis=1)
        _label(top, f"frame {index}  P(fake) {'-' if score is None else f'{score:.2f}'}  | Grad-CAM")
        bottom = strip.copy()
        cv2.line(bottom, (int(xs[index]), 0), (int(xs[index]), TIMELINE_HEIGHT - 1), (31, 119, 180), 2)
        video[n] = np.concatenate([top, bottom], axis=0)
    write_h264(out, video, fps=min(fps or 8.0, 8.0), crf=18)  # at most 8 fps: slow enough to follow
    return video.shape[1:3]


def _write_strip(out: Path, prediction: Prediction, chosen: list[dict], overlays: np.ndarray, indices: list[int],
                 height: int) -> tuple[int, int]:
    rows, n = [], 0
    for w in chosen:
        count = w["end"] - w["start"]
        tiles = _scaled(overlays[n:n + count], height)
        for tile, index in zip(tiles, indices[n:n + count]):
            _label(tile, str(index))
        row = np.concatenate(list(tiles), axis=1)
        _label(row, f"          frames {w['start']}-{w['end'] - 1}: P(fake) {w['prob_fake']:.2f}")
        rows.append(row)
        n += count
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
    strip, _ = timeline_image(prediction, width, TIMELINE_HEIGHT, chosen)
    image = np.concatenate(rows + [strip], axis=0)
    ok, buf = cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    if not ok:  # pragma: no cover - OpenCV always encodes uint8 RGB
        raise RuntimeError("cannot encode the strip as PNG")
    write_bytes(out, buf.tobytes())
    return image.shape[:2]
