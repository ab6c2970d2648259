"""The OUT folder of `lab prepare`: its settings record and lock, finished items, manifests and failure list.

Everything here is rebuilt from what is on disk (the finished items' `item.json`), and every file is written to
a temporary name and renamed, so a run killed at any point and then resumed ends with the same bytes as one
uninterrupted run.
"""
from __future__ import annotations

import contextlib
import csv
import io
import json
import shutil
import sys
from pathlib import Path
from typing import Iterator, Sequence

from lab.data.prepare.item import PART_PREFIX, Outcome, finished_items, job_name_of
from lab.data.prepare.plan import CLASSES, MANIFEST, SPLITS, Job, Settings
from lab.data.video import natural_key
from lab.errors import DataError
from lab.outputs import remove_stale_temps, write_text

SETTINGS_FILE = "prepare.json"
FAILED_FILE = "failed.csv"
LOCK_FILE = ".prepare.lock"
CLAIM_LOCK = ".prepare-claim.lock"  # held only while a run claims OUT
OUR_NAMES = frozenset({SETTINGS_FILE, FAILED_FILE, "train", "val", "test", "shards"})  # what lab prepare writes
MANIFEST_COLUMNS = ("item", "label", "family", "source_id", "target_id", "original_id", "compression", "frames",
                    "faces_missed", "faces_interpolated", "video", "face_track", "split_rule")
FAILED_COLUMNS = ("split", "item", "video", "reason")


def _describe(settings: Settings, source: Path) -> dict:
    return {"source": str(source), **settings.to_dict()}


def read_record(record: Path, what_to_do: str) -> dict:
    """OUT/prepare.json, the source and settings a run prepared with; a one-line error when it is not such a
    record (FileNotFoundError when it is missing)."""
    try:
        data = json.loads(record.read_text())
    except ValueError:
        data = None
    if not isinstance(data, dict) or not {"source", "format"} <= data.keys():
        raise DataError("prepare settings record is corrupt", record, what_to_do)
    return data


def claim(out: Path, source: Path, settings: Settings) -> None:
    """Make OUT ours: new or empty, or prepared before from the same source with the same settings. Shards
    starting together on a new OUT claim it one at a time, so the first one's record is not mistaken by the
    others for files lab prepare did not write."""
    if out.exists() and not out.is_dir():
        raise DataError("output folder is a file", out, "choose a folder")
    if not (out / SETTINGS_FILE).exists():  # before the lock below writes its file into the user's folder
        _refuse_foreign(out, allowed=OUR_NAMES)  # a shard beside this one may be writing them right now
    with locked(out, CLAIM_LOCK, announce=False):
        _claim(out, source, settings)


def _refuse_foreign(out: Path, allowed: frozenset[str] = frozenset()) -> None:
    """Without a settings record, a folder holding visible names other than `allowed` is not ours."""
    if out.is_dir() and any(not p.name.startswith(".") and p.name not in allowed for p in out.iterdir()):
        raise DataError("output folder is not empty and was not written by lab prepare", out,
                        "choose a new or empty folder")


def _claim(out: Path, source: Path, settings: Settings) -> None:
    record = out / SETTINGS_FILE
    wanted = _describe(settings, source)
    if record.is_file():
        before = read_record(record, f"delete '{out}' and prepare again")
        changed = [f"{k} {before.get(k)!r} (now {v!r})" for k, v in wanted.items() if before.get(k) != v]
        if changed:
            raise DataError(f"output folder was prepared with {', '.join(changed)}", out,
                            "resume with the same options, or choose another output folder")
        return
    _refuse_foreign(out)  # hidden names (locks, temp files) do not count
    write_text(record, json.dumps(wanted, indent=1, sort_keys=True) + "\n")


@contextlib.contextmanager
def locked(out: Path, name: str = LOCK_FILE, announce: bool = True) -> Iterator[None]:
    """One `lab prepare` at a time per OUT (per shard of OUT: `name`); a second one waits. The kernel drops the
    lock when its holder dies, even by SIGKILL. (A killed run's workers exit within a moment; if one still
    finishes an item then, the rename in `item.write_item` keeps whichever identical copy lands first.)"""
    out.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock
        yield
        return
    with open(out / name, "a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if announce:
                print(f"waiting for another lab prepare writing to '{out}' ({out / name})", file=sys.stderr)
            fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def remove_partial_items(out: Path, jobs: Sequence[Job] | None = None) -> int:
    """Delete the `.part-*` folders a killed run left behind (their items are written again); returns the number
    removed. With `jobs` (one shard's), only theirs: other shards may be writing theirs right now. Without, also
    the temp files of unfinished manifest writes."""
    owned = None if jobs is None else {(j.split, CLASSES[j.label], j.name) for j in jobs}
    removed = 0
    if owned is None:
        remove_stale_temps(out)
    for split in SPLITS:
        if owned is None:
            remove_stale_temps(out / split)
        for cls in CLASSES:
            folder = out / split / cls
            for part in folder.glob(PART_PREFIX + "*") if folder.is_dir() else ():
                name = job_name_of(part.name[len(PART_PREFIX):].rsplit(".", 1)[0])  # .part-<item>.<pid>
                if owned is None or (split, cls, name) in owned:
                    shutil.rmtree(part)
                    removed += 1
    return removed


def _cell(value) -> str:
    return "" if value is None else str(value)


def manifest_rows(out: Path, job: Job, settings: Settings) -> list[list[str]] | None:
    """The job's manifest rows (one per item), or None while it is unfinished."""
    items = finished_items(out, job, settings)
    if items is None:
        return None
    return [[item, str(job.label), job.family, job.source_id, job.target_id, job.original_id, job.compression,
             str(meta["frames"]), _cell(meta["faces_missed"]), _cell(meta["faces_interpolated"]), job.video,
             _cell(meta.get("face_track")), job.split_rule] for item, meta in items]


def manifest_text(rows: Sequence[Sequence[str]]) -> str:
    """A split's manifest.csv: the header, then `rows` in natural order of their item path."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(MANIFEST_COLUMNS)
    writer.writerows(sorted(rows, key=lambda row: natural_key(row[0])))
    return buffer.getvalue()


def write_manifests(out: Path, jobs: Sequence[Job], settings: Settings) -> dict[str, int]:
    """`OUT/<split>/manifest.csv` for every split with planned items, listing the finished ones; returns items
    listed per split."""
    rows: dict[str, list] = {split: [] for split in SPLITS if any(j.split == split for j in jobs)}
    for job in jobs:
        rows[job.split] += manifest_rows(out, job, settings) or []
    return write_split_manifests(out, rows)


def write_split_manifests(out: Path, rows: dict[str, list]) -> dict[str, int]:
    for split, split_rows in rows.items():
        (out / split).mkdir(parents=True, exist_ok=True)
        write_text(out / split / MANIFEST, manifest_text(split_rows))
    return {split: len(split_rows) for split, split_rows in rows.items()}


def failure_rows(failed: Sequence[Outcome]) -> list[tuple[str, str, str, str]]:
    return [(o.job.split, o.job.item, o.job.video, o.reason) for o in failed]


def write_failures(out: Path, rows: Sequence[Sequence[str]]) -> Path | None:
    """`OUT/failed.csv` (split, item, video, reason) when something failed; otherwise no such file."""
    path = out / FAILED_FILE
    if not rows:
        path.unlink(missing_ok=True)
        return None
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(FAILED_COLUMNS)
    writer.writerows(sorted(rows, key=lambda r: (r[0], natural_key(r[1]))))
    write_text(path, buffer.getvalue())
    return path

