"""Perturbations of whole clips, the degradations videos meet after they are made: H.264 re-encoding, JPEG,
downscaling, Gaussian blur, sensor noise and a halved frame rate. Used by the robustness sweep
(`lab.experiments.robustness`) at fixed severities and by training-time augmentation (`ClipH264` and friends in
`lab.data.transforms`) at drawn ones.

Every function takes and returns uint8 RGB frames `(T, H, W, 3)`; only `drop_frames` changes T, nothing changes
H or W. A clip is perturbed as one video, not frame by frame where that matters: H.264 codes the frames
together (P/B-frames predict from their neighbours), so its artefacts are temporal, like a re-upload's.
"""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import cv2
import numpy as np

from lab.errors import DataError


def h264_reencode(frames: np.ndarray, crf: int, *, fps: float = 25.0, preset: str = "veryfast",
                  tmp_dir: str | Path | None = None) -> np.ndarray:
    """Encode the clip as H.264 (libx264 through PyAV, B-frames, yuv420p) at quality `crf` into a temporary .mp4
    and decode it again with OpenCV, as evaluation reads videos. Odd sizes are padded by edge replication to the
    even size 4:2:0 needs and cropped back, so the shape is kept."""
    from lab.data.video import write_h264

    frames = _check(frames)
    if not 0 <= int(crf) <= 51:
        raise ValueError(f"CRF must be in [0, 51], got {crf}")
    count, height, width = frames.shape[:3]
    padded = np.pad(frames, ((0, 0), (0, height % 2), (0, width % 2), (0, 0)), mode="edge")
    fd, name = tempfile.mkstemp(suffix=".mp4", dir=tmp_dir)
    os.close(fd)
    path = Path(name)
    try:
        write_h264(path, padded, fps=fps, crf=int(crf), preset=preset)
        cap = cv2.VideoCapture(str(path))
        try:
            decoded = []
            while len(decoded) <= count:
                ok, frame = cap.read()
                if not ok:
                    break
                decoded.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
        finally:
            cap.release()
    finally:
        path.unlink(missing_ok=True)
    if len(decoded) != count:  # pragma: no cover - libx264 and OpenCV's FFmpeg agree on frame counts
        raise DataError(f"{len(decoded)} frames decoded after H.264 re-encoding, {count} encoded", path,
                        "report this: the encoder or decoder dropped frames")
    return np.stack(decoded)[:, :height, :width]


def jpeg(frames: np.ndarray, quality: int) -> np.ndarray:
    """Every frame JPEG-compressed at `quality` (1-100) with OpenCV."""
    frames = _check(frames)
    out = np.empty_like(frames)
    for i, frame in enumerate(frames):
        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
        if not ok:  # pragma: no cover - OpenCV always encodes uint8 RGB
            raise RuntimeError("cv2.imencode failed on a frame")
        out[i] = cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    return out


def downscale(frames: np.ndarray, factor: float) -> np.ndarray:
    """Shrink every frame by `factor` (0 < factor <= 1; area interpolation) and scale it back up (bilinear):
    the detail a low-resolution upload loses, at the original size."""
    frames = _check(frames)
    if not 0 < factor <= 1:
        raise ValueError(f"downscale factor must be in (0, 1], got {factor}")
    height, width = frames.shape[1:3]
    small = (max(1, round(width * factor)), max(1, round(height * factor)))
    return np.stack([cv2.resize(cv2.resize(f, small, interpolation=cv2.INTER_AREA), (width, height),
                                interpolation=cv2.INTER_LINEAR) for f in frames])


def blur(frames: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of every frame, standard deviation `sigma` pixels (0: unchanged)."""
    frames = _check(frames)
    if sigma < 0:
        raise ValueError(f"blur sigma must be >= 0, got {sigma}")
    if sigma == 0:
        return frames.copy()
    return np.stack([cv2.GaussianBlur(f, (0, 0), sigmaX=float(sigma)) for f in frames])


def noise(frames: np.ndarray, sigma: float, rng: np.random.Generator | int | None = 0) -> np.ndarray:
    """Additive Gaussian noise of standard deviation `sigma` grey levels, independent per pixel and frame,
    rounded and clipped to uint8. `rng` (a Generator or a seed) makes it repeatable."""
    frames = _check(frames)
    if sigma < 0:
        raise ValueError(f"noise sigma must be >= 0, got {sigma}")
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    noisy = frames.astype(np.float32) + rng.normal(0.0, float(sigma), frames.shape).astype(np.float32)
    return np.clip(np.rint(noisy), 0, 255).astype(np.uint8)


def drop_frames(frames: np.ndarray, step: int = 2) -> np.ndarray:
    """Keep every `step`-th frame (0, step, 2*step, ...): step 2 halves the frame rate, so a clip of T frames
    becomes ceil(T / 2) frames covering the same time."""
    frames = _check(frames)
    if int(step) < 1:
        raise ValueError(f"frame step must be >= 1, got {step}")
    return frames[::int(step)].copy()


@dataclass(frozen=True)
class Perturbation:
    """One kind of degradation: `apply(frames, severity, seed)`, its default severities from mild to harsh, and
    what a severity means."""

    name: str
    apply: Callable[[np.ndarray, float, int], np.ndarray]
    severities: tuple[float, ...]
    unit: str
    temporal: bool = False  # changes the frame count (applied to whole items, before windowing)

    def __call__(self, frames: np.ndarray, severity: float, seed: int = 0) -> np.ndarray:
        return self.apply(frames, severity, seed)


PERTURBATIONS: dict[str, Perturbation] = {p.name: p for p in (
    Perturbation("h264", lambda f, s, _: h264_reencode(f, int(s)), (23, 28, 35, 40), "CRF"),
    Perturbation("jpeg", lambda f, s, _: jpeg(f, int(s)), (90, 70, 50, 30), "quality"),
    Perturbation("downscale", lambda f, s, _: downscale(f, float(s)), (0.75, 0.5, 0.25), "scale"),
    Perturbation("blur", lambda f, s, _: blur(f, float(s)), (0.5, 1.0, 2.0), "sigma (px)"),
    Perturbation("noise", lambda f, s, seed: noise(f, float(s), seed), (2.0, 5.0, 10.0, 20.0), "sigma (grey levels)"),
    Perturbation("fps", lambda f, s, _: drop_frames(f, int(s)), (2,), "keep every n-th frame", temporal=True),
)}


def perturbation(name: str) -> Perturbation:
    if name not in PERTURBATIONS:
        raise DataError(f"unknown perturbation {name!r}", "--severities",
                        f"use one of {', '.join(PERTURBATIONS)}")
    return PERTURBATIONS[name]


def check_severity(name: str, severity: float) -> None:
    """A DataError naming the perturbation unless `severity` is in its range."""
    ranges = {"h264": (0, 51), "jpeg": (1, 100), "downscale": (1e-6, 1.0), "blur": (0.0, 1e3), "noise": (0.0, 255.0),
              "fps": (1, 1e6)}
    lo, hi = ranges[perturbation(name).name]
    integral = name in ("h264", "jpeg", "fps")
    if not lo <= severity <= hi or (integral and float(severity) != int(severity)):
        kind = "an integer" if integral else "a number"
        raise DataError(f"severity {severity!r} is outside what {name} takes", "--severities",
                        f"give {kind} in [{lo:g}, {hi:g}] ({perturbation(name).unit})")


def parse_severities(specs: Sequence[str]) -> dict[str, tuple[float, ...]]:
    """`["h264=23,40", "blur=1"]` -> {"h264": (23.0, 40.0), "blur": (1.0,)}: the `--severities` flag."""
    out: dict[str, tuple[float, ...]] = {}
    for spec in specs:
        name, sep, values = spec.partition("=")
        if not sep or not values.strip():
            raise DataError(f"{spec!r} is not NAME=S1,S2,...", "--severities", "e.g. --severities h264=23,40 blur=1")
        try:
            levels = tuple(float(v) for v in values.split(","))
        except ValueError:
            raise DataError(f"{values!r} are not numbers", "--severities", "e.g. --severities h264=23,40") from None
        for level in levels:
            check_severity(name.strip(), level)
        out[name.strip()] = levels
    return out


def _check(frames: np.ndarray) -> np.ndarray:
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames must be uint8 (T, H, W, 3), got {frames.dtype} {frames.shape}")
    return np.ascontiguousarray(frames)


# ------------------------------------------------------------------------------------------ whole splits

CHUNK_FRAMES = 240  # frames perturbed at once: bounds memory on long videos (H.264 restarts its GOP per chunk)


def perturb_item(source: str | Path, out_folder: str | Path, name: str, severity: float, seed: int = 0,
                 chunk: int = CHUNK_FRAMES) -> int:
    """Decode one item (video or frame folder) with OpenCV, perturb it as one clip, chunk by chunk, and write it
    as a folder of lossless PNG frames (so nothing but the perturbation touches it). Returns the frames written."""
    from lab.data.video import open_item, write_image

    pert = perturbation(name)
    step = int(severity) if pert.temporal else 1
    chunk = max(step, chunk - chunk % step)  # whole steps per chunk: frame dropping stays aligned across chunks
    out = Path(out_folder)
    out.mkdir(parents=True, exist_ok=False)
    written, buffer, index = 0, [], 0
    frames = open_item(source).iter_frames()
    while True:
        frame = next(frames, None)
        if frame is not None:
            buffer.append(frame)
        if buffer and (frame is None or len(buffer) == chunk):
            for done in pert(np.stack(buffer), severity, seed + index):
                written += 1
                write_image(out / f"frame_{written:05d}.png", done)
            buffer, index = [], index + 1
        if frame is None:
            return written


def item_seed(item: str, severity: float) -> int:
    """A seed for one item and severity, the same on every machine and run (noise is repeatable)."""
    import zlib

    return zlib.crc32(f"{item}|{severity!r}".encode())
