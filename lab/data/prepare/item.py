"""One job of `lab prepare`: decode a video, keep its frames, crop the tracked face(s), write the item(s) atomically.

An item is written as `OUT/<split>/<class>/.part-<name>.<pid>/` (hidden: datasets skip it) holding the frames
and `item.json`, then renamed to `<name>/` in one step: a killed run leaves no partial item that looks complete,
and a folder with `item.json` is finished. `item.json` holds the counts the manifest is rebuilt from.

With `--faces all` a video gives one item per face track, `<name>__face<k>` (k = 0, 1, ...; `follow_faces`
order). Each item.json records its track and how many the video gave, so a job is finished when all of them are.
"""
from __future__ import annotations

import json
import os
import re
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
FACE_SUFFIX = re.compile(r"__face\d+$")


@dataclass(frozen=True)
class Outcome:
    job: Job
    ok: bool
    frames: int = 0
    reason: str = ""  # one line, when not ok


def item_dir(out: Path, job: Job, face: int | None = None) -> Path:
    """The job's item folder; with `face`, that face track's (`<name>__face<k>`)."""
    return out / job.split / CLASSES[job.label] / (job.name if face is None else f"{job.name}__face{face}")


def job_name_of(item_name: str) -> str:
    """The job an item folder (or `.part-` folder's item) belongs to: `x__face1` -> `x`."""
    return FACE_SUFFIX.sub("", item_name)


def read_item_meta(folder: Path) -> dict | None:
    """A finished item's `item.json`, or None when the folder is not a finished item."""
    try:
        return json.loads((folder / ITEM_META).read_text())
    except (OSError, ValueError):
        return None


def finished_items(out: Path, job: Job, settings: Settings) -> list[tuple[str, dict]] | None:
    """`[(item path under the split, item.json)]` of a finished job (one per face track with `--faces all`),
    or None while any of its items is still to be written."""
    if settings.faces != "all":
        meta = read_item_meta(item_dir(out, job))
        return None if meta is None else [(job.item, meta)]
    first = read_item_meta(item_dir(out, job, 0))
    if first is None:
        return None
    found = [(f"{job.item}__face0", first)]
    for k in range(1, first["face_tracks"]):
        meta = read_item_meta(item_dir(out, job, k))
        if meta is None:
            return None
        found.append((f"{job.item}__face{k}", meta))
    return found


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


def _write_frames(source: FrameSource, indices: list[int], outputs: list[tuple[Path, object]],
                  settings: Settings) -> int:
    """Decode once, writing every kept frame into each `(folder, track or None)`; returns frames per folder."""
    slots = {index: slot for slot, index in enumerate(indices)}
    written = 0
    for index, frame in enumerate(source.iter_frames()):
        slot = slots.get(index)
        if slot is None:
            continue
        for folder, track in outputs:
            if track is not None:
                image = track.apply(frame, slot)
            else:
                image = _resize_shorter(frame, settings.output_size) if settings.output_size else frame
            write_image(folder / f"frame_{slot + 1:04d}.jpg", image, quality=settings.quality)
        written += 1
        if written == len(indices):
            break
    return written


def _track_meta(track) -> dict:
    return {"faces_missed": len(track.missed), "faces_interpolated": track.interpolated,
            "missed_frames": [slot + 1 for slot in track.missed]}  # frame_NNNN numbers


def _plans(job: Job, settings: Settings, source: FrameSource, indices: list[int], out: Path) -> list[tuple]:
    """`(final folder, track or None, item.json)` for each item the job makes."""
    meta = {"video": job.video, "source_frames": source.num_frames, "frames": len(indices),
            "faces_missed": None, "faces_interpolated": None, "missed_frames": []}
    if not settings.face_crop:
        return [(item_dir(out, job), None, meta)]
    from lab.data.faces import make_detector
    from lab.data.tracking import track_all_faces, track_faces

    detector = make_detector(settings.detector)
    options = {"margin": settings.margin, "size": settings.output_size, "max_gap": settings.max_gap}
    if settings.faces != "all":
        track = track_faces(source, indices, detector, **options)
        return [(item_dir(out, job), track, {**meta, **_track_meta(track)})]
    tracks, dropped = track_all_faces(source, indices, detector, **options)
    return [(item_dir(out, job, k), track, {**meta, **_track_meta(track), "face_track": k,
                                            "face_tracks": len(tracks), "tracks_dropped": dropped})
            for k, track in enumerate(tracks)]


def _commit(part: Path, final: Path) -> None:
    try:
        os.rename(part, final)  # the commit point: the item appears whole or not at all
    except OSError:
        if read_item_meta(final) is None:
            raise
        shutil.rmtree(part)  # a dying worker of a killed run finished the same (identical) item first


def write_item(job: Job, settings: Settings, out: Path) -> int:
    """Write the job's item(s); returns the frames per item. Raises LabError for bad input (an unreadable video,
    no face). Items already finished (by a killed run) are kept as they are."""
    final = item_dir(out, job, 0 if settings.faces == "all" else None)
    if final.exists() and read_item_meta(final) is None:
        raise DataError(f"folder exists but was not written by lab prepare (no {ITEM_META})", final, "remove it")
    done = finished_items(out, job, settings)
    if done is not None:  # finished meanwhile by a dying worker of a killed run
        return done[0][1]["frames"]
    source = open_item(job.path)
    indices = kept_indices(source.num_frames, settings.every, settings.frames)
    todo = [plan for plan in _plans(job, settings, source, indices, out) if read_item_meta(plan[0]) is None]
    parts = []
    try:
        for target, _, _ in todo:
            part = target.with_name(f"{PART_PREFIX}{target.name}.{os.getpid()}")
            part.mkdir(parents=True)
            parts.append(part)
        written = _write_frames(source, indices, [(p, t) for p, (_, t, _) in zip(parts, todo)], settings)
        if written != len(indices):
            raise DataError(f"source gave {written} of its {len(indices)} frames", job.path, "re-encode or remove it")
        for part, (_, _, meta) in zip(parts, todo):
            (part / ITEM_META).write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n")
        for part, (target, _, _) in zip(parts, todo):
            _commit(part, target)
    except BaseException:
        for part in parts:
            shutil.rmtree(part, ignore_errors=True)
        raise
    return len(indices)


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
