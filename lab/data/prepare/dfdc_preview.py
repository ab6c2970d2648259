"""The DFDC preview (dfdc_preview_set): 5,000 videos, two face-swap methods, and its own train/test split.

    dataset.json    {"method_A/643049/643049_A/1955256_B_001.mp4": {"label": "fake", "set": "train",
                     "target_id": "643049", "swapped_id": "1955256", ...}, "original_videos/...": {...}, ...}
    original_videos/..., method_A/..., method_B/...     the videos, at the paths dataset.json names

Test is the preview's own `set: test`. Validation is drawn from its training videos by identity
(`--val-fraction` of the people, `plan.target_split`), as for Celeb-DF.
"""
from __future__ import annotations

from pathlib import Path

from lab.errors import DataError
from lab.data.prepare.plan import Job, Plan, Settings, assign_groups, left_out, read_json, target_split

NAME = "dfdc-preview"
INDEX = "dataset.json"
FOLDERS = ("original_videos", "method_A", "method_B")
SPLIT_MODES = ("official",)
SETS = ("train", "test")  # the preview's own split, dataset.json's "set"


def looks_like(source: Path) -> bool:
    return (source / INDEX).is_file() and any((source / f).is_dir() for f in FOLDERS)


def default_split(source: Path) -> str:
    return "official"


def _text(entry: dict, key: str, path: Path, video: str) -> str:
    value = entry.get(key)
    if value is None or str(value).strip() == "":
        raise DataError(f"dataset.json gives '{video}' no {key}", path, "restore the preview's dataset.json")
    return str(value).strip()


def read_index(path: Path) -> dict[str, dict]:
    """relative video path -> its entry, each with a real/fake label and a train/test set."""
    index = read_json(path, "DFDC preview index")
    if not isinstance(index, dict):
        raise DataError("DFDC preview index does not map video paths to entries", path,
                        "restore the preview's dataset.json")
    for video, entry in index.items():
        if not isinstance(entry, dict) or entry.get("label") not in ("real", "fake"):
            raise DataError(f"dataset.json gives '{video}' the label "
                            f"{entry.get('label') if isinstance(entry, dict) else entry!r}, not \"real\" or \"fake\"",
                            path, "restore the preview's dataset.json")
        if entry.get("set") not in SETS:
            raise DataError(f"dataset.json puts '{video}' in the set {entry.get('set')!r}, not \"train\" or \"test\"",
                            path, "restore the preview's dataset.json")
    return index


def plan(source: Path, settings: Settings) -> Plan:
    path = source / INDEX
    index = read_index(path)
    people = {}
    for video, entry in index.items():
        target = _text(entry, "target_id", path, video)
        donor = target if entry["label"] == "real" else _text(entry, "swapped_id", path, video)
        people[video] = (target, donor)
    train_people = {p for v, ids in people.items() if index[v]["set"] == "train" for p in ids}
    assigned = assign_groups(train_people, {"val": settings.val_fraction}, settings.seed)
    jobs, crossing = [], 0
    for video in sorted(index):
        entry, (target, donor) = index[video], people[video]
        folder, _, rest = video.partition("/")
        family = "dfdcp-real" if entry["label"] == "real" else f"dfdcp-{folder.lower().replace('_', '-')}"
        if entry["set"] == "test":
            split, rule = "test", "dfdcp-set"
        else:
            split, rule = target_split(assigned, target, donor), "dfdcp-identity-draw"
            crossing += split is None
            if split is None:
                continue
        ids = {"source_id": target} if entry["label"] == "real" else \
              {"source_id": donor, "target_id": target, "original_id": Path(str(entry.get("source_video") or "")).stem}
        name = f"{family}__{Path(rest).with_suffix('').as_posix().replace('/', '__')}"
        jobs.append(Job(split, int(entry["label"] == "fake"), name, source / video, family, video, split_rule=rule,
                        **ids))
    test_people = {p for v, ids in people.items() if index[v]["set"] == "test" for p in ids}
    notes = left_out(crossing, "training fakes whose target stayed in train while the swapped-in face went to "
                     "validation")
    shared = sorted(train_people & test_people)
    if shared:
        notes.append(f"{len(shared)} people are in both the preview's train and test sets")
    unlisted = sum(1 for f in FOLDERS if (source / f).is_dir() for p in (source / f).rglob("*.mp4")
                   if p.relative_to(source).as_posix() not in index)
    return Plan(jobs, notes + left_out(unlisted, f".mp4 files that {INDEX} does not list"))
