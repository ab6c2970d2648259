"""From window scores to one video score: mean, majority vote, or "confident" (trust the strongest windows)."""
from __future__ import annotations

import numpy as np

STRATEGIES = ("mean", "vote", "confident")


def video_score(window_probs, strategy: str, threshold: float, confident_fraction: float = 0.25) -> float:
    """P(fake)-like score of one video from its windows' P(fake).

    mean:      the average window probability.
    vote:      the fraction of windows at or above `threshold` (a video is fake when most windows say so).
    confident: the average of the `confident_fraction` windows furthest from the threshold, so a few
               clearly manipulated windows are not drowned by many uncertain ones. Windows tied at the cut
               are all kept, so the score never depends on the order of the windows.
    """
    p = np.asarray(window_probs, dtype=float)
    if p.size == 0:
        raise ValueError("a video needs at least one scored window")
    if strategy == "mean":
        return float(p.mean())
    if strategy == "vote":
        return float((p >= threshold).mean())
    if strategy == "confident":
        k = max(1, int(round(confident_fraction * p.size)))
        distance = np.abs(p - threshold)
        cut = np.sort(distance)[::-1][k - 1]
        return float(np.sort(p[distance >= cut]).mean())  # sorted: the same sum whatever the window order
    raise ValueError(f"unknown aggregation {strategy!r}; choose one of {', '.join(STRATEGIES)}")


def frame_scores(starts, timelines, num_frames: int | None = None, first_step: int = 0) -> np.ndarray:
    """Per-frame P(fake): for each frame, the mean of the per-timestep P(fake) of every window covering it
    at a step >= `first_step` (a step that has seen enough of its window: `SequenceConfig.first_scored_step`).

    `starts[i]` is window i's first frame and `timelines[i]` its (T,) per-timestep scores (NaN: not scored).
    Frames no such
    step covers (the first `first_step` frames of an item, or gaps) are NaN; `num_frames` cuts off steps that
    only a padded window reached."""
    length = max([num_frames or 0] + [s + len(t) for s, t in zip(starts, timelines)])
    total, count = np.zeros(length), np.zeros(length)
    for start, timeline in zip(starts, timelines):
        used = np.asarray(timeline, dtype=float)[first_step:]
        span = slice(start + first_step, start + first_step + len(used))
        total[span] += np.nan_to_num(used)
        count[span] += np.isfinite(used)  # NaN steps (not scored) cover nothing
    with np.errstate(invalid="ignore"):
        return (total / count)[:length if num_frames is None else num_frames]


def decision_threshold(strategy: str, threshold: float) -> float:
    """The cut applied to `video_score`: a vote is won by a majority, the others use the clip threshold."""
    return 0.5 if strategy == "vote" else threshold
