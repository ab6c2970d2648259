"""The dataset formats `lab prepare` reads, and how SOURCE's layout tells them apart (`--format auto`)."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from lab.errors import ConfigError, DataError
from lab.data.prepare import celebdf, dfdc, dfdc_preview, ffpp, folders
from lab.data.prepare.plan import SPLITS, Plan, Settings

MIN_HELD_OUT = 50  # videos of a class in validation or test under which the report says its scores are coarse

MODULES = {m.NAME: m for m in (ffpp, celebdf, dfdc, dfdc_preview, folders)}
EXPECTED = {
    "ffpp": "original_sequences/youtube/<c>/videos/ and manipulated_sequences/<Method>/<c>/videos/",
    "celebdf": "Celeb-real/, Celeb-synthesis/, YouTube-real/ and List_of_testing_videos.txt",
    "dfdc": "dfdc_train_part_N/metadata.json with the videos beside it (or under train/), and test/labels.csv",
    "dfdc-preview": "dataset.json beside original_videos/, method_A/ and method_B/",
    "folders": "{train,val,test}/{real,fake}/<item>",
}


def _layouts() -> str:
    return "; ".join(f"{name}: {layout}" for name, layout in EXPECTED.items())


def detect_format(source: Path) -> str:
    """The one format whose layout SOURCE has, or a DataError naming what each format expects."""
    if not source.is_dir():
        raise DataError("dataset source is not a folder", source, "give the root of the downloaded dataset")
    matches = [name for name, module in MODULES.items() if module.looks_like(source)]
    if not matches:
        raise DataError("unknown layout", source, f"point SOURCE at a folder in one of these layouts: {_layouts()}")
    if len(matches) > 1:
        raise DataError(f"folder looks like {' and '.join(matches)}", source, "pass --format")
    return matches[0]


def resolve(source: Path, settings: Settings) -> Settings:
    """`settings` with `--split auto` replaced by the format's default for SOURCE (DFDC: official when its test
    set is there, else parts), so OUT/prepare.json records the rule that was used; a rule the format does not
    have is a ConfigError."""
    module = MODULES[settings.format]
    split = module.default_split(source) if settings.split == "auto" else settings.split
    if split not in module.SPLIT_MODES:
        raise ConfigError(f"{settings.format} has no '{split}' split", "--split",
                          f"choose {' or '.join(module.SPLIT_MODES)}, or leave --split out")
    return replace(settings, split=split)


def make_plan(source: Path, settings: Settings) -> Plan:
    """The format's plan for SOURCE under its resolved split rule (`resolve`), checked (each output item once)."""
    module = MODULES[settings.format]
    if not source.is_dir():
        raise DataError("dataset source is not a folder", source, "give the root of the downloaded dataset")
    if not module.looks_like(source):
        raise DataError(f"not a {settings.format} tree", source,
                        f"point SOURCE at a folder holding {EXPECTED[settings.format]}")
    plan = module.plan(source, resolve(source, settings)).check()
    for split in SPLITS[1:]:
        counts = [sum(1 for j in plan.jobs if j.split == split and j.label == label) for label in (0, 1)]
        if any(counts) and min(counts) < MIN_HELD_OUT:
            plan.notes.append(f"{'validation' if split == 'val' else 'test'} holds {counts[0]} real and {counts[1]} "
                              f"fake videos (under {MIN_HELD_OUT} of a class: a threshold or score on it is coarse)")
    return plan
