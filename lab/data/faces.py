"""Face tracking for frame extraction: the largest Haar-cascade face per frame, smoothed over time.

Boxes are `(cx, cy, side)` squares while tracking and `(x0, y0, x1, y1)` pixel crops at the end.
Every crop of one video is square and resized to one side length, so the frame folder it produces
has a single frame size (which `lab.data.video.FrameFolder` requires).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Sequence

import cv2
import numpy as np

from lab.errors import DataError

Box = tuple[float, float, float]  # (cx, cy, side) in pixels
Crop = tuple[int, int, int, int]  # (x0, y0, x1, y1), end-exclusive

CASCADE_FILE = "haarcascade_frontalface_default.xml"


@functools.lru_cache(maxsize=1)
def load_cascade() -> cv2.CascadeClassifier:
    """OpenCV's frontal-face cascade, loaded once per process (cv2 objects are never pickled)."""
    if not hasattr(cv2, "CascadeClassifier") or not hasattr(cv2, "data"):
        raise DataError("this OpenCV build has no Haar cascades: install opencv-python-headless>=4.8,<5")
    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + CASCADE_FILE)
    if cascade.empty():
        raise DataError(f"cannot load '{cv2.data.haarcascades + CASCADE_FILE}': reinstall opencv-python-headless")
    return cascade


def detect_largest_face(frame_rgb: np.ndarray, max_side: int = 640) -> Box | None:
    """The largest frontal face in an RGB `(H, W, 3)` frame as `(cx, cy, side)`, or None.
    Detection runs on a copy scaled so its longer side is at most `max_side` (speed)."""
    gray = cv2.cvtColor(frame_rgb, cv2.COLOR_RGB2GRAY)
    scale = min(1.0, max_side / max(gray.shape))
    if scale < 1.0:
        gray = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    faces = load_cascade().detectMultiScale(gray, scaleFactor=1.1, minNeighbors=5, minSize=(24, 24))
    if len(faces) == 0:
        return None
    x, y, w, h = max(faces, key=lambda f: f[2] * f[3])
    return ((x + w / 2) / scale, (y + h / 2) / scale, max(w, h) / scale)


def smooth_boxes(boxes: Sequence[Box | None], smoothing: float = 0.6) -> list[Box]:
    """Exponential moving average of centre and side (weight `smoothing` on the past), so crops
    do not jitter. A frame without a face reuses the running box; frames before the first face
    take the first face's box. Needs at least one face."""
    first = next((b for b in boxes if b is not None), None)
    if first is None:
        raise ValueError("smooth_boxes needs at least one detected face")
    state = np.asarray(first, dtype=np.float64)
    out = []
    for box in boxes:
        if box is not None:
            state = smoothing * state + (1.0 - smoothing) * np.asarray(box, dtype=np.float64)
        out.append((float(state[0]), float(state[1]), float(state[2])))
    return out


def crop_for(box: Box, margin: float, width: int, height: int) -> Crop:
    """Square crop around `box` grown by `margin` x side on each side, shifted (not clipped) to lie
    inside the `width` x `height` frame; capped at the frame's shorter side."""
    cx, cy, side = box
    side = int(round(min(side * (1 + 2 * margin), width, height)))
    x0 = int(round(min(max(cx - side / 2, 0), width - side)))
    y0 = int(round(min(max(cy - side / 2, 0), height - side)))
    return (x0, y0, x0 + side, y0 + side)


@dataclass(frozen=True)
class FaceTrack:
    crops: list[Crop]  # one per requested frame
    side: int  # every crop is resized to side x side
    frames_without_face: int

    def apply(self, frame_rgb: np.ndarray, slot: int) -> np.ndarray:
        """The `slot`-th crop of an RGB `(H, W, 3)` frame -> `(side, side, 3)`."""
        x0, y0, x1, y1 = self.crops[slot]
        crop = frame_rgb[y0:y1, x0:x1]
        if crop.shape[0] != self.side:
            crop = cv2.resize(crop, (self.side, self.side), interpolation=cv2.INTER_AREA)
        return crop


def track_faces(source, indices: Sequence[int], margin: float = 0.25, smoothing: float = 0.6) -> FaceTrack:
    """Detect and smooth the largest face on the frames `indices` of a `FrameSource` (one streaming
    pass). Raises DataError when no frame has a face."""
    if margin < 0:
        raise ValueError(f"face margin must be >= 0, got {margin}")
    wanted = set(indices)
    detections: list[Box | None] = []
    width = height = 0
    for index, frame in enumerate(source.iter_frames()):
        if index in wanted:
            height, width = frame.shape[:2]
            detections.append(detect_largest_face(frame))
        if len(detections) == len(wanted):
            break
    missing = sum(d is None for d in detections)
    if missing == len(detections):
        raise DataError(f"no face found in any of the {len(detections)} frames of '{source.path}': "
                        "extract without face_crop or drop this video")
    crops = [crop_for(b, margin, width, height) for b in smooth_boxes(detections, smoothing)]
    side = int(np.median([c[2] - c[0] for c in crops]))
    return FaceTrack(crops=crops, side=side, frames_without_face=missing)
