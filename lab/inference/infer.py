"""Score one video file or frame folder: sliding windows, per-window and per-frame P(fake), a verdict.

Frames stream through a ring buffer of one window, so memory is bounded by the window and the batch,
never by the video's length. Windows start every `sequence.stride` frames; when the last window does
not reach the final frame, one more window aligned to the end is added so every frame gets a score.
"""
from __future__ import annotations

import json
from collections import deque
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from lab.evaluation.aggregate import decision_threshold, frame_scores, video_score
from lab.config import Config
from lab.runtime.device import Precision
from lab.errors import DataError
from lab.evaluation.evaluate import score_clips
from lab.data.transforms import build_transform
from lab.data.video import IMAGE_EXTS, VIDEO_EXTS, is_video, iter_frames


@dataclass
class Prediction:
    source: str
    label: str  # "real" | "fake"
    prob_fake: float  # aggregated over windows
    threshold: float  # the cut applied to prob_fake
    aggregation: str
    num_frames: int
    windows: list[dict] = field(default_factory=list)  # {start, end (exclusive), prob_fake}
    frames: list[float] = field(default_factory=list)  # per-frame P(fake), mean over covering windows' timelines
    notes: list[str] = field(default_factory=list)

    def verdict(self) -> str:
        n = len(self.windows)
        return f"{self.label.upper()} {self.prob_fake:.2f} ({n} window{'s' if n != 1 else ''})"

    def to_dict(self) -> dict:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)


def _window_starts_stream(frames: Iterator[np.ndarray], length: int, stride: int, short_items: str, source: str):
    """Yield (start, list-of-`length`-frames) windows from a frame stream, plus the final frame count."""
    buffer: deque = deque(maxlen=length)
    last_start = None
    n = 0
    for n, frame in enumerate(frames, start=1):
        buffer.append(frame)
        start = n - length
        if start >= 0 and start % stride == 0:
            last_start = start
            yield start, list(buffer)
    if n == 0:
        raise DataError("no readable frames", source, "re-encode or re-extract it")
    if n < length:
        if short_items != "pad":
            raise DataError(f"{n} frames is shorter than one window of {length}, and sequence.short_items is "
                            f"{short_items}", source, "use a shorter sequence.length or --set sequence.short_items=pad")
        yield 0, list(buffer) + [buffer[-1]] * (length - n)
    elif last_start != n - length:
        yield n - length, list(buffer)
    yield None, n


def predict(path: str | Path, model: torch.nn.Module, cfg: Config, *, threshold: float = 0.5,
            device: torch.device | str = "cpu", precision: Precision | None = None) -> Prediction:
    """Score a video file or a folder of frames with `model` (built from `cfg`)."""
    path = Path(path)
    if not path.exists():
        raise DataError("not found", path, f"pass a video file ({', '.join(sorted(VIDEO_EXTS))}) or a frame folder")
    device = torch.device(device)
    seq, inf = cfg.sequence, cfg.inference
    transform = build_transform(cfg.image, cfg.augmentation, train=False)
    model.eval()
    probs_by_start: dict[int, float] = {}
    timelines_by_start: dict[int, list[float]] = {}
    batch: list[tuple[int, torch.Tensor]] = []
    num_frames = 0

    def flush():
        clips = torch.stack([clip for _, clip in batch]).to(device)
        clip_logits, step_logits = score_clips(model, clips, precision)
        clip_p = clip_logits.softmax(-1)[:, 1].cpu().numpy()
        step_p = step_logits.softmax(-1)[..., 1].cpu().numpy()
        for (start, _), p, steps in zip(batch, clip_p, step_p):
            probs_by_start[start] = float(p)
            timelines_by_start[start] = steps.tolist()
        batch.clear()

    # Each frame is transformed once on arrival (the eval transform is deterministic), then shared by
    # every window that covers it.
    frames = (transform(frame[None])[0] for frame in iter_frames(path))
    for start, window in _window_starts_stream(frames, seq.length, seq.stride, seq.short_items, str(path)):
        if start is None:
            num_frames = window
            break
        batch.append((start, torch.stack(window)))
        if len(batch) == inf.batch_size:
            flush()
    if batch:
        flush()

    notes = []
    if num_frames < seq.length:
        notes.append(f"{num_frames} frames is shorter than one window ({seq.length}); padded by repeating the "
                     f"last frame (sequence.short_items=pad)")
    starts = sorted(probs_by_start)
    window_probs = [probs_by_start[s] for s in starts]
    score = video_score(window_probs, inf.aggregation, threshold, inf.confident_fraction)
    cut = decision_threshold(inf.aggregation, threshold)
    per_frame = frame_scores(starts, [timelines_by_start[s] for s in starts], num_frames).tolist()
    windows = [{"start": s, "end": min(s + seq.length, num_frames), "prob_fake": p} for s, p in zip(starts, window_probs)]
    return Prediction(str(path), "fake" if score >= cut else "real", score, cut, inf.aggregation, num_frames,
                      windows, per_frame, notes)


def inference_video(video_path: str | Path, model: torch.nn.Module, config: Config, **kwargs) -> Prediction:
    """The seed's name: score a video file (frames decoded with OpenCV, sliding windows, ensemble)."""
    if Path(video_path).exists() and (not is_video(video_path) or not Path(video_path).is_file()):
        raise DataError("not a video file", video_path, f"pass a {', '.join(sorted(VIDEO_EXTS))} file, or --frames for a folder")
    return predict(video_path, model, config, **kwargs)


def inference_frames(frame_dir: str | Path, model: torch.nn.Module, config: Config, **kwargs) -> Prediction:
    """The seed's name: score a folder of already-extracted frames."""
    if not Path(frame_dir).is_dir():
        raise DataError("not a folder of frames", frame_dir, f"pass a folder of {', '.join(sorted(IMAGE_EXTS))} files, or --video for a file")
    return predict(frame_dir, model, config, **kwargs)
