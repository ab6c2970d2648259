"""What `lab prepare` writes: the settings, one `Job` per source video, and the split rules the formats share.

Every format module turns a downloaded tree into a `Plan` (jobs plus notes on what its split rules left out);
the runner (`lab.data.prepare.runner`) executes it. Planning reads only names, lists and JSON, never video.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Iterable, Sequence

from lab.errors import ConfigError, DataError

SPLITS: tuple[str, ...] = ("train", "val", "test")
CLASSES: tuple[str, ...] = ("real", "fake")  # = lab.data.dataset.CLASSES (label = index); kept torch-free here
MANIFEST = "manifest.csv"  # = lab.data.dataset.MANIFEST, which evaluation reads
FORMATS: tuple[str, ...] = ("ffpp", "celebdf", "dfdc", "dfdc-preview", "folders")
DETECTORS: tuple[str, ...] = ("dlib", "haar")  # = lab.data.faces.DETECTORS
DEFAULT_FACE_SIZE = 224  # the seed's image size
SPLIT_MODES: tuple[str, ...] = ("auto", "official", "parts", "drawn")  # auto: each format's comparable default
FACE_MODES: tuple[str, ...] = ("largest", "all")
DFDC_VAL_PARTS: tuple[int, ...] = (0, 1, 2)  # the DFDC winner's holdout (selimsef/dfdc_deepfake_challenge)
DFDC_TEST_PARTS: tuple[int, ...] = (3, 4, 5)


@dataclass(frozen=True)
class Settings:
    """Everything that decides what `lab prepare` writes (the worker count does not). Saved as
    OUT/prepare.json; a second run into the same OUT must use the same settings, so resuming never mixes two."""

    format: str
    compression: str = "c23"  # FF++: raw, c23 or c40
    methods: tuple[str, ...] = ()  # FF++: manipulation folders to use; () = the paper's four that are present
    splits_dir: str | None = None  # FF++: folder with train/val/test.json (default SOURCE/splits)
    frames: int = 64  # consecutive kept frames per video from its start; 0 = all
    every: int = 1  # keep every k-th frame
    face_crop: bool = False
    detector: str = "dlib"
    size: int | None = None  # face crops: side (default 224); whole frames: shorter side (None = as decoded)
    margin: float = 0.25  # face crops: margin around the face box, a fraction of its side on each side
    max_gap: int = 5  # face crops: frames without a face interpolated from neighbours; longer runs are missed
    quality: int = 95  # JPEG quality
    val_fraction: float = 0.1  # of identities / originals drawn for validation where no official list exists
    test_fraction: float = 0.1  # DFDC and FF++'s DeepFakeDetection: of originals / actors drawn for test
    seed: int = 0  # salts the hash that orders identities before the split is drawn
    split: str = "auto"  # DFDC: official, parts or drawn; auto = the format's default (see formats.resolve)
    val_parts: tuple[int, ...] = DFDC_VAL_PARTS  # DFDC --split parts: training parts held out for validation
    test_parts: tuple[int, ...] = DFDC_TEST_PARTS  # ... and for test
    faces: str = "largest"  # face crops: the largest face's track, or one item per face track

    def __post_init__(self) -> None:
        overlap = sorted(set(self.val_parts) & set(self.test_parts))
        checks = [  # (ok, what is wrong, flag, what to do)
            (self.format in FORMATS, f"unknown format {self.format!r}", "--format",
             f"choose one of {', '.join(FORMATS)}"),
            (self.split in SPLIT_MODES, f"unknown split rule {self.split!r}", "--split",
             f"choose one of {', '.join(SPLIT_MODES)}"),
            (self.faces in FACE_MODES, f"unknown face mode {self.faces!r}", "--faces",
             f"choose one of {', '.join(FACE_MODES)}"),
            (self.faces == "largest" or self.face_crop, f"--faces {self.faces} makes one item per face track, "
             "which needs face crops", "--faces", "add --face-crop, or leave --faces out"),
            (not overlap, f"part(s) {', '.join(map(str, overlap))} are both validation and test parts",
             "--val-parts, --test-parts", "give each part to one split"),
            (all(p >= 0 for p in (*self.val_parts, *self.test_parts)), "a part number is negative",
             "--val-parts, --test-parts", "number parts as DFDC does, from 0 (dfdc_train_part_0)"),
            (self.frames >= 0, f"{self.frames} frames is negative", "--frames",
             "give a number of frames >= 1, or 0 for all"),
            (self.every >= 1, f"step {self.every} is below 1", "--every", "give a step >= 1 (1 keeps every frame)"),
            (self.detector in DETECTORS, f"unknown face detector {self.detector!r}", "--detector",
             f"choose one of {', '.join(DETECTORS)}"),
            (self.size is None or self.size >= 8, f"side {self.size} is below 8 pixels", "--size",
             "give a side of at least 8 pixels"),
            (self.margin >= 0, f"margin {self.margin} is negative", "--margin",
             "give a margin >= 0 (a fraction of the face box)"),
            (self.max_gap >= 0, f"{self.max_gap} frames is negative", "--max-gap", "give a number of frames >= 0"),
            (1 <= self.quality <= 100, f"JPEG quality {self.quality} is outside 1 to 100", "--quality",
             "give a JPEG quality from 1 to 100"),
            (0 <= self.val_fraction < 1, f"fraction {self.val_fraction} is outside [0, 1)", "--val-fraction",
             "give a fraction in [0, 1)"),
            (0 <= self.test_fraction < 1, f"fraction {self.test_fraction} is outside [0, 1)", "--test-fraction",
             "give a fraction in [0, 1)"),
            (self.val_fraction + self.test_fraction < 1,
             f"validation fraction {self.val_fraction} plus test fraction {self.test_fraction} is not below 1",
             "--val-fraction, --test-fraction", "lower them so their sum stays below 1"),
        ]
        for ok, what, flag, fix in checks:
            if not ok:
                raise ConfigError(what, flag, fix)

    @property
    def output_size(self) -> int | None:
        return self.size or (DEFAULT_FACE_SIZE if self.face_crop else None)

    def to_dict(self) -> dict:
        return {**asdict(self), "methods": list(self.methods), "val_parts": list(self.val_parts),
                "test_parts": list(self.test_parts), "size": self.output_size}

    @classmethod
    def from_dict(cls, record: dict) -> "Settings":
        """The settings `to_dict` saved (OUT/prepare.json), for planning again; keys it does not know are ignored."""
        known = {f.name for f in fields(cls)}
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in record.items() if k in known}
        return cls(**values)


@dataclass(frozen=True)
class Job:
    """One source video (or frame folder) -> `OUT/<split>/<class>/<name>/`."""

    split: str
    label: int  # 0 real, 1 fake
    name: str  # "<family>__<id>": the family also reads back from the name alone
    path: Path  # the source video or frame folder
    family: str  # manipulation method, or the real footage's source
    video: str  # `path` relative to SOURCE, for the manifest
    source_id: str = ""  # reals: the identity or video shown; fakes: the identity or video that drove the edit
    target_id: str = ""  # fakes: the identity / video that was edited
    original_id: str = ""  # fakes: the real video the fake was made from
    compression: str = ""
    split_rule: str = ""  # which rule put the video in its split (docs/datasets.md#split-rules)

    @property
    def item(self) -> str:
        """The item's path relative to its split, as the manifest lists it: `fake/deepfakes__000_003`."""
        return f"{CLASSES[self.label]}/{self.name}"


@dataclass
class Plan:
    jobs: list[Job]
    notes: list[str] = field(default_factory=list)  # one line each: what the split rules left out, and why

    def check(self) -> "Plan":
        """Each output item once; every split a known one."""
        seen: dict[tuple[str, str], Job] = {}
        for job in self.jobs:
            if job.split not in SPLITS:
                raise ValueError(f"job {job.item} has unknown split {job.split!r}")
            other = seen.setdefault((job.split, job.item), job)
            if other is not job:
                raise DataError(f"two sources would both become {job.split}/{job.item}", f"{other.path} and {job.path}",
                                "rename one of them")
        return self


# -------------------------------------------------------------------------------------------- split rules


def _rank(group: str, seed: int) -> str:
    return hashlib.sha1(f"{seed}:{group}".encode()).hexdigest()


def assign_groups(groups: Iterable[str], fractions: dict[str, float], seed: int = 0) -> dict[str, str]:
    """Each group (an identity, an original video) -> a split. Groups are ordered by a salted SHA-1 of their
    name, so the draw does not depend on listing order or machine; then `round(fraction * n)` groups go to
    each split in `fractions` (at least one when its fraction is > 0 and some group would stay for train),
    and the rest to train."""
    ordered = sorted(set(groups), key=lambda g: (_rank(g, seed), g))
    out, start = {}, 0
    for split, fraction in fractions.items():
        count = round(fraction * len(ordered))
        if fraction > 0 and count == 0 and len(ordered) - start > 1:
            count = 1
        count = min(count, max(len(ordered) - start - 1, 0))  # train keeps at least one group
        out.update((g, split) for g in ordered[start:start + count])
        start += count
    out.update((g, "train") for g in ordered[start:])
    return out


def joint_split(assigned: dict[str, str], *groups: str) -> str | None:
    """The split shared by all `groups`, or None when they fall in different splits (or one is unassigned)."""
    splits = {assigned.get(g) for g in groups}
    return splits.pop() if len(splits) == 1 else None


def target_split(assigned: dict[str, str], target: str, donor: str) -> str | None:
    """A fake's split under an identity draw: its target's (the person whose video was edited), as long as no
    held-out identity reaches training and validation and test share none. So a held-out target keeps the fakes
    made with a training donor's face; a training target's fake with a held-out donor is left out (None), as is
    one whose two identities went to validation and test. Compared with `joint_split` (both identities in one
    split), validation gets ~f of the fakes instead of ~f^2 and about half as many are left out."""
    t, d = assigned.get(target), assigned.get(donor)
    if t is None or d is None:
        return None
    if t == d or (t != "train" and d == "train"):
        return t
    return None


def shard_of(jobs: Sequence[Job], shard: int, shards: int) -> list[Job]:
    """Shard `shard` (1-based) of `shards`: every shards-th job of the plan sorted by (split, item), from the
    shard-th on. The same on every machine, whatever the worker count or the order the source was listed in;
    the shards together hold every job once."""
    if not 1 <= shard <= shards:
        raise ConfigError(f"shard {shard}/{shards} is not one of 1/{shards} ... {shards}/{shards}", "--shard",
                          "give K/N with 1 <= K <= N")
    ordered = sorted(jobs, key=lambda j: (j.split, j.item))
    return ordered[shard - 1::shards]


def read_json(path: Path, what: str):
    """A JSON file the user supplied, or a one-line DataError naming it."""
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise DataError(f"{what} not found", path, "restore it from the download") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{what} is not valid JSON, {exc}", path, "restore it from the download") from None


def videos_in(folder: Path, what: str, hint: str) -> list[Path]:
    """The .mp4 files in `folder`, sorted; a one-line DataError if it is missing or holds none."""
    if not folder.is_dir():
        raise DataError(f"{what} folder does not exist", folder, hint)
    videos = sorted(p for p in folder.iterdir() if p.suffix.lower() == ".mp4" and not p.name.startswith("."))
    if not videos:
        raise DataError(f"{what} folder holds no .mp4 videos", folder, hint)
    return videos


def left_out(count: int, what: str) -> list[str]:
    """A note for the report, or none when nothing was left out."""
    return [f"left out {count} {what}"] if count else []
