"""Shot cuts in a clip, and the frame ranges that lie inside one shot: a window of consecutive frames that spans
a cut is a temporal discontinuity no real camera made, so items never span one.

A cut is a frame that differs from the one before by far more than the clip's usual frame-to-frame change: the
mean absolute difference of 64x48 grey thumbnails above both MIN_CUT grey levels and CUT_FACTOR times the clip's
median difference. On the clips the project uses it finds bikes' five cuts, cityCC0's one and Megamind's three,
and none in the continuous shots.
"""
from __future__ import annotations

import cv2
import numpy as np

THUMB = (64, 48)
MIN_CUT = 20.0  # grey levels
CUT_FACTOR = 6.0


def shot_cuts(frames: np.ndarray) -> list[int]:
    """The frames that start a new shot (never 0) in uint8 `(T, H, W, 3)` RGB frames."""
    if len(frames) < 2:
        return []
    thumbs = np.stack([cv2.resize(cv2.cvtColor(f, cv2.COLOR_RGB2GRAY), THUMB, interpolation=cv2.INTER_AREA)
                       for f in frames]).astype(np.float32)
    change = np.abs(np.diff(thumbs, axis=0)).mean(axis=(1, 2))  # change[i]: frame i -> i + 1
    limit = max(MIN_CUT, CUT_FACTOR * float(np.median(change)))
    return [int(i) + 1 for i in np.flatnonzero(change > limit)]


def segments(lo: int, hi: int, cuts: list[int]) -> list[tuple[int, int]]:
    """`[lo, hi)` split at the cuts inside it: frame ranges `[a, b)` that each lie inside one shot."""
    edges = [lo, *[c for c in cuts if lo < c < hi], hi]
    return [(a, b) for a, b in zip(edges, edges[1:]) if b > a]


def window_count(spans: list[tuple[int, int]], need: int) -> int:
    """How many starts a window of `need` frames has inside the spans."""
    return sum(max(0, b - a - need + 1) for a, b in spans)


def draw_start(spans: list[tuple[int, int]], need: int, rng: np.random.Generator) -> int:
    """A uniformly drawn start of a `need`-frame window that lies inside one span (one integer drawn: over a
    single span this is `rng.integers(a, b - need + 1)`)."""
    total = window_count(spans, need)
    if total == 0:
        raise ValueError(f"no {need}-frame window fits {spans}")
    k = int(rng.integers(0, total))
    for a, b in spans:
        room = max(0, b - a - need + 1)
        if k < room:
            return a + k
        k -= room
    raise AssertionError("unreachable")
