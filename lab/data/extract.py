"""Frame extraction: a video's frames written as images (`lab extract`, the seed's `extract_frames`), optionally
resampled to a frame rate and cropped to one tracked face."""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from lab.data.video import IMAGE_EXTS, VideoFile, list_frames, write_image
from lab.errors import DataError, StorageError


@dataclass(frozen=True)
class ExtractResult:
    paths: list[Path]
    source_fps: float | None
    faces_interpolated: int = 0  # face_crop only: frames whose box came from neighbours within max_gap
    faces_missed: int = 0  # face_crop only: frames in longer runs without a face (written, and counted)


def subsample_indices(num_frames: int, source_fps: float | None, fps: float | None) -> list[int]:
    """Frame indices that resample `num_frames` at `source_fps` to `fps`: the first frame of every
    1/fps interval. None (or fps >= source_fps) keeps every frame."""
    if fps is None:
        return list(range(num_frames))
    if fps <= 0:
        raise ValueError(f"fps must be positive or None, got {fps}")
    if source_fps is None:
        raise ValueError("cannot resample a video without a frame rate")
    if fps >= source_fps:
        return list(range(num_frames))
    ratio = fps / source_fps
    return [i for i in range(num_frames) if i == 0 or math.floor(i * ratio + 1e-9) != math.floor((i - 1) * ratio + 1e-9)]


def extract_frames(
    video_path: str | Path,
    output_dir: str | Path,
    fps: float | None = None,
    *,
    face_crop: bool = False,
    face_margin: float = 0.25,
    detector: str = "dlib",
    image_format: str = "jpg",
    overwrite: bool = False,
) -> ExtractResult:
    """Write a video's frames as `output_dir/frame_0001.jpg ...` (1-based, natural order).

    `fps` subsamples to that rate (None = every frame). `face_crop` follows one face found by `detector`
    (`dlib` HOG or `haar`), grown by `face_margin` on each side and smoothed over time (see
    `lab.data.tracking`); every crop has the median crop's size. An `output_dir` that
    already holds frame images is an error unless `overwrite`, which deletes its `frame_*` images first.
    """
    video_path, output_dir = Path(video_path), Path(output_dir)
    suffix = "." + image_format.lower().lstrip(".")
    if suffix not in IMAGE_EXTS:
        raise ValueError(f"image_format must be one of {sorted(e[1:] for e in IMAGE_EXTS)}, got {image_format!r}")
    source = VideoFile(video_path)
    if fps is not None and source.fps is None:
        raise DataError("video reports no frame rate, so it cannot be resampled", video_path,
                        "extract every frame (leave out --fps)")
    keep = subsample_indices(source.num_frames, source.fps, fps)
    existing = [p for p in list_frames(output_dir) if p.name.startswith("frame_")] if output_dir.is_dir() else []
    if existing and not overwrite:
        raise StorageError(f"folder already holds {len(existing)} frame images", output_dir,
                           "choose another folder, or pass --overwrite (overwrite=True) to replace them")
    track = None
    if face_crop:  # before touching output_dir, so a video without faces leaves it as it was
        from lab.data.faces import make_detector  # only face cropping needs a detector
        from lab.data.tracking import track_faces

        track = track_faces(source, keep, make_detector(detector), margin=face_margin)

    output_dir.mkdir(parents=True, exist_ok=True)
    for p in existing:
        p.unlink()

    paths: list[Path] = []
    slots = {index: slot for slot, index in enumerate(keep)}
    for index, frame in enumerate(source.iter_frames()):
        if index not in slots:
            continue
        if track is not None:
            frame = track.apply(frame, slots[index])
        paths.append(write_image(output_dir / f"frame_{len(paths) + 1:04d}{suffix}", frame))
        if len(paths) == len(keep):
            break
    if track is None:
        return ExtractResult(paths=paths, source_fps=source.fps)
    return ExtractResult(paths=paths, source_fps=source.fps, faces_interpolated=track.interpolated,
                         faces_missed=len(track.missed))
