"""Preparing one dataset across machines: `lab prepare ... --shard K/N` and `lab prepare-merge OUT`.

Every shard plans the whole dataset, takes its 1/N of the jobs (`plan.shard_of`: round-robin over the plan
sorted by split and item, so the same on every machine) and writes its items into the shared OUT, then its
manifest part `OUT/shards/K-of-N.csv`: one row per item it finished and per video that failed. The merge plans
again from `OUT/prepare.json`, checks that the parts cover the plan exactly once, and writes the manifests and
`failed.csv` an uninterrupted run would have written, byte for byte.
"""
from __future__ import annotations

import csv
import io
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from lab.data.prepare.formats import make_plan
from lab.data.prepare.item import Outcome
from lab.data.prepare.output import (LOCK_FILE, MANIFEST_COLUMNS, SETTINGS_FILE, locked, manifest_rows, read_record,
                                     write_failures, write_split_manifests)
from lab.data.prepare.plan import CLASSES, SPLITS, Job, Settings, shard_of
from lab.errors import ConfigError, DataError
from lab.outputs import remove_stale_temps, write_text

SHARDS_DIR = "shards"
PART_COLUMNS = ("split", "job", "status", "reason", *MANIFEST_COLUMNS)
_SHARD = re.compile(r"^(\d+)/(\d+)$")
_PART = re.compile(r"^(\d+)-of-(\d+)\.csv$")
SHOWN = 5  # items named in a coverage error


def parse_shard(text: str) -> tuple[int, int]:
    """`"K/N"` -> (K, N), 1 <= K <= N."""
    match = _SHARD.match(text.strip())
    if not match or not 1 <= int(match.group(1)) <= int(match.group(2)):
        raise ConfigError(f"shard {text!r} is not K/N with 1 <= K <= N", "--shard",
                          "give e.g. --shard 1/3 (this machine prepares the first third)")
    return int(match.group(1)), int(match.group(2))


def lock_name(shard: tuple[int, int]) -> str:
    return f".prepare-{shard[0]}-of-{shard[1]}.lock"


def part_path(out: Path, shard: tuple[int, int]) -> Path:
    return out / SHARDS_DIR / f"{shard[0]}-of-{shard[1]}.csv"


def write_part(out: Path, shard: tuple[int, int], jobs: Sequence[Job], settings: Settings,
               failed: Sequence[Outcome]) -> Path:
    """The shard's manifest part: its finished items' manifest rows and its failed videos, each with its job."""
    reasons = {(o.job.split, o.job.item): o.reason for o in failed}
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(PART_COLUMNS)
    for job in sorted(jobs, key=lambda j: (j.split, j.item)):
        reason = reasons.get((job.split, job.item))
        rows = None if reason is not None else manifest_rows(out, job, settings)
        if rows is None:  # failed now (an unfinished job that did not fail cannot be: the run processed it)
            empty = {c: "" for c in MANIFEST_COLUMNS}
            row = {**empty, "item": job.item, "label": str(job.label), "video": job.video}
            writer.writerow([job.split, job.item, "failed", reason or "not written", *row.values()])
            continue
        for row in rows:
            writer.writerow([job.split, job.item, "done", "", *row])
    return write_text(part_path(out, shard), buffer.getvalue())


def read_parts(out: Path) -> dict[str, list[dict[str, str]]]:
    """Every manifest part in OUT/shards: its name ('2-of-3') -> rows."""
    folder = out / SHARDS_DIR
    parts = {}
    for path in sorted(folder.iterdir()) if folder.is_dir() else ():
        if not _PART.match(path.name):
            continue
        with path.open(newline="") as fh:
            reader = csv.DictReader(fh)
            if tuple(reader.fieldnames or ()) != PART_COLUMNS:
                raise DataError("shard manifest part has other columns than lab prepare writes", path,
                                "delete it and run that shard again")
            parts[path.stem] = list(reader)
    return parts


def _named(keys: Sequence[tuple[str, str]], extra=lambda key: "") -> str:
    shown = ", ".join(f"{split}/{item}{extra((split, item))}" for split, item in list(keys)[:SHOWN])
    return shown + (f" and {len(keys) - SHOWN} more" if len(keys) > SHOWN else "")


def check_coverage(jobs: Sequence[Job], parts: dict[str, list[dict[str, str]]], out: Path) -> None:
    """Every planned job in exactly one part (as items or as a failure), and nothing else; a one-line DataError
    naming the jobs otherwise."""
    planned = {(j.split, j.item) for j in jobs}
    covered: dict[tuple[str, str], set[str]] = defaultdict(set)
    for name, rows in parts.items():
        for row in rows:
            covered[(row["split"], row["job"])].add(name)
    folder = out / SHARDS_DIR
    foreign = sorted(set(covered) - planned)
    if foreign:
        raise DataError(f"shard parts list {len(foreign)} video(s) this plan does not hold: {_named(foreign)}",
                        folder, "delete the parts of an older plan and run those shards again")
    twice = sorted(key for key, names in covered.items() if len(names) > 1)
    if twice:
        raise DataError(f"{len(twice)} video(s) are in more than one shard part: "
                        f"{_named(twice, lambda k: ' (' + ' and '.join(sorted(covered[k])) + ')')}", folder,
                        "delete the parts of the sharding you no longer use")
    missing = sorted(planned - set(covered))
    if missing:
        counts = {int(name.split("-of-")[1]) for name in parts}
        hint = "run the shards that have no part in this folder"
        if len(counts) == 1:  # one sharding: name the shards that still have to run
            n = counts.pop()
            owner = {(j.split, j.item): k for k in range(1, n + 1) for j in shard_of(jobs, k, n)}
            absent = sorted({owner[key] for key in missing})
            hint = f"run shard(s) {', '.join(f'{k}/{n}' for k in absent)} (again)"
        raise DataError(f"{len(missing)} of {len(planned)} planned videos are in no shard part: {_named(missing)}",
                        folder, hint)


@dataclass
class MergeReport:
    out: Path
    parts: list[str]
    items: dict[tuple[str, str], tuple[int, int]]  # (split, class) -> (items, frames)
    failed: list[tuple[str, str, str, str]] = field(default_factory=list)
    failed_file: Path | None = None

    def lines(self) -> list[str]:
        out = [f"merged {len(self.parts)} shard part(s) ({', '.join(self.parts)}) into {self.out}",
               f"  {'split':6s} {'real':>6s} {'fake':>6s} {'frames':>8s}"]
        for split in SPLITS:
            cells = [self.items.get((split, c), (0, 0)) for c in CLASSES]
            if any(n for n, _ in cells):
                out.append(f"  {split:6s} {cells[0][0]:6d} {cells[1][0]:6d} {sum(f for _, f in cells):8d}")
        if self.failed:
            out.append(f"failed: {len(self.failed)} (all in {self.failed_file})")
        return out


def merge(out: str | Path, source: str | Path | None = None) -> MergeReport:
    """Check the shard parts in OUT against the plan (made again from OUT/prepare.json's source and settings, or
    from `source` when the dataset sits elsewhere on this machine) and write the manifests and failure list."""
    out = Path(out).resolve()
    record_path = out / SETTINGS_FILE
    try:
        record = read_record(record_path, "prepare again")
    except FileNotFoundError:
        raise DataError("no prepare settings record: not a lab prepare output folder", record_path,
                        "give the OUT the shards wrote into") from None
    try:
        settings = Settings.from_dict(record)
    except (TypeError, ValueError) as exc:
        raise DataError(f"prepare settings record is corrupt ({exc})", record_path, "prepare again") from None
    source = Path(source or record["source"])
    if not source.is_dir():
        raise DataError("the dataset the shards prepared is not here", source,
                        "mount it at the same path, or pass --source with where it is on this machine")
    parts = read_parts(out)
    if not parts:
        raise DataError("no shard manifest parts (K-of-N.csv)", out / SHARDS_DIR,
                        "run lab prepare ... --shard K/N for every K first")
    plan = make_plan(source, settings)
    check_coverage(plan.jobs, parts, out)
    rows: dict[str, list] = {split: [] for split in SPLITS if any(j.split == split for j in plan.jobs)}
    failed, items = [], {}
    for part in parts.values():
        for row in part:
            if row["status"] == "failed":
                failed.append((row["split"], row["item"], row["video"], row["reason"]))
                continue
            rows[row["split"]].append([row[c] for c in MANIFEST_COLUMNS])
            key = (row["split"], row["item"].split("/", 1)[0])
            n, f = items.get(key, (0, 0))
            items[key] = (n + 1, f + int(row["frames"]))
    with locked(out, LOCK_FILE):
        remove_stale_temps(out)
        for split in rows:
            remove_stale_temps(out / split)
        write_split_manifests(out, rows)
        failed_file = write_failures(out, failed)
    return MergeReport(out, sorted(parts), items, failed, failed_file)
