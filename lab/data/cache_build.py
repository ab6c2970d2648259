"""`lab cache build`: decode every item of a split once and write its decoded-frame cache (lab.data.cache).

Atomic: the cache is written into a hidden `.build-<H>x<W>-<pid>` folder beside its place, the manifest last,
and renamed into place only when complete; a failed or interrupted build leaves no cache that looks complete
(its leftovers are removed by the next build). Each item's fingerprint is taken before it is decoded, so a
source edited during the build makes the cache stale rather than silently mixed.
"""
from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from torchvision.transforms.v2 import functional as F
from tqdm.auto import tqdm

from lab.errors import DataError
from lab.data.cache import cache_dir, cached_frame_size, fingerprint, write_manifest
from lab.data.dataset import CLASSES, discover_items
from lab.data.video import open_item

SHARD_BYTES = 1 << 30  # a new shard file after about 1 GiB: few open maps per worker, files a filesystem likes
_BATCH = 32  # frames resized per call


@dataclass(frozen=True)
class BuiltCache:
    split: Path
    folder: Path
    items: int
    frames: int
    bytes: int
    seconds: float

    def line(self) -> str:
        return (f"{self.split}: {self.items} items, {self.frames} frames -> {self.folder} "
                f"({self.bytes / 2 ** 20:.1f} MiB, {self.seconds:.1f} s)")


def find_splits(data_dir: str | Path) -> list[Path]:
    """`data_dir` itself when it is a split (holds real/ or fake/), else its subfolders that are splits
    (train/, val/, test/ or any other), in name order."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise DataError("data folder does not exist", data_dir,
                        "pass a split (a folder with real/ and fake/) or a folder of splits (train/ val/ test/)")

    def is_split(p: Path) -> bool:
        return any((p / c).is_dir() for c in CLASSES)

    if is_split(data_dir):
        return [data_dir]
    splits = sorted(p for p in data_dir.iterdir() if p.is_dir() and not p.name.startswith(".") and is_split(p))
    if not splits:
        raise DataError("folder is neither a split nor a folder of splits", data_dir,
                        "pass a folder with real/ and fake/ subfolders, or one holding train/ val/ test/ such folders")
    return splits


def resize_frames(frames: np.ndarray, frame_size: tuple[int, int]) -> np.ndarray:
    """uint8 `(n, H, W, 3)` -> `(n, h, w, 3)` with torchvision's antialiased bilinear resize (the transforms' own),
    unchanged when the size already fits."""
    if frames.shape[1:3] == tuple(frame_size):
        return frames
    clip = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2)
    out = F.resize(clip, list(frame_size), antialias=True)
    return out.permute(0, 2, 3, 1).contiguous().numpy()


def _batches(frames: Iterator[np.ndarray], n: int) -> Iterator[np.ndarray]:
    batch = []
    for frame in frames:
        batch.append(frame)
        if len(batch) == n:
            yield np.stack(batch)
            batch = []
    if batch:
        yield np.stack(batch)


def _remove_leftovers(parent: Path, size: tuple[int, int]) -> None:
    """Temporary folders of builds whose process is gone (interrupted or killed)."""
    leftovers = [*parent.glob(f".build-{size[0]}x{size[1]}-*"), *parent.glob(f".old-{size[0]}x{size[1]}-*")]
    for old in leftovers:
        pid = old.name.rsplit("-", 1)[-1]
        if pid.isdigit() and int(pid) != os.getpid() and _alive(int(pid)):
            continue
        shutil.rmtree(old, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def build_cache(split: str | Path, size: tuple[int, int], *, progress: bool = True,
                shard_bytes: int = SHARD_BYTES) -> BuiltCache:
    """Decode every item of `split` (frame folders and videos, as the dataset finds them), resize to the cached
    frame size for model input `size` (height, width), and write `<split>/.lab-cache/<H>x<W>/` atomically,
    replacing an earlier cache of that size only once the new one is complete."""
    started = time.perf_counter()
    split = Path(split)
    candidates, _ = discover_items(split)
    if not candidates:
        raise DataError("split holds no items", split, "put frame folders or videos under real/ and fake/")
    final = cache_dir(split, size)
    final.parent.mkdir(parents=True, exist_ok=True)
    _remove_leftovers(final.parent, size)
    tmp = final.parent / f".build-{size[0]}x{size[1]}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        items = _write_shards(split, candidates, size, tmp, shard_bytes, progress)
        write_manifest(tmp, size, items)
        _swap_in(tmp, final)
    except BaseException:  # KeyboardInterrupt too: nothing half-written may remain
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    total = sum(p.stat().st_size for p in final.iterdir())
    return BuiltCache(split, final, len(items), sum(i["num_frames"] for i in items.values()), total,
                      time.perf_counter() - started)


def _write_shards(split: Path, candidates: list[tuple[Path, int]], size: tuple[int, int], tmp: Path,
                  shard_bytes: int, progress: bool) -> dict[str, dict]:
    sources = [(path.relative_to(split).as_posix(), path, fingerprint(path), open_item(path))
               for path, _ in candidates]  # open_item: exact frame counts, and bad items fail before decoding
    items: dict[str, dict] = {}
    shard_index, offset = 0, 0
    fh = open(tmp / f"shard-{shard_index:03d}.bin", "wb")
    bar = tqdm(total=sum(s.num_frames for *_, s in sources), unit="frame", desc=f"cache {split.name}",
               disable=not progress, dynamic_ncols=True)
    try:
        for name, path, source_print, source in sources:
            if offset >= shard_bytes:
                fh.close()
                shard_index, offset = shard_index + 1, 0
                fh = open(tmp / f"shard-{shard_index:03d}.bin", "wb")
            start, count, frame_size = offset, 0, None
            for batch in _batches(source.iter_frames(), _BATCH):
                frame_size = frame_size or cached_frame_size(batch.shape[1], batch.shape[2], size)
                fh.write(resize_frames(batch, frame_size).tobytes())
                count += len(batch)
                bar.update(len(batch))
            if count != source.num_frames:
                raise DataError(f"decoded {count} frames but the item has {source.num_frames}", path,
                                "re-encode it with ffmpeg -i IN -c:v libx264 OUT.mp4, or remove it")
            offset += count * frame_size[0] * frame_size[1] * 3
            items[name] = {"source": source_print, "shard": f"shard-{shard_index:03d}.bin", "offset": start,
                           "num_frames": count, "fps": source.fps, "frame_size": list(frame_size)}
    finally:
        fh.close()
        bar.close()
    return items


def _swap_in(tmp: Path, final: Path) -> None:
    """Put the finished build at `final`; an earlier cache there is moved aside first and deleted after."""
    old = None
    if final.exists():
        old = final.with_name(f".old-{final.name}-{os.getpid()}")
        shutil.rmtree(old, ignore_errors=True)
        final.rename(old)
    tmp.rename(final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def build_caches(data_dir: str | Path, size: tuple[int, int], *, progress: bool = True) -> Iterator[BuiltCache]:
    """`build_cache` for `data_dir` (a split) or for every split inside it, one result as each finishes. Every
    split is found (or refused) before any is decoded."""
    splits = find_splits(data_dir)
    return (build_cache(split, size, progress=progress) for split in splits)
