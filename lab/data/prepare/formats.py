"""The dataset formats `lab prepare` reads, and how SOURCE's layout tells them apart (`--format auto`)."""
from __future__ import annotations

from pathlib import Path

from lab.errors import DataError
from lab.data.prepare import celebdf, dfdc, ffpp, folders
from lab.data.prepare.plan import Plan, Settings

MODULES = {m.NAME: m for m in (ffpp, celebdf, dfdc, folders)}
EXPECTED = {
    "ffpp": "original_sequences/youtube/<c>/videos/ and manipulated_sequences/<Method>/<c>/videos/",
    "celebdf": "Celeb-real/, Celeb-synthesis/, YouTube-real/ and List_of_testing_videos.txt",
    "dfdc": "dfdc_train_part_N/metadata.json with the videos beside it",
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


def make_plan(source: Path, settings: Settings) -> Plan:
    """The format's plan for SOURCE, checked (each output item once)."""
    module = MODULES[settings.format]
    if not source.is_dir():
        raise DataError("dataset source is not a folder", source, "give the root of the downloaded dataset")
    if not module.looks_like(source):
        raise DataError(f"not a {settings.format} tree", source,
                        f"point SOURCE at a folder holding {EXPECTED[settings.format]}")
    return module.plan(source, settings).check()
