"""One face-swap item: a window of a talking head cropped around the face (the real), and the same crop with a
source face swapped in on every frame (the fake), each frame done independently, as classical face swaps do.

The crop: a square around the face track smoothed over time (`lab.data.tracking`), fixed for the item's frames:
centred on the track's mean centre over the window, `1 + 2 * margin` times the largest face (the landmarks' box)
in it, shifted inside the frame, resized to `size`. The real and the fake of one window share it, and the swap is
done in the crop's pixels, so outside the fake's mask the two are identical.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from lab.data.faceswap.composite import BLENDS, COLOURS, composite
from lab.data.faceswap.warp import WARPS, outer_points, triangulate, warp_face
from lab.data.tracking import Crop, crop_for, crop_resize, smooth_track

ERODES: tuple[int, ...] = (0, 4, 8)  # px, at the item's size
BLURS: tuple[int, ...] = (0, 6, 12)
SMOOTHINGS: tuple[float, ...] = (1.0, 0.5)  # EMA weight of the newest landmarks; 1.0 = no smoothing


@dataclass(frozen=True)
class Variant:
    """How one fake is made: whose face, and the choices real face-swap methods differ in."""

    face_source: str  # the clip the face comes from, or "reenact": the same person at another moment
    warp: str
    colour: str
    blend: str
    erode: int
    blur: int
    smoothing: float

    def columns(self) -> dict:
        return asdict(self)


def draw_variant(rng: np.random.Generator, face_source: str) -> Variant:
    pick = (lambda options: options[int(rng.integers(len(options)))])
    return Variant(face_source, pick(WARPS), pick(COLOURS), pick(BLENDS), pick(ERODES), pick(BLURS),
                   pick(SMOOTHINGS))


def ema(points: np.ndarray, weight: float) -> np.ndarray:
    """Exponential moving average of (T, 68, 2) points over time; weight 1.0 returns them unchanged."""
    out = points.astype(np.float32).copy()
    for t in range(1, len(out)):
        out[t] = weight * points[t] + (1 - weight) * out[t - 1]
    return out


def face_boxes(points: np.ndarray) -> np.ndarray:
    """(T, 3) `(cx, cy, side)` of each frame's landmark box, missing frames interpolated from their neighbours."""
    lo, hi = points.min(1), points.max(1)
    boxes = np.concatenate([(lo + hi) / 2, (hi - lo).max(1, keepdims=True)], axis=1)
    known = np.flatnonzero(np.isfinite(boxes).all(1))
    return np.stack([np.interp(np.arange(len(boxes)), known, boxes[known, j]) for j in range(3)], axis=1)


def smoothed_boxes(points: np.ndarray) -> np.ndarray:
    """The clip's face track, smoothed over time (zero-phase Gaussian, as `lab extract --face-crop` does)."""
    return smooth_track(face_boxes(points))


def item_crop(boxes: np.ndarray, start: int, length: int, margin: float, width: int, height: int) -> Crop:
    """The crop box of the window `[start, start + length)` from the smoothed track `boxes`."""
    window = boxes[start:start + length]
    cx, cy = window[:, :2].mean(0)
    return crop_for((float(cx), float(cy), float(window[:, 2].max())), margin, width, height)


def crop_frames(frames: np.ndarray, crop: Crop, size: int) -> np.ndarray:
    return np.stack([crop_resize(f, crop, size) for f in frames])


def to_crop(points: np.ndarray, crop: Crop, size: int) -> np.ndarray:
    """Frame-pixel points in the crop's resized pixels (pixel centres mapped as cv2.resize maps them)."""
    x0, y0, x1, _ = crop
    scale = size / (x1 - x0)
    return ((points - np.float32([x0, y0]) + 0.5) * scale - 0.5).astype(np.float32)


def swap_window(target: np.ndarray, target_points: np.ndarray, source: np.ndarray, source_points: np.ndarray,
                variant: Variant) -> tuple[np.ndarray, np.ndarray]:
    """The fake of one window, frame by frame, and its masks.

    target: uint8 (T, S, S, 3) crops; target_points: (T, 68, 2) in crop pixels; source: uint8 (T, Hs, Ws, 3)
    frames the face comes from, source_points: (T, 68, 2) in their pixels. Returns the fakes (T, S, S, 3) and the
    supports (T, S, S) bool, outside which each fake equals its target exactly."""
    dst = ema(target_points, variant.smoothing)
    src = ema(source_points, variant.smoothing)
    triangles = triangulate(np.vstack([dst[0], outer_points(dst[0])])) if variant.warp == "delaunay" else None
    fakes = np.empty_like(target)
    supports = np.empty(target.shape[:3], bool)
    for t in range(len(target)):
        face = warp_face(source[t], src[t], dst[t], target.shape[1:3], variant.warp, triangles)
        fakes[t], supports[t] = composite(target[t], face, dst[t], erode=variant.erode, blur=variant.blur,
                                          colour=variant.colour, blend_method=variant.blend)
    return fakes, supports


def swap_item(target: np.ndarray, target_points: np.ndarray, boxes: np.ndarray, start: int, length: int,
              source: np.ndarray, source_points: np.ndarray, source_start: int, variant: Variant, size: int,
              margin: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, Crop]:
    """The real and fake of the target window `[start, start + length)`: (real, fake, masks, crop box).

    target, source: a clip's uint8 (T, H, W, 3) frames; *_points: their (T, 68, 2) landmarks; boxes: the
    target's smoothed face track; the face comes from the source's window at `source_start`."""
    height, width = target.shape[1:3]
    crop = item_crop(boxes, start, length, margin, width, height)
    window = slice(start, start + length)
    real = crop_frames(target[window], crop, size)
    faces = slice(source_start, source_start + length)
    fake, masks = swap_window(real, to_crop(target_points[window], crop, size), source[faces], source_points[faces],
                              variant)
    return real, fake, masks, crop
