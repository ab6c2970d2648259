"""Which frames of which clip each split may use, and how a split's items are shared out over its clips.

Two rules, written into every manifest row as `split_rule`:
- the embedded set (the three wheel clips) cuts every clip in time: train its first 55 % of frames, val the next
  20 %, test the last 25 % (`time 0.00-0.55`, ...);
- the fetched set splits by clip first: `test` clips give the test split all their frames (`clip:test`), `train`
  clips give train their first 75 % (`clip:train time 0.00-0.75`) and val the last 25 %
  (`clip:train time 0.75-1.00`). No test item shares a scene with a training or validation item.
"""
from __future__ import annotations

import math
from typing import Mapping

from lab.data.clips import Clip

SPLITS: tuple[str, ...] = ("train", "val", "test")
EMBEDDED_SPANS: dict[str, tuple[float, float]] = {"train": (0.0, 0.55), "val": (0.55, 0.75), "test": (0.75, 1.0)}
VAL_TAIL = 0.25  # the fetched set's validation: the last quarter of each training clip
CLIP_SPANS: dict[str, tuple[str, float, float]] = {"train": ("train", 0.0, 1 - VAL_TAIL),
                                                   "val": ("train", 1 - VAL_TAIL, 1.0), "test": ("test", 0.0, 1.0)}


def time_span(num_frames: int, a: float, b: float) -> tuple[int, int]:
    return int(a * num_frames), int(b * num_frames)


def embedded_span(num_frames: int, split: str) -> tuple[int, int]:
    return time_span(num_frames, *EMBEDDED_SPANS[split])


def role_span(num_frames: int, role: str, split: str) -> tuple[int, int] | None:
    """The frames `[lo, hi)` of a clip of `role` ("train" or "test") that `split` may use under the clip split;
    None when it gives it none."""
    wanted, a, b = CLIP_SPANS[split]
    return time_span(num_frames, a, b) if role == wanted else None


def clip_span(clip: Clip, split: str) -> tuple[int, int] | None:
    """`role_span` of a clip of the table, in its own role."""
    return role_span(clip.frames, clip.role, split)


def split_rule(split: str, embedded: bool) -> str:
    if embedded:
        a, b = EMBEDDED_SPANS[split]
        return f"time {a:.2f}-{b:.2f}"
    role, a, b = CLIP_SPANS[split]
    return "clip:test" if role == "test" else f"clip:{role} time {a:.2f}-{b:.2f}"


def allocate(n: int, weights: Mapping[str, float], max_share: float = 1.0) -> list[str]:
    """The clip of each of `n` items: shares proportional to `weights`, none above `max_share` of the items (the
    rest is shared out among the others; raised to 1/len when that many clips cannot carry it all), counts by
    largest remainder, and the clips interleaved so that every stretch of items mixes them."""
    names = [name for name, w in weights.items() if w > 0]
    if n == 0:
        return []
    if not names:
        raise ValueError("no clip can give this split an item")
    cap = max(max_share, 1.0 / len(names))
    share: dict[str, float] = {}
    free, left = list(names), 1.0
    while free:
        total = sum(weights[k] for k in free)
        over = [k for k in free if left * weights[k] / total > cap + 1e-12]
        if not over:
            share.update({k: left * weights[k] / total for k in free})
            break
        for k in over:
            share[k] = cap
            free.remove(k)
            left -= cap
    raw = {k: n * share[k] for k in names}
    counts = {k: math.floor(raw[k]) for k in names}
    for k in sorted(names, key=lambda k: (counts[k] - raw[k], names.index(k)))[:n - sum(counts.values())]:
        counts[k] += 1
    slots = sorted(((j + 0.5) / counts[k], names.index(k), k) for k in names for j in range(counts[k]))
    return [k for _, _, k in slots]
