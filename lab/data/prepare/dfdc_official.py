"""DFDC's official validation and test sets: a folder of videos with `labels.csv` and/or `metadata.json`.

    test/labels.csv          filename,label          1 = fake, 0 = real (the opposite of Celeb-DF's test list)
    test/metadata.json       {"aalscayrfi.mp4": {"is_fake": 1, ...}, ...}   (or "label": "FAKE" / "REAL")
    test/aalscayrfi.mp4 ...  the videos, in the folder or a folder below it

`validation/` (the 4,000-video public test set of the challenge) has the same shape. Where both files are
there, every video both list must have the same label in each: a flipped polarity is an error, not a guess.
"""
from __future__ import annotations

import csv
from pathlib import Path

from lab.errors import DataError
from lab.data.prepare.plan import read_json

LABELS = "labels.csv"
METADATA = "metadata.json"
SETS = {"test": "test", "val": "validation"}  # split -> the release's folder name


def present(folder: Path) -> bool:
    return (folder / LABELS).is_file() or (folder / METADATA).is_file()


def read_labels_csv(path: Path) -> dict[str, int]:
    """`filename` -> label (1 fake) from a DFDC labels.csv."""
    try:
        with path.open(newline="") as fh:
            reader = csv.DictReader(fh)
            if not {"filename", "label"} <= set(reader.fieldnames or ()):
                raise DataError(f"DFDC labels file has the columns {reader.fieldnames}, not filename,label", path,
                                "restore the labels.csv that comes with the set")
            labels = {}
            for number, row in enumerate(reader, start=2):
                name, label = (row["filename"] or "").strip(), (row["label"] or "").strip()
                if not name.endswith(".mp4") or label not in ("0", "1"):
                    raise DataError(f"line {number} reads {name!r},{label!r}", path,
                                    "write each line as 'abcdefghij.mp4,1' (1 = fake, 0 = real)")
                if labels.setdefault(name, int(label)) != int(label):
                    raise DataError(f"'{name}' is listed twice with different labels", path, "keep one line")
            return labels
    except UnicodeDecodeError:
        raise DataError("DFDC labels file is not text", path, "restore the labels.csv that comes with the set") from None


def read_set_metadata(path: Path) -> dict[str, int]:
    """video file name -> label (1 fake) from an official set's metadata.json (`is_fake` or `label`)."""
    meta = read_json(path, "DFDC metadata")
    if not isinstance(meta, dict):
        raise DataError("DFDC metadata does not map video names to entries", path, "restore the set's metadata")
    labels = {}
    for name, entry in meta.items():
        entry = entry if isinstance(entry, dict) else {}
        if entry.get("is_fake") in (0, 1, True, False):
            labels[name] = int(entry["is_fake"])
        elif entry.get("label") in ("REAL", "FAKE"):
            labels[name] = int(entry["label"] == "FAKE")
        else:
            raise DataError(f"DFDC metadata gives '{name}' neither \"is_fake\": 0/1 nor \"label\": \"REAL\"/\"FAKE\"",
                            path, "restore the set's metadata")
    return labels


def read_set(folder: Path) -> dict[str, int]:
    """The official set's labels (1 fake): labels.csv, checked against metadata.json where both exist."""
    csv_path, meta_path = folder / LABELS, folder / METADATA
    from_csv = read_labels_csv(csv_path) if csv_path.is_file() else None
    from_meta = read_set_metadata(meta_path) if meta_path.is_file() else None
    if from_csv is None and from_meta is None:
        raise DataError(f"DFDC {folder.name} set has no {LABELS}", csv_path,
                        f"put the set's videos and {LABELS} (filename,label; 1 = fake) in '{folder}'")
    if from_csv is not None and from_meta is not None:
        differ = sorted(n for n in from_csv.keys() & from_meta.keys() if from_csv[n] != from_meta[n])
        if differ:
            first = differ[0]
            raise DataError(f"{len(differ)} of {len(from_csv.keys() & from_meta.keys())} videos have opposite labels "
                            f"in the two files, e.g. '{first}': {LABELS} {from_csv[first]} "
                            f"({'fake' if from_csv[first] else 'real'}), {METADATA} "
                            f"{'FAKE' if from_meta[first] else 'REAL'}", f"{csv_path} and {meta_path}",
                            "restore both from the download (labels.csv: 1 = fake)")
    return from_csv if from_csv is not None else from_meta


def videos_by_name(folder: Path) -> dict[str, Path]:
    """Every .mp4 under `folder` (its subfolders too) by file name; the first in sorted order if one repeats."""
    found: dict[str, Path] = {}
    for path in sorted(folder.rglob("*.mp4")):
        if not any(part.startswith(".") for part in path.relative_to(folder).parts):
            found.setdefault(path.name, path)
    return found
