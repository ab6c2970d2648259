"""Score one video file or frame folder: sliding windows, per-window and per-frame P(fake), a verdict.

Frames stream through a ring buffer of one window, so memory is bounded by the window and the batch,
never by the video's length. Each frame is encoded once for all the windows that overlap it
(`lab.scoring.shared`); the scores equal re-running the model per window. The video score comes from the
same windows evaluation scores (starts 0, stride, 2*stride, ...), so `predict` and `test.py --eval` agree;
where those windows leave frames without a per-frame score (usually the last frames), extra windows are run
for per-frame scores only.

A per-frame score is P(fake) at that frame from the per-timestep head (trained with the auxiliary loss,
`training.step_loss_weight`), averaged over the windows covering the frame at a step that has seen at least
`sequence.min_context` frames of its window. The first min_context - 1 frames of an item have no score (None).

`streaming=True` (unidirectional ConvLSTM models only) scores the video in one pass instead, the ConvLSTM state
carried over every frame (`lab.inference.streaming`): no windows, one per-frame P(fake) from the per-step head
with the state that has seen every earlier frame, and a video score that is `inference.aggregation` applied to
those per-frame scores (from frame min_context - 1 on), since the clip head's pooling over a window has no window
to pool. It differs from the window score; docs/inference.md says how.
"""
from __future__ import annotations

import json
from collections import deque
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from lab.config import Config, SequenceConfig
from lab.data.dataset import window_starts
from lab.data.transforms import build_transform
from lab.data.video import IMAGE_EXTS, VIDEO_EXTS, is_video, open_item
from lab.errors import DataError
from lab.inference.streaming import check_streamable, stream_step_logits
from lab.runtime.checkpoint import unwrap
from lab.runtime.device import Precision
from lab.scoring.aggregate import decision_threshold, frame_scores, video_score
from lab.scoring.decision import Decision, as_decision, probabilities
from lab.scoring.shared import can_share, encoded_windows, score_encoded
from lab.scoring.windows import score_clips


@dataclass
class Prediction:
    source: str
    label: str  # "real" | "fake"
    prob_fake: float  # aggregated over windows
    threshold: float  # the cut applied to prob_fake
    aggregation: str
    num_frames: int
    # {start, end (exclusive), prob_fake, scored}: scored windows make prob_fake (the ones evaluation uses);
    # windows with scored=False (usually one aligned to the end) only give frames their per-frame scores
    windows: list[dict] = field(default_factory=list)
    # per-frame P(fake): mean over the covering windows' per-timestep outputs that had enough context
    # (sequence.min_context); None for frames no such output covers (an item's first frames)
    frames: list[float | None] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    mode: str = "windows"  # "windows" | "streaming" (no windows; prob_fake aggregates the per-frame scores)
    # the temperature and window threshold used, and how the threshold was chosen (Decision.to_dict())
    decision: dict = field(default_factory=dict)

    def verdict(self) -> str:
        """`FAKE 0.93 (41 windows) at threshold 0.41 (youden, T=1.83)`, or `(streaming, N frames)`."""
        if self.mode == "streaming":
            text = f"{self.label.upper()} {self.prob_fake:.2f} (streaming, {self.num_frames} frames)"
        else:
            n = sum(w["scored"] for w in self.windows)
            text = f"{self.label.upper()} {self.prob_fake:.2f} ({n} window{'s' if n != 1 else ''})"
        if self.decision:
            decision = Decision.from_dict(self.decision)
            text += f" at threshold {decision.threshold:.2f} ({decision.short()})"
        return text

    def to_dict(self) -> dict:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)


def plan_prediction(num_frames: int, seq: SequenceConfig) -> tuple[list[int], list[int]]:
    """(scored starts, coverage-only starts) for an item of `num_frames` frames.

    The scored windows are exactly those evaluation uses (`window_starts`, `sequence.max_windows_per_item`
    included), so `predict` and `test.py --eval` give a video the same score. Coverage windows are added,
    fewest first-fit, so that every frame from `first_scored_step` on lies in some window at a step with
    enough context (usually just one window aligned to the end); they give per-frame scores only."""
    if num_frames < seq.length:
        return [0], []  # one padded window (short_items=pad)
    starts = window_starts(num_frames, seq.length, seq.stride, seq.max_windows_per_item)
    first = seq.first_scored_step
    covered = np.zeros(num_frames, bool)
    for start in starts:
        covered[start + first:start + seq.length] = True
    extra = []
    for frame in np.flatnonzero(~covered[first:]) + first:
        if not covered[frame]:
            start = min(frame - first, num_frames - seq.length)
            extra.append(start)
            covered[start + first:start + seq.length] = True
    return starts, extra


def _stream_windows(frames: Iterator[torch.Tensor], wanted: set[int], length: int, num_frames: int, source: Path):
    """Yield (start, clip (T, C, H, W)) for each start in `wanted`, from one pass over `frames` with a ring
    buffer of one window; an item shorter than `length` yields one clip padded with its last frame."""
    buffer: deque = deque(maxlen=length)
    n = 0
    for n, frame in enumerate(frames, start=1):
        buffer.append(frame)
        if n >= length and n - length in wanted:
            yield n - length, torch.stack(list(buffer))
    if n != num_frames:
        raise DataError(f"{n} frames decoded where {num_frames} were counted", source, "re-encode the video")
    if n < length:
        yield 0, torch.stack(list(buffer) + [buffer[-1]] * (length - n))


def predict(path: str | Path, model: torch.nn.Module, cfg: Config, *, threshold: float | Decision = 0.5,
            device: torch.device | str = "cpu", precision: Precision | None = None,
            share_encoder: bool | None = None, streaming: bool = False, chunk: int | None = None) -> Prediction:
    """Score a video file or a folder of frames with `model` (built from `cfg`). `threshold`: a checkpoint's
    Decision (`checkpoint_decision(ckpt)`: temperature and threshold) or a plain threshold on uncalibrated scores.
    `share_encoder` (default `inference.share_encoder`): encode each frame once for all the windows that overlap it
    (`lab.scoring.shared`; equal scores, less work); False re-runs the whole model per window.
    `streaming`: one pass with the ConvLSTM state carried over the whole video, `chunk` frames at a time (default
    `max(sequence.length, inference.batch_size)`); see the module docstring for how its scores differ."""
    decision = as_decision(threshold)
    threshold = decision.threshold
    path = Path(path)
    if not path.exists():
        raise DataError("not found", path, f"pass a video file ({', '.join(sorted(VIDEO_EXTS))}) or a frame folder")
    device = torch.device(device)
    seq, inf = cfg.sequence, cfg.inference
    if streaming:
        check_streamable(unwrap(model))
    source = open_item(path)
    num_frames = source.num_frames
    transform = build_transform(cfg.image, cfg.augmentation, train=False)
    if streaming:
        return _predict_streaming(path, source, transform, model, cfg, decision, torch.device(device), precision,
                                  chunk or max(seq.length, inf.batch_size))
    if num_frames < seq.length and seq.short_items != "pad":
        raise DataError(f"{num_frames} frames is shorter than one window of {seq.length}, and sequence.short_items is "
                        f"{seq.short_items}", path, "use a shorter sequence.length or --set sequence.short_items=pad")
    starts, coverage = plan_prediction(num_frames, seq)
    model.eval()
    probs_by_start: dict[int, float] = {}
    timelines_by_start: dict[int, list[float]] = {}
    batch: list[tuple[int, torch.Tensor]] = []

    net = unwrap(model)
    share_encoder = inf.share_encoder if share_encoder is None else share_encoder
    shared = share_encoder and num_frames >= seq.length and can_share(net, seq.length)

    def flush():
        inputs = torch.stack([clip for _, clip in batch]).to(device)
        scorer = score_encoded if shared else score_clips
        clip_logits, step_logits = scorer(net if shared else model, inputs, precision)
        clip_p = probabilities(clip_logits, decision.temperature).cpu().numpy()
        step_p = probabilities(step_logits, decision.temperature).cpu().numpy()
        for (start, _), p, steps in zip(batch, clip_p, step_p):
            probs_by_start[start] = float(p)
            timelines_by_start[start] = steps.tolist()
        batch.clear()

    # Each frame is transformed once on arrival (the eval transform is deterministic), then shared by
    # every window that covers it.
    frames = (transform(frame[None])[0] for frame in source.iter_frames())
    wanted = set(starts) | set(coverage)
    windows_in = (encoded_windows(net, frames, wanted, seq.length, num_frames, path, device, precision,
                                  chunk=max(inf.batch_size, seq.length)) if shared
                  else _stream_windows(frames, wanted, seq.length, num_frames, path))
    for start, clip in windows_in:
        batch.append((start, clip))
        if len(batch) == inf.batch_size:
            flush()
    if batch:
        flush()

    notes = []
    if num_frames < seq.length:
        notes.append(f"{num_frames} frames is shorter than one window ({seq.length}); padded by repeating the "
                     f"last frame (sequence.short_items=pad)")
    window_probs = [probs_by_start[s] for s in starts]
    scored = set(starts)
    score = video_score(window_probs, inf.aggregation, threshold, inf.confident_fraction)
    cut = decision_threshold(inf.aggregation, threshold)
    covering = sorted(probs_by_start)
    per_frame = [None if np.isnan(p) else float(p) for p in
                 frame_scores(covering, [timelines_by_start[s] for s in covering], num_frames, seq.first_scored_step)]
    windows = [{"start": s, "end": min(s + seq.length, num_frames), "prob_fake": probs_by_start[s],
                "scored": s in scored} for s in covering]
    return Prediction(str(path), "fake" if score >= cut else "real", score, cut, inf.aggregation, num_frames,
                      windows, per_frame, notes, decision=decision.to_dict())


def _predict_streaming(path: Path, source, transform, model: torch.nn.Module, cfg: Config, decision: Decision,
                       device: torch.device, precision: Precision | None, chunk: int) -> Prediction:
    """`predict(..., streaming=True)`: per-frame scores from one pass (at the decision's temperature), the video
    score aggregated over them."""
    net = unwrap(model)
    threshold = decision.threshold
    first = cfg.sequence.first_scored_step
    if source.num_frames <= first:
        raise DataError(f"{source.num_frames} frames leave no frame with sequence.min_context={cfg.sequence.min_context} "
                        f"frames of context", path, "score a longer video, or lower sequence.min_context")
    model.eval()
    frames = (transform(frame[None])[0] for frame in source.iter_frames())
    probs: list[float] = []
    for logits in stream_step_logits(net, frames, device, precision, chunk):
        probs.extend(probabilities(logits, decision.temperature).cpu().tolist())
    if len(probs) != source.num_frames:
        raise DataError(f"{len(probs)} frames decoded where {source.num_frames} were counted", path,
                        "re-encode the video")
    inf = cfg.inference
    score = video_score(probs[first:], inf.aggregation, threshold, inf.confident_fraction)
    cut = decision_threshold(inf.aggregation, threshold)
    per_frame = [None] * first + probs[first:]
    note = (f"streaming: ConvLSTM state carried over all {source.num_frames} frames (no window resets); prob_fake "
            f"is the {inf.aggregation} of the per-frame scores, not of window scores")
    return Prediction(str(path), "fake" if score >= cut else "real", score, cut, inf.aggregation, source.num_frames,
                      [], per_frame, [note], mode="streaming", decision=decision.to_dict())


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
