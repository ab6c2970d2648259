"""Score overlapping windows of one video with each frame encoded once.

Windows of `sequence.length` frames every `stride` frames overlap: at stride 4 with T=16 each frame lies in four
windows, and re-running the whole model per window runs the per-frame CNN encoder four times on it. Here the
encoder runs once per frame over the video, in chunks, and each window's ConvLSTM (`forward_encoded`) reads
those shared feature maps.

Exactness: frame t's input channels depend on frames t - c .. t of its window (c = `InputStreams.context`:
0 for rgb, 1 for residual, 2 for residual2 and energy), and a window's first c frames see zeros instead of the frames
before the window. So a frame's shared features are its "interior" features, computed with the frames before
it, and each window's first c frames are encoded again for that window. Scores equal per-window
recomputation up to float rounding in fp32 (the encoder sees other batch compositions; eval-mode BatchNorm is
per sample); under bf16/fp16 autocast the rounding is that precision's. Memory holds one window of frames and
maps, one chunk of frames and the heads of the windows that chunk completes, whatever the video's length.
Frames that no wanted window holds (sparse windows: `sequence.max_windows_per_item`) are decoded but not encoded.

Used by `lab.inference.infer.predict` (one video) and by evaluation (`dataset_window_logits`: every item of a
split, frames read through the dataset's own source and transform, so the windows are the dataset's windows).
"""
from __future__ import annotations

import contextlib
from collections import deque
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from tqdm.auto import tqdm

from lab.errors import DataError
from lab.runtime.device import Precision


def _encode(net, x: torch.Tensor, device: torch.device, precision: Precision | None) -> torch.Tensor:
    """(N, C_in, H, W) stream channels -> encoder maps (N, C_enc, h, w), float32, on `device`."""
    with precision.autocast() if precision is not None else contextlib.nullcontext():
        return net.encoder(x).float()


def can_share(net, length: int) -> bool:
    """Whether `net` (unwrapped) can score windows from shared encoder maps: a `ClipClassifier` subclass with its
    own `forward_encoded`, and windows longer than its streams' context (else no frame of a window is shared)."""
    from lab.models.classifier import ClipClassifier  # models sit below inference; keep the import light

    return (isinstance(net, ClipClassifier) and type(net).forward_encoded is not ClipClassifier.forward_encoded
            and length > net.streams.context)


@torch.no_grad()
def score_encoded(net, maps: torch.Tensor, precision: Precision | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Encoder maps of a batch of windows (B, T, C_enc, h, w) -> clip logits (B, 2), per-step logits (B, T, 2),
    as `lab.evaluation.evaluate.score_clips` gives them from the frames (for the frame-only model up to rounding:
    there the head runs on the mean frame vector, in `score_clips` on each frame before the mean)."""
    with precision.autocast() if precision is not None else contextlib.nullcontext():
        feats = net.forward_encoded(maps)
        return net.forward_head(feats.embedding).float(), net.forward_head(feats.sequence).float()


@torch.no_grad()
def encoded_windows(net, frames: Iterator[torch.Tensor], wanted: set[int], length: int, num_frames: int,
                    source: Path, device: torch.device, precision: Precision | None = None,
                    chunk: int = 16) -> Iterator[tuple[int, torch.Tensor]]:
    """Yield (start, encoder maps (T, C_enc, h, w)) for each start in `wanted`, in order, from one pass over
    `frames` (normalised (3, H, W) tensors). `net` is an unwrapped `ClipClassifier` in eval mode. Needs
    num_frames >= length (a padded short item has one window: score it whole)."""
    context = net.streams.context
    needed = np.zeros(num_frames, bool)  # frames whose interior maps some wanted window uses (1 byte a frame)
    for start in wanted:
        needed[start + context:start + length] = True
    raw: deque = deque(maxlen=max(length, context + 1))  # the last frames (window heads and interior context)
    maps: deque = deque(maxlen=length)  # interior maps of the last `length` frames (None where undefined)
    pending: list[torch.Tensor] = []
    n = 0

    def flush() -> Iterator[tuple[int, torch.Tensor]]:
        nonlocal n
        history = list(raw)[-context:] if context else []
        seq = torch.stack(history + pending)[None].to(device)  # (1, ctx + k, 3, H, W)
        chans = net.streams(seq)[0, len(history):]  # interior channels of the pending frames
        first = n  # global index of pending[0]
        usable = [i for i in range(len(pending))  # frames with their full context that a window uses
                  if first + i >= context and first + i < num_frames and needed[first + i]]
        enc = _encode(net, chans[usable], device, precision) if usable else None
        by_index = dict(zip(usable, enc)) if usable else {}
        ready = []
        for i, frame in enumerate(pending):
            raw.append(frame)
            maps.append(by_index.get(i))
            n += 1
            if n >= length and n - length in wanted:
                ready.append((n - length, list(raw)[-length:][:context], list(maps)))
        pending.clear()
        if not ready:
            return
        if context:  # each window's first `context` frames, encoded as that window sees them (zeros before it)
            heads = net.streams(torch.stack([torch.stack(h) for _, h, _ in ready]).to(device))  # (W, ctx, C_in, H, W)
            heads = _encode(net, heads.flatten(0, 1), device, precision).unflatten(0, heads.shape[:2])
        for w, (start, _, window_maps) in enumerate(ready):
            tail = torch.stack(window_maps[context:])
            yield start, torch.cat([heads[w], tail]) if context else tail

    for frame in frames:
        pending.append(frame)
        if len(pending) == chunk:
            yield from flush()
    if pending:
        yield from flush()
    if n != num_frames:
        raise DataError(f"{n} frames decoded where {num_frames} were counted", source, "re-encode the video")


@torch.no_grad()
def dataset_window_logits(net, ds, device: torch.device, precision: Precision | None = None, batch_size: int = 8,
                          progress: bool = True) -> Iterator[tuple[list[int], torch.Tensor, torch.Tensor]]:
    """Score the unpadded windows of `ds` (a `FrameSequenceDataset` with a deterministic, evaluation transform) from
    shared encoder maps: batches of (window indices into `ds`, clip logits (B, 2), per-step logits (B, T, 2)).

    Each item is read once, in order, through `ds.iter_item` (the source and transform `ds[i]` uses), and its
    windows are the dataset's own (`ds.windows`, `max_windows_per_item` included). Padded windows (items shorter
    than T) are left to the caller, which scores them whole. Memory: one window and one batch, per item."""
    length = ds.sequence_length
    by_item: dict[str, dict[int, int]] = {}  # item -> {start: window index}
    for index, window in enumerate(ds.windows):
        if not window.padded:
            by_item.setdefault(window.item, {})[window.start] = index
    indices: list[int] = []
    maps: list[torch.Tensor] = []

    def flush() -> tuple[list[int], torch.Tensor, torch.Tensor]:
        clip_logits, step_logits = score_encoded(net, torch.stack(maps), precision)
        out = (list(indices), clip_logits, step_logits)
        indices.clear()
        maps.clear()
        return out

    for item in tqdm(ds.items, desc="scoring", unit="item", leave=False, disable=not progress):
        starts = by_item.get(item.name)
        if not starts:
            continue
        for start, window_maps in encoded_windows(net, ds.iter_item(item.name), set(starts), length, item.num_frames,
                                                  ds.root / item.name, device, precision,
                                                  chunk=max(batch_size, length)):
            indices.append(starts[start])
            maps.append(window_maps)
            if len(indices) == batch_size:
                yield flush()
    if indices:
        yield flush()
