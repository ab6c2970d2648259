"""Writing a generated development set: its items in the three storage formats, its output folder, and one
`manifest.csv` per split. Shared by the real-footage set and the face-swap set, which can share one tree."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from lab.data.clip_split import SPLITS
from lab.data.video import write_h264, write_image
from lab.errors import ConfigError, StorageError
from lab.outputs import write_text

# every generated set's manifest columns; a set may add its own after them
BASE_COLUMNS: tuple[str, ...] = ("item", "label", "family", "severity", "source", "frames", "height", "width",
                                 "format", "split_rule", "fps", "start", "crop")
FORMATS: tuple[str, ...] = ("png", "jpg", "mp4")  # mp4 is H.264 through PyAV (CRF 18, B-frames)
JPEG_QUALITY = 95
H264_CRF = 18


def check_counts(spec) -> None:
    """A spec's items per class (`train`, `val`, `test`) are counts >= 0."""
    for name in SPLITS:
        count = getattr(spec, name)
        if count < 0:
            raise ConfigError(f"{count} items per class is negative", f"{type(spec).__name__}.{name}",
                              "give a count >= 0")


def item_name(cls: str, family: str, source: str, index: int, fmt: str) -> str:
    """`real/real__carphone_pristine__0001` or `fake/faceswap__movie-hello__0007.mp4`: class folder, family,
    clip and a 1-based index (the family is the name's part before `__`)."""
    return f"{cls}/{family}__{source}__{index + 1:04d}" + (".mp4" if fmt == "mp4" else "")


def write_item(path: Path, video: np.ndarray, fmt: str, fps: float) -> None:
    """uint8 (T, H, W, 3) RGB frames as an H.264 `.mp4` or a folder of `frame_0001.<fmt>` images."""
    if fmt == "mp4":
        write_h264(path, video, fps, crf=H264_CRF)
        return
    path.mkdir(parents=True)
    for index, frame in enumerate(video, start=1):
        write_image(path / f"frame_{index:04d}.{fmt}", frame, quality=JPEG_QUALITY)


def claim_output(out: Path, overwrite: bool) -> None:
    """Refuse split folders that already hold files unless `overwrite`, which removes only those folders."""
    occupied = [s for s in SPLITS if (out / s).exists() and any(p.is_file() for p in (out / s).rglob("*"))]
    if occupied and not overwrite:
        raise StorageError(f"folder already holds {', '.join(occupied)} data", out,
                           "choose another --out, or pass --overwrite to replace those split folders")
    for split in occupied:
        shutil.rmtree(out / split)


def write_manifests(out: Path, table: pd.DataFrame, columns: tuple[str, ...]) -> pd.DataFrame:
    """`out/<split>/manifest.csv` for each split (empty splits too), rows in table order; returns the table with a
    leading `split` column."""
    for split in SPLITS:
        part = table[table["split"] == split].reindex(columns=list(columns))
        (out / split).mkdir(parents=True, exist_ok=True)
        write_text(out / split / "manifest.csv", part.to_csv(index=False))
    return table.reindex(columns=["split", *columns]).reset_index(drop=True)
