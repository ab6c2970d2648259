"""DFDC: the training parts, and the official validation and test sets, split three ways (`--split`).

    dfdc_train_part_0/metadata.json   {"abcdefghij.mp4": {"label": "FAKE", "original": "klmnopqrst.mp4", ...}, ...}
    dfdc_train_part_0/abcdefghij.mp4
    validation/labels.csv, test/labels.csv   the official sets (dfdc_official.py)

SOURCE is the folder holding the parts (and `validation/`, `test/`), a DeepfakeBench-style root whose `train/`
holds the parts beside `test/`, or a single part.
- `official` (the default when `test/` is there): test and validation are the official sets, training is every
  training part. Without `validation/`, validation is the `--val-parts` training parts.
- `parts` (the default otherwise): whole part folders are held out, `--val-parts` (default 0-2, the holdout of
  the challenge's winning solution) for validation and `--test-parts` (default 3-5) for test.
- `drawn`: `--test-fraction` / `--val-fraction` of the original videos, each with its fakes. DFDC names no
  actors, and one actor recurs in many originals, so actors cross the splits: a warning says so.
"""
from __future__ import annotations

import re
import warnings
from pathlib import Path

from lab.errors import ConfigError, DataError
from lab.data.prepare import dfdc_official as official
from lab.data.prepare.plan import Job, Plan, Settings, assign_groups, left_out, read_json
from lab.data.video import natural_key

NAME = "dfdc"
METADATA = "metadata.json"
PART_GLOB = "dfdc_train_part_*"
SPLIT_MODES = ("official", "parts", "drawn")
_PART_NUMBER = re.compile(r"^dfdc_train_part_(\d+)$")
DRAWN_WARNING = ("--split drawn: DFDC's metadata names no actors and one actor recurs in many original videos, so "
                 "the same people are in train, validation and test and scores come out optimistic; --split official "
                 "or parts keeps results comparable")


def parts(source: Path) -> list[Path]:
    """Folders holding a metadata.json: the dfdc_train_part_* of SOURCE or of SOURCE/train (natural order), or
    SOURCE itself when it is one part."""
    for root in (source, source / "train"):
        found = [p for p in root.glob(PART_GLOB) if (p / METADATA).is_file()] if root.is_dir() else []
        if found:
            return sorted(found, key=lambda p: natural_key(p.name))
    return [source] if (source / METADATA).is_file() else []


def official_sets(source: Path) -> dict[str, Path]:
    """split -> the official set's folder, for those present in SOURCE."""
    return {split: source / name for split, name in official.SETS.items() if official.present(source / name)}


def looks_like(source: Path) -> bool:
    return bool(parts(source)) or "test" in official_sets(source)


def default_split(source: Path) -> str:
    return "official" if "test" in official_sets(source) else "parts"


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


def _job(split: str, label: int, path: Path, source: Path, rule: str, group: str = "") -> Job:
    family = "dfdc-fake" if label else "dfdc-real"
    ids = {"original_id": group} if label else {"source_id": group or path.stem}
    return Job(split, label, f"{family}__{path.stem}", path, family, path.relative_to(source).as_posix(),
               split_rule=rule, **ids)


def _training(found: list[Path]) -> tuple[dict[str, tuple[Path, int, str, Path]], int]:
    """name -> (path, label, group, part) over the training parts, and the .mp4 files no metadata lists."""
    videos: dict[str, tuple[Path, int, str, Path]] = {}
    unlisted = 0
    for part in found:
        entries = _entries(part)
        for name, (label, group) in entries.items():
            if name in videos:
                raise DataError(f"DFDC video '{name}' is listed in two metadata files",
                                f"{videos[name][3] / METADATA} and {part / METADATA}", "keep one copy")
            videos[name] = (part / name, label, group, part)
        unlisted += sum(1 for p in part.glob("*.mp4") if p.name not in entries)
    return videos, unlisted


def _part_splits(found: list[Path], held_out: dict[str, tuple[int, ...]]) -> dict[Path, str]:
    """part folder -> split: the held-out part numbers (split -> numbers, all of which must be there), the
    rest train."""
    numbers = {}
    for part in found:
        match = _PART_NUMBER.match(part.name)
        if match:
            numbers[int(match.group(1))] = part
    have = ", ".join(map(str, sorted(numbers))) or "none"
    out = {part: "train" for part in found}
    for split, wanted in held_out.items():
        flag = "--val-parts" if split == "val" else "--test-parts"
        absent = [n for n in wanted if n not in numbers]
        if absent:
            raise ConfigError(f"{'validation' if split == 'val' else 'test'} part(s) "
                              f"{', '.join(map(str, absent))} are not among the training parts found ({have})",
                              flag, "name parts you have, e.g. " + f"{flag} 0-2")
        out.update((numbers[n], split) for n in wanted)
    if "train" not in out.values():
        raise ConfigError(f"every training part found ({have}) is held out, none is left for training",
                          "--val-parts, --test-parts", "hold out fewer parts")
    return out


def _official_jobs(split: str, folder: Path, source: Path) -> tuple[list[Job], list[str]]:
    labels = official.read_set(folder)
    on_disk = official.videos_by_name(folder)
    rule = f"dfdc-official-{'test' if split == 'test' else 'validation'}"
    jobs = [_job(split, label, on_disk.get(name, folder / name), source, rule) for name, label in sorted(labels.items())]
    unlisted = sorted(set(on_disk) - set(labels))
    return jobs, left_out(len(unlisted), f".mp4 files in {folder.name}/ that its labels do not list")


def _beside(source: Path, found: list[Path]) -> list[str]:
    """A note naming folders beside the parts that this format does not read, so none is skipped unseen."""
    roots = {p.parent for p in found if p != source}
    known = {*official.SETS.values(), "train"}
    strays = sorted(f"{p.relative_to(source).as_posix()}/" for root in roots | {source} if root.is_dir()
                    for p in root.iterdir() if p.is_dir() and not p.name.startswith(".") and p not in found
                    and not (root == source and p.name in known))
    return [f"folders not read as DFDC sets: {', '.join(strays)} (the official sets are read from "
            f"{' and '.join(f'{name}/' for name in official.SETS.values())} with labels.csv)"] if strays else []


def plan(source: Path, settings: Settings) -> Plan:
    found = parts(source)
    sets = official_sets(source)
    mode = settings.split  # resolved by formats.make_plan
    if mode == "official" and "test" not in sets:
        raise DataError("DFDC's official test set is not there", source / "test" / official.LABELS,
                        "put the test set's videos and labels.csv (filename,label; 1 = fake) in that folder, "
                        "or pass --split parts or --split drawn")
    if not found and mode != "official":
        raise DataError(f"folder holds no {PART_GLOB}/{METADATA}", source,
                        "point SOURCE at the folder with the DFDC training parts, or at one part")
    videos, unlisted = _training(found)
    if found and not videos:
        raise DataError("the DFDC metadata under this folder lists no videos", source, "restore metadata.json")
    notes = left_out(unlisted, ".mp4 files that no metadata.json lists") + _beside(source, found)
    jobs: list[Job] = []
    if mode == "drawn":
        warnings.warn(DRAWN_WARNING, stacklevel=2)
        assigned = assign_groups((g for _, _, g, _ in videos.values()),
                                 {"test": settings.test_fraction, "val": settings.val_fraction}, settings.seed)
        split_of = {name: assigned[group] for name, (_, _, group, _) in videos.items()}
        rule = "dfdc-drawn"
    else:
        held_out = {"val": settings.val_parts, "test": settings.test_parts} if mode == "parts" else \
                   ({} if "val" in sets or not found else {"val": settings.val_parts})
        by_part = _part_splits(found, held_out) if found else {}
        split_of = {name: by_part[part] for name, (_, _, _, part) in videos.items()}
        rule = "dfdc-parts"
        if mode == "official":
            notes += [] if "val" in sets else [f"no official validation set ({official.SETS['val']}/): validation "
                                              f"is training part(s) {', '.join(map(str, settings.val_parts))}"]
            notes += [] if found else ["no training parts: only the official sets are prepared"]
        crossing = sum(1 for name, (_, label, group, _) in videos.items() if label and f"{group}.mp4" in split_of
                       and split_of[f"{group}.mp4"] != split_of[name])
        notes += [f"{crossing} fakes sit in another split than their original (a part holding a fake without its "
                  "original)"] if crossing else []
    for name in sorted(videos):
        path, label, group, _ = videos[name]
        jobs.append(_job(split_of[name], label, path, source, rule, group))
    for split, folder in sorted(sets.items()):
        if mode == "official":
            official_jobs, official_notes = _official_jobs(split, folder, source)
            jobs += official_jobs
            notes += official_notes
        else:
            notes.append(f"the official {folder.name} set in {folder} is not used with --split {mode} "
                         "(--split official uses it)")
    return Plan(jobs, notes)
