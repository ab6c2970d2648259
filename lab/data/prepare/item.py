"""One job of `lab prepare`: decode a video, keep its frames, crop the tracked face, write the item atomically.

The item is written as `OUT/<split>/<class>/.part-<name>.<pid>/` (hidden: datasets skip it) holding the frames
and `item.json`, then renamed to `<name>/` in one step: a killed run leaves no partial item that looks complete,
and a folder with `item.json` is finished. `item.json` holds the counts the manifest is rebuilt from.
"""
from __future__ import annotations

import json
import os
import shutil
import traceback
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from lab.errors import DataError, LabError
from lab.data.prepare.plan import CLASSES, Job, Settings
from lab.data.video import FrameSource, open_item, write_image

ITEM_META = "item.json"
PART_PREFIX = ".part-"


@dataclass(frozen=True)
class Outcome:
    job: Job
    ok: bool
    frames: int = 0
    reason: str = ""  # one line, when not ok


def item_dir(out: Path, job: Job) -> Path:
    return out / job.split / CLASSES[job.label] / job.name


def read_item_meta(folder: Path) -> dict | None:
    """A finished item's `item.json`, or None when the folder is not a finished item."""
    try:
        return json.loads((folder / ITEM_META).read_text())
    except (OSError, ValueError):
        return None


def kept_indices(num_frames: int, every: int, frames: int) -> list[int]:
    """Every `every`-th frame from the first, at most `frames` of them (0 = no limit): consecutive kept
    frames, so the temporal signal between them survives."""
    kept = range(0, num_frames, every)
    return list(kept[:frames] if frames else kept)


def _resize_shorter(frame: np.ndarray, side: int) -> np.ndarray:
    height, width = frame.shape[:2]
    scale = side / min(height, width)
    if scale == 1:
        return frame
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(frame, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)


def _write_frames(source: FrameSource, indices: list[int], folder: Path, settings: Settings, track) -> int:
    slots = {index: slot for slot, index in enumerate(indices)}
    written = 0
    for index, frame in enumerate(source.iter_frames()):
        slot = slots.get(index)
        if slot is None:
            continue
        if track is not None:
            frame = track.apply(frame, slot)
        elif settings.output_size:
            frame = _resize_shorter(frame, settings.output_size)
        write_image(folder / f"frame_{slot + 1:04d}.jpg", frame, quality=settings.quality)
        written += 1
        if written == len(indices):
            break
    return written


def write_item(job: Job, settings: Settings, out: Path) -> int:
    """Write one item; returns its frame count. Raises LabError for bad input (an unreadable video, no face)."""
    final = item_dir(out, job)
    if final.exists():
        done = read_item_meta(final)
        if done is not None:  # finished meanwhile by a dying worker of a killed run
            return done["frames"]
        raise DataError(f"folder exists but was not written by lab prepare (no {ITEM_META})", final, "remove it")
    source = open_item(job.path)
    indices = kept_indices(source.num_frames, settings.every, settings.frames)
    meta = {"video": job.video, "source_frames": source.num_frames, "frames": len(indices),
            "faces_missed": None, "faces_interpolated": None, "missed_frames": []}
    track = None
    if settings.face_crop:
        from lab.data.faces import make_detector
        from lab.data.tracking import track_faces

        track = track_faces(source, indices, make_detector(settings.detector), margin=settings.margin,
                            size=settings.output_size, max_gap=settings.max_gap)
        meta.update(faces_missed=len(track.missed), faces_interpolated=track.interpolated,
                    missed_frames=[slot + 1 for slot in track.missed])  # frame_NNNN numbers
    part = final.with_name(f"{PART_PREFIX}{job.name}.{os.getpid()}")
    part.mkdir(parents=True)
    try:
        written = _write_frames(source, indices, part, settings, track)
        if written != len(indices):
            raise DataError(f"source gave {written} of its {len(indices)} frames", job.path, "re-encode or remove it")
        (part / ITEM_META).write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n")
        try:
            os.rename(part, final)  # the commit point: the item appears whole or not at all
        except OSError:
            if read_item_meta(final) is None:
                raise
            shutil.rmtree(part)  # a dying worker of a killed run finished the same (identical) item first
    except BaseException:
        shutil.rmtree(part, ignore_errors=True)
        raise
    return written


def process(job: Job, settings: Settings, out: Path) -> Outcome:
    """`write_item` that never raises: a failure becomes an Outcome with a one-line reason, so one bad video
    does not stop the run. Unexpected errors keep their type and last frame in the reason."""
    try:
        return Outcome(job, True, write_item(job, settings, out))
    except LabError as exc:
        return Outcome(job, False, reason=" ".join(str(exc).split()))
    except Exception as exc:  # noqa: BLE001 - one broken video (a codec crash, an odd file) must not end the run
        where = traceback.extract_tb(exc.__traceback__)[-1]
        text = " ".join(str(exc).split())  # cv2.error messages span lines
        return Outcome(job, False, reason=f"{type(exc).__name__}: {text} (at {Path(where.filename).name}:{where.lineno})")
