"""Faces followed through a video: choose a face per frame, fill short gaps, smooth, crop to one size.

Works on the frames kept for output, in order (a "slot" is a position in that list):
1. choose: the largest face where the track (re)starts, then the face nearest the previous choice. A face
   farther than `max_jump` face sides away, or of less than half / more than twice the size, is another face
   (or a false detection) and counts as none. `follow_faces` instead keeps a track for every face (each
   detection joins the nearest track it is the same face as, or starts one), for videos with several people.
2. fill: a run of up to `max_gap` slots without a face is interpolated linearly between its neighbours (held at
   the ends). A longer run is filled the same way but every slot in it is *missed*: counted and listed, never
   dropped, so the frames stay consecutive for the temporal model.
3. smooth: a Gaussian over time (zero-phase, so the crop does not lag behind the head).
4. crop: a square grown by `margin` x side on each side, shifted inside the frame, resized to `size` x `size`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import cv2
import numpy as np
from scipy.ndimage import gaussian_filter1d

from lab.errors import DataError
from lab.data.faces import Box, FaceDetector, largest

Crop = tuple[int, int, int, int]  # (x0, y0, x1, y1), end-exclusive

MAX_GAP = 5  # slots without a face that are interpolated rather than marked missed
SMOOTHING_SIGMA = 2.0  # slots
MAX_JUMP = 1.0  # face sides the centre may move from one chosen face to the next
MIN_TRACK_SHARE = 0.25  # follow_faces: a track needs a detected face in this share of the slots to be kept


def _same_face(face: Box, previous: Box, max_jump: float) -> bool:
    distance = float(np.hypot(face[0] - previous[0], face[1] - previous[1]))
    return distance <= max_jump * previous[2] and 0.5 <= face[2] / previous[2] <= 2.0


def choose_faces(detections: Sequence[Sequence[Box]], max_gap: int = MAX_GAP,
                 max_jump: float = MAX_JUMP) -> list[Box | None]:
    """One face (or None) per slot from every slot's detections. The track restarts on the largest face
    at the first detection and after more than `max_gap` slots without an accepted face."""
    chosen: list[Box | None] = []
    previous, since = None, 0
    for faces in detections:
        pick = None
        if faces:
            if previous is None or since > max_gap:
                pick = largest(faces)
            else:
                nearest = min(faces, key=lambda f: (f[0] - previous[0]) ** 2 + (f[1] - previous[1]) ** 2)
                pick = nearest if _same_face(nearest, previous, max_jump) else None
        if pick is None:
            since += 1
        else:
            previous, since = pick, 0
        chosen.append(pick)
    return chosen


def follow_faces(detections: Sequence[Sequence[Box]], max_gap: int = MAX_GAP, max_jump: float = MAX_JUMP,
                 min_share: float = MIN_TRACK_SHARE) -> tuple[list[list[Box | None]], int]:
    """`(tracks, dropped)`: one face (or None) per slot for every face seen. In each slot, detections join
    the open tracks they are the same face as, nearest pairs first; the rest start tracks. A track closes after
    more than `max_gap` slots without a face. Tracks with a face in fewer than `min_share` of the slots
    (passers-by, false detections) are dropped and counted. The rest are ordered by slots with a face, then
    mean size (largest first), then first position from the left, so the order is the same on every run."""
    tracks: list[list[Box | None]] = []
    last: list[tuple[int, Box]] = []  # per track: (slot of its latest face, that face)
    for slot, faces in enumerate(detections):
        open_ = [t for t, (seen, _) in enumerate(last) if slot - seen - 1 <= max_gap]
        pairs = sorted((np.hypot(f[0] - last[t][1][0], f[1] - last[t][1][1]), t, i)
                       for t in open_ for i, f in enumerate(faces) if _same_face(f, last[t][1], max_jump))
        taken_tracks, taken_faces = set(), set()
        for _, t, i in pairs:
            if t not in taken_tracks and i not in taken_faces:
                taken_tracks.add(t)
                taken_faces.add(i)
                tracks[t].append(faces[i])
                last[t] = (slot, faces[i])
        for t in range(len(tracks)):
            if t not in taken_tracks:
                tracks[t].append(None)
        for i, face in enumerate(faces):
            if i not in taken_faces:
                tracks.append([None] * slot + [face])
                last.append((slot, face))
    needed = max(1, int(np.ceil(min_share * len(detections))))
    kept = [t for t in tracks if sum(b is not None for b in t) >= needed]

    def order(track: list[Box | None]) -> tuple:
        boxes = [b for b in track if b is not None]
        return (-len(boxes), -float(np.mean([b[2] for b in boxes])), boxes[0][0])

    return sorted(kept, key=order), len(tracks) - len(kept)


def _runs_of_none(boxes: Sequence[Box | None]) -> list[tuple[int, int]]:
    """`[start, end)` of every run of consecutive None."""
    runs, start = [], None
    for i, box in enumerate([*boxes, (0.0, 0.0, 0.0)]):  # a sentinel closes a trailing run
        if box is None and start is None:
            start = i
        elif box is not None and start is not None:
            runs.append((start, i))
            start = None
    return runs


def fill_gaps(boxes: Sequence[Box | None], max_gap: int = MAX_GAP) -> tuple[np.ndarray, list[int], int]:
    """`(filled (n, 3) boxes, missed slots, interpolated count)`. Needs at least one face."""
    known = [i for i, b in enumerate(boxes) if b is not None]
    if not known:
        raise ValueError("fill_gaps needs at least one face")
    values = np.asarray([boxes[i] for i in known], dtype=np.float64)
    slots = np.arange(len(boxes))
    filled = np.stack([np.interp(slots, known, values[:, j]) for j in range(3)], axis=1)  # ends are held
    missed, interpolated = [], 0
    for start, end in _runs_of_none(boxes):
        if end - start <= max_gap:
            interpolated += end - start
        else:
            missed.extend(range(start, end))
    return filled, missed, interpolated


def smooth_track(boxes: np.ndarray, sigma: float = SMOOTHING_SIGMA) -> np.ndarray:
    """Gaussian smoothing over time of `(n, 3)` boxes (edges repeat the end boxes)."""
    return gaussian_filter1d(boxes, sigma, axis=0, mode="nearest") if sigma > 0 and len(boxes) > 1 else boxes


def crop_for(box: Box, margin: float, width: int, height: int) -> Crop:
    """Square crop around `box` grown by `margin` x side on each side, shifted (not clipped) to lie
    inside the `width` x `height` frame; capped at the frame's shorter side."""
    cx, cy, side = box
    side = max(1, int(round(min(side * (1 + 2 * margin), width, height))))
    x0 = int(round(min(max(cx - side / 2, 0), width - side)))
    y0 = int(round(min(max(cy - side / 2, 0), height - side)))
    return (x0, y0, x0 + side, y0 + side)


@dataclass(frozen=True)
class FaceTrack:
    crops: list[Crop]  # one per slot
    size: int  # every crop is resized to size x size
    detected: int  # slots where the chosen face was detected
    interpolated: int  # slots filled from neighbours within max_gap
    missed: tuple[int, ...]  # slots in longer runs without a face (cropped along the line, and marked)

    def apply(self, frame_rgb: np.ndarray, slot: int) -> np.ndarray:
        """The `slot`-th crop of an RGB `(H, W, 3)` frame -> `(size, size, 3)`."""
        return crop_resize(frame_rgb, self.crops[slot], self.size)


def crop_resize(frame: np.ndarray, crop: Crop, size: int) -> np.ndarray:
    """The square `crop` (x0, y0, x1, y1) of `frame`, resized to `size` x `size`: area averaging when it shrinks,
    bilinear when it grows, untouched when it is that size already."""
    x0, y0, x1, y1 = crop
    out = frame[y0:y1, x0:x1]
    if out.shape[0] != size:
        shrink = out.shape[0] > size
        out = cv2.resize(out, (size, size), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    return out


def track_from(chosen: Sequence[Box | None], width: int, height: int, *, margin: float = 0.25,
               size: int | None = None, max_gap: int = MAX_GAP, sigma: float = SMOOTHING_SIGMA) -> FaceTrack:
    """Steps 2-4 for one face per slot (None where it was not seen) in a `width` x `height` video. `size` None
    = the median crop side."""
    if margin < 0 or max_gap < 0:
        raise ValueError(f"need margin >= 0 and max_gap >= 0, got {margin}, {max_gap}")
    filled, missed, interpolated = fill_gaps(chosen, max_gap)
    crops = [crop_for(tuple(b), margin, width, height) for b in smooth_track(filled, sigma)]
    side = size if size is not None else int(np.median([c[2] - c[0] for c in crops]))
    return FaceTrack(crops, side, sum(c is not None for c in chosen), interpolated, tuple(missed))


def build_track(detections: Sequence[Sequence[Box]], width: int, height: int, *, margin: float = 0.25,
                size: int | None = None, max_gap: int = MAX_GAP, sigma: float = SMOOTHING_SIGMA) -> FaceTrack:
    """Steps 1-4 over every slot's detections in a `width` x `height` video: the largest face's track."""
    return track_from(choose_faces(detections, max_gap), width, height, margin=margin, size=size, max_gap=max_gap,
                      sigma=sigma)


def detect_faces(source, indices: Sequence[int], detector: FaceDetector) -> tuple[list[list[Box]], int, int]:
    """`(detections per kept frame, width, height)` for the frames `indices` (ascending) of a `FrameSource`, in
    one streaming pass. Raises DataError when no kept frame has a face."""
    wanted = set(indices)
    detections: list[list[Box]] = []
    width = height = 0
    if wanted:
        for index, frame in enumerate(source.iter_frames()):
            if index in wanted:
                height, width = frame.shape[:2]
                detections.append(detector.detect(frame))
                if len(detections) == len(wanted):
                    break
    if not any(detections):
        raise DataError(f"no face found by the {detector.name} detector in any of the {len(detections)} frames",
                        source.path, "extract without face cropping, try another detector, or drop it")
    return detections, width, height


def track_faces(source, indices: Sequence[int], detector: FaceDetector, *, margin: float = 0.25,
                size: int | None = None, max_gap: int = MAX_GAP) -> FaceTrack:
    """The largest face's track over the frames `indices` of a `FrameSource` (DataError when none has a face)."""
    detections, width, height = detect_faces(source, indices, detector)
    return build_track(detections, width, height, margin=margin, size=size, max_gap=max_gap)


def track_all_faces(source, indices: Sequence[int], detector: FaceDetector, *, margin: float = 0.25,
                    size: int | None = None, max_gap: int = MAX_GAP) -> tuple[list[FaceTrack], int]:
    """`(one track per face, tracks dropped as too short)` over the frames `indices` of a `FrameSource`, in
    `follow_faces`' order. DataError when no kept frame has a face, or no face stays long enough."""
    detections, width, height = detect_faces(source, indices, detector)
    chosen, dropped = follow_faces(detections, max_gap)
    if not chosen:
        raise DataError(f"no face was seen in {MIN_TRACK_SHARE:.0%} of the {len(detections)} frames "
                        f"({dropped} short track(s))", source.path, "try another detector, or drop the video")
    return [track_from(c, width, height, margin=margin, size=size, max_gap=max_gap) for c in chosen], dropped
