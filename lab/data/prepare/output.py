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

from lab.data.prepare.item import PART_PREFIX, Outcome, item_dir, read_item_meta
from lab.data.prepare.plan import CLASSES, MANIFEST, SPLITS, Job, Settings
from lab.data.video import natural_key
from lab.errors import DataError
from lab.outputs import remove_stale_temps, write_text

SETTINGS_FILE = "prepare.json"
FAILED_FILE = "failed.csv"
LOCK_FILE = ".prepare.lock"
MANIFEST_COLUMNS = ("item", "label", "family", "source_id", "target_id", "original_id", "compression", "frames",
                    "faces_missed", "faces_interpolated", "video")


def _describe(settings: Settings, source: Path) -> dict:
    return {"source": str(source), **settings.to_dict()}


def claim(out: Path, source: Path, settings: Settings) -> None:
    """Make OUT ours: new or empty, or prepared before from the same source with the same settings."""
    record = out / SETTINGS_FILE
    wanted = _describe(settings, source)
    if record.is_file():
        try:
            before = json.loads(record.read_text())
        except ValueError:
            raise DataError("prepare settings record is corrupt", record, f"delete '{out}' and prepare again") from None
        changed = [f"{k} {before.get(k)!r} (now {v!r})" for k, v in wanted.items() if before.get(k) != v]
        if changed:
            raise DataError(f"output folder was prepared with {', '.join(changed)}", out,
                            "resume with the same options, or choose another output folder")
        return
    if out.exists() and not out.is_dir():
        raise DataError("output folder is a file", out, "choose a folder")
    if out.exists() and any(p.name != LOCK_FILE for p in out.iterdir()):
        raise DataError("output folder is not empty and was not written by lab prepare", out,
                        "choose a new or empty folder")
    out.mkdir(parents=True, exist_ok=True)
    write_text(record, json.dumps(wanted, indent=1, sort_keys=True) + "\n")


@contextlib.contextmanager
def locked(out: Path) -> Iterator[None]:
    """One `lab prepare` at a time per OUT; a second one waits. The kernel drops the lock when its holder dies,
    even by SIGKILL. (A killed run's workers exit within a moment; if one still finishes an item then, the rename
    in `item.write_item` keeps whichever identical copy lands first.)"""
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock
        yield
        return
    out.mkdir(parents=True, exist_ok=True)
    with open(out / LOCK_FILE, "a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"waiting for another lab prepare writing to '{out}' ({out / LOCK_FILE})", file=sys.stderr)
            fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def remove_partial_items(out: Path) -> int:
    """Delete the `.part-*` folders a killed run left behind (their items are written again) and the temp files
    of its unfinished manifest writes; returns the number of items removed."""
    removed = 0
    remove_stale_temps(out)
    for split in SPLITS:
        remove_stale_temps(out / split)
        for cls in CLASSES:
            folder = out / split / cls
            for part in folder.glob(PART_PREFIX + "*") if folder.is_dir() else ():
                shutil.rmtree(part)
                removed += 1
    return removed


def finished(out: Path, job: Job) -> dict | None:
    """The finished item's metadata, or None when it still has to be written."""
    return read_item_meta(item_dir(out, job))


def _cell(value) -> str:
    return "" if value is None else str(value)


def write_manifests(out: Path, jobs: Sequence[Job]) -> dict[str, int]:
    """`OUT/<split>/manifest.csv` for every split with planned items, listing the finished ones (natural order
    of their item path); returns items listed per split."""
    listed = {}
    for split in SPLITS:
        planned = sorted((j for j in jobs if j.split == split), key=lambda j: natural_key(j.item))
        if not planned:
            continue
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(MANIFEST_COLUMNS)
        count = 0
        for job in planned:
            meta = finished(out, job)
            if meta is None:
                continue
            writer.writerow([job.item, job.label, job.family, job.source_id, job.target_id, job.original_id,
                             job.compression, meta["frames"], _cell(meta["faces_missed"]),
                             _cell(meta["faces_interpolated"]), job.video])
            count += 1
        (out / split).mkdir(parents=True, exist_ok=True)
        write_text(out / split / MANIFEST, buffer.getvalue())
        listed[split] = count
    return listed


def write_failures(out: Path, failed: Sequence[Outcome]) -> Path | None:
    """`OUT/failed.csv` (split, item, video, reason) when something failed; otherwise no such file."""
    path = out / FAILED_FILE
    if not failed:
        path.unlink(missing_ok=True)
        return None
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(("split", "item", "video", "reason"))
    for o in sorted(failed, key=lambda o: (o.job.split, natural_key(o.job.item))):
        writer.writerow((o.job.split, o.job.item, o.job.video, o.reason))
    write_text(path, buffer.getvalue())
    return path

