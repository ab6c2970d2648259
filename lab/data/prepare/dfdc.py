"""DFDC training parts, split by original video so a fake never sits in another split than its source.

    dfdc_train_part_0/metadata.json   {"abcdefghij.mp4": {"label": "FAKE", "original": "klmnopqrst.mp4", ...}, ...}
    dfdc_train_part_0/abcdefghij.mp4

SOURCE may be the folder holding the parts or a single part. A real video is its own group and a fake belongs to
its original's group; `--test-fraction` and `--val-fraction` of the groups go to test and validation.
"""
from __future__ import annotations

from pathlib import Path

from lab.errors import DataError
from lab.data.prepare.plan import Job, Plan, Settings, assign_groups, left_out, read_json
from lab.data.video import natural_key

NAME = "dfdc"
METADATA = "metadata.json"
PART_GLOB = "dfdc_train_part_*"


def parts(source: Path) -> list[Path]:
    """Folders holding a metadata.json: SOURCE's dfdc_train_part_* (natural order), or SOURCE itself."""
    found = sorted((p for p in source.glob(PART_GLOB) if (p / METADATA).is_file()), key=lambda p: natural_key(p.name))
    return found or ([source] if (source / METADATA).is_file() else [])


def looks_like(source: Path) -> bool:
    return bool(parts(source))


def _entries(part: Path) -> dict[str, tuple[int, str]]:
    """video file name -> (label, original's stem; its own stem for a real) from one part's metadata.json."""
    path = part / METADATA
    meta = read_json(path, "DFDC metadata")
    if not isinstance(meta, dict):
        raise DataError("DFDC metadata does not map video names to {\"label\": ..., \"original\": ...}", path,
                        "restore the part's metadata")
    out = {}
    for name, entry in meta.items():
        label = entry.get("label") if isinstance(entry, dict) else None
        if label not in ("REAL", "FAKE"):
            raise DataError(f"DFDC metadata gives '{name}' the label {label!r}, not \"REAL\" or \"FAKE\"", path,
                            "give each video the label \"REAL\" or \"FAKE\"")
        original = entry.get("original")
        if label == "FAKE" and not original:
            raise DataError(f"DFDC metadata names no 'original' for fake '{name}'", path, "restore the part's metadata")
        out[name] = (int(label == "FAKE"), Path(original).stem if label == "FAKE" else Path(name).stem)
    return out


def plan(source: Path, settings: Settings) -> Plan:
    found = parts(source)
    if not found:
        raise DataError(f"folder holds no {PART_GLOB}/{METADATA}", source,
                        "point SOURCE at the folder with the DFDC training parts, or at one part")
    videos: dict[str, tuple[Path, int, str]] = {}
    unlisted = 0
    for part in found:
        entries = _entries(part)
        for name, (label, group) in entries.items():
            if name in videos:
                raise DataError(f"DFDC video '{name}' is listed in two metadata files",
                                f"{videos[name][0].parent / METADATA} and {part / METADATA}", "keep one copy")
            videos[name] = (part / name, label, group)
        unlisted += sum(1 for p in part.glob("*.mp4") if p.name not in entries)
    if not videos:
        raise DataError("the DFDC metadata under this folder lists no videos", source, "restore metadata.json")
    assigned = assign_groups((g for _, _, g in videos.values()),
                             {"test": settings.test_fraction, "val": settings.val_fraction}, settings.seed)
    jobs = []
    for name in sorted(videos):
        path, label, group = videos[name]
        family = "dfdc-fake" if label else "dfdc-real"
        ids = {"original_id": group} if label else {"source_id": group}
        jobs.append(Job(assigned[group], label, f"{family}__{path.stem}", path, family,
                        path.relative_to(source).as_posix(), **ids))
    return Plan(jobs, left_out(unlisted, ".mp4 files that no metadata.json lists"))
