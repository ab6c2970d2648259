"""The seed's own layout, `SOURCE/{train,val,test}/{real,fake}/<item>`, to face-crop or subsample it.

An item (a folder of frames or a video) keeps its split, class and name (a video loses its extension). Its
family, ids and split rule come from `SOURCE/<split>/manifest.csv` when that lists it, else the family from the
name's prefix before `__`, else its class, as the dataset itself reads them (split rule `folders-kept`).
"""
from __future__ import annotations

import csv
from pathlib import Path

from lab.errors import DataError
from lab.data.prepare.plan import CLASSES, MANIFEST, SPLITS, Job, Plan, Settings, left_out
from lab.data.video import is_video, natural_key

NAME = "folders"
ID_COLUMNS = ("source_id", "target_id", "original_id", "compression", "split_rule")
SPLIT_MODES = ("official",)  # SOURCE's own split folders


def looks_like(source: Path) -> bool:
    return any((source / split / cls).is_dir() for split in SPLITS for cls in CLASSES)


def default_split(source: Path) -> str:
    return "official"


def _manifest(split_dir: Path) -> dict[str, dict[str, str]]:
    """The split's manifest rows by item (with and without a video's extension), or {}."""
    path = split_dir / MANIFEST
    if not path.is_file():
        return {}
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        if "item" not in (reader.fieldnames or ()):
            raise DataError("manifest has no 'item' column", path, "fix its header or remove it")
        rows = {}
        for row in reader:
            item = Path((row.get("item") or "").strip())
            rows[item.as_posix()] = rows[item.with_suffix("").as_posix() if is_video(item) else item.as_posix()] = row
        return rows


def plan(source: Path, settings: Settings) -> Plan:
    if not looks_like(source):
        raise DataError("no {train,val,test}/{real,fake}/ folders", source,
                        "give the root of a dataset in the seed's layout")
    jobs, ignored = [], 0
    for split in SPLITS:
        manifest = _manifest(source / split)
        for label, cls in enumerate(CLASSES):
            folder = source / split / cls
            if not folder.is_dir():
                continue
            for entry in sorted(folder.iterdir(), key=lambda p: natural_key(p.name)):
                if entry.name.startswith("."):
                    continue
                if not (entry.is_dir() or is_video(entry)):
                    ignored += 1
                    continue
                name = entry.stem if entry.is_file() else entry.name
                row = manifest.get(f"{cls}/{name}", {})
                family = (row.get("family") or "").strip() or (name.split("__", 1)[0] if "__" in name else cls)
                ids = {k: (row.get(k) or "").strip() for k in ID_COLUMNS}
                ids["split_rule"] = ids["split_rule"] or "folders-kept"
                jobs.append(Job(split, label, name, entry, family, entry.relative_to(source).as_posix(), **ids))
    if not jobs:
        raise DataError("{split}/{real,fake}/ folders hold no items", source,
                        "put frame folders or videos there")
    return Plan(jobs, left_out(ignored, "files that are neither videos nor frame folders"))
