"""dlib's 68 facial landmarks on every frame of a talking-head clip, computed once per clip and cached.

Detection: dlib's HOG detector on each frame (upsampled once for frames under SMALL_FRAME px high, whose faces are
below the ~80 px its window needs), taking the face nearest the previous one (the largest at first). Where HOG
finds none, dlib's MMOD CNN looks in a square of ROI_FACES face widths around the nearest face found, scaled so that
face is CNN_FACE_PX wide (its smallest face is ~80 px). On movie-hello HOG misses about a quarter of the frames
(head tilted down, glasses, headset) and the CNN finds them at ~0.2 s each; feeding the predictor the previous
frame's box instead is not good enough (the points slide down the face). Runs of up to MAX_GAP frames with no face
are interpolated; longer runs stay missing, and a window that needs one of their frames is not used: the generator
counts and reports it.

Tracks are cached in `<cache>/landmarks/`, keyed by the clip's and both models' SHA-256 and this policy.
"""
from __future__ import annotations

import functools
import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from lab.data.clips import clip_digest
from lab.data.faces import load_dlib_detector
from lab.errors import DataError
from lab.fetch.cache import cache_root, require
from lab.fetch.pins import DLIB
from lab.outputs import write_bytes

PREDICTOR = "shape_predictor_68_face_landmarks.dat"
CNN_DETECTOR = "mmod_human_face_detector.dat"
SMALL_FRAME = 300  # px high: HOG upsamples such frames once
ROI_FACES = 2.4
CNN_FACE_PX = 100
MAX_GAP = 2
POLICY = f"hog<{SMALL_FRAME}:up1|mmod-roi:{ROI_FACES}x{CNN_FACE_PX}|gap:{MAX_GAP}|v1"

MISSING, HOG, CNN, INTERPOLATED = 0, 1, 2, 3  # how each frame's points were found


@dataclass(frozen=True)
class Landmarks:
    """One clip's track: `points` (T, 68, 2) float32 in frame pixels (NaN where missing), `how` (T,) uint8."""

    points: np.ndarray
    how: np.ndarray

    @property
    def found(self) -> np.ndarray:
        return self.how != MISSING

    def usable_starts(self, lo: int, hi: int, length: int) -> list[int]:
        """Starts of `length`-frame windows inside `[lo, hi)` whose every frame has points."""
        ok = self.found
        return [s for s in range(lo, hi - length + 1) if ok[s:s + length].all()]


@functools.lru_cache(maxsize=2)
def _load(predictor_path: str, cnn_path: str):
    import dlib

    return dlib.shape_predictor(predictor_path), dlib.cnn_face_detection_model_v1(cnn_path)


def load_models():
    """(HOG detector, 68-point predictor, MMOD CNN), the model files verified first (a one-line error naming
    `lab weights fetch dlib` when missing or corrupt)."""
    predictor, cnn = _load(str(require(DLIB, PREDICTOR)), str(require(DLIB, CNN_DETECTOR)))
    return load_dlib_detector(), predictor, cnn


def _centre(rect) -> tuple[float, float]:
    return (rect.left() + rect.right()) / 2, (rect.top() + rect.bottom()) / 2


def _pick(rects, previous):
    """The largest face, or the one nearest `previous` when there is one."""
    if not rects:
        return None
    if previous is None:
        return max(rects, key=lambda r: r.area())
    px, py = _centre(previous)
    return min(rects, key=lambda r: (_centre(r)[0] - px) ** 2 + (_centre(r)[1] - py) ** 2)


def _cnn_near(cnn, rgb: np.ndarray, around):
    """The CNN's most confident face in a square of ROI_FACES face widths around `around`, in frame pixels."""
    import dlib

    height, width = rgb.shape[:2]
    side = max(around.width(), around.height())
    cx, cy = _centre(around)
    half = ROI_FACES * side / 2
    x0, y0 = int(max(0, cx - half)), int(max(0, cy - half))
    x1, y1 = int(min(width, cx + half)), int(min(height, cy + half))
    scale = CNN_FACE_PX / side
    roi = cv2.resize(rgb[y0:y1, x0:x1], None, fx=scale, fy=scale,
                     interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    found = cnn(np.ascontiguousarray(roi), 0)
    if not len(found):
        return None
    r = max(found, key=lambda d: d.confidence).rect
    return dlib.rectangle(int(x0 + r.left() / scale), int(y0 + r.top() / scale), int(x0 + r.right() / scale),
                          int(y0 + r.bottom() / scale))


def _fill_gaps(points: np.ndarray, how: np.ndarray) -> None:
    """Interpolate runs of up to MAX_GAP missing frames between found ones, in place."""
    found = np.flatnonzero(how != MISSING)
    for a, b in zip(found, found[1:]):
        if 1 < b - a <= MAX_GAP + 1:
            for t in range(a + 1, b):
                w = (t - a) / (b - a)
                points[t] = (1 - w) * points[a] + w * points[b]
                how[t] = INTERPOLATED


def detect_landmarks(frames: np.ndarray) -> Landmarks:
    """The track of uint8 (T, H, W, 3) RGB frames (not cached: see `clip_landmarks`)."""
    detector, predictor, cnn = load_models()
    upsample = 1 if frames.shape[1] < SMALL_FRAME else 0
    greys = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames]
    rects: list = [None] * len(frames)
    how = np.zeros(len(frames), np.uint8)
    last = None
    for t, grey in enumerate(greys):  # forward: HOG, and the CNN near the last face where HOG misses
        rects[t] = _pick(list(detector(grey, upsample)), last)
        how[t] = HOG if rects[t] is not None else MISSING
        if rects[t] is None and last is not None:
            rects[t] = _cnn_near(cnn, frames[t], last)
            how[t] = CNN if rects[t] is not None else MISSING
        last = rects[t] or last
    first = next((t for t, r in enumerate(rects) if r is not None), None)
    for t in range(first - 1, -1, -1) if first else ():  # backward over the frames before the first face
        rects[t] = _cnn_near(cnn, frames[t], rects[t + 1])
        if rects[t] is None:
            break
        how[t] = CNN
    points = np.full((len(frames), 68, 2), np.nan, np.float32)
    for t, rect in enumerate(rects):
        if rect is not None:
            shape = predictor(greys[t], rect)
            points[t] = [(shape.part(i).x, shape.part(i).y) for i in range(68)]
    _fill_gaps(points, how)
    return Landmarks(points, how)


def _cache_file(name: str) -> Path:
    models = "".join(DLIB.pin(f).sha256 for f in (PREDICTOR, CNN_DETECTOR))
    key = hashlib.sha256(f"{clip_digest(name)}|{models}|{POLICY}".encode()).hexdigest()[:16]
    return cache_root() / "landmarks" / f"{name}-{key}.npz"


def clip_landmarks(name: str, frames: np.ndarray) -> Landmarks:
    """The track of clip `name` (whose decoded frames are `frames`), from the cache or computed and cached."""
    path = _cache_file(name)
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as stored:
                track = Landmarks(stored["points"], stored["how"])
            if track.points.shape == (len(frames), 68, 2):
                load_models()  # the models are still checked: a track is only as good as the models behind it
                return track
        except (OSError, ValueError, KeyError):
            pass  # unreadable: computed again and replaced below
    track = detect_landmarks(frames)
    if not track.found.any():
        raise DataError("no face found in any frame", name, "use a clip that shows a face")
    buffer = io.BytesIO()
    np.savez_compressed(buffer, points=track.points, how=track.how)
    write_bytes(path, buffer.getvalue())
    return track
