"""The decoded-frame cache of a split: every item decoded once, resized, and kept as raw uint8 RGB frames in
numpy memmap shards, so training reads a window as one slice of a file instead of decoding video or JPEG.

Layout: `<split>/.lab-cache/<H>x<W>/` holds `manifest.json` and `shard-000.bin`, `shard-001.bin`, ... (raw
frames back to back; the manifest gives each item's shard, byte offset, frame count and frame size). `<H>x<W>`
is the model input (`image.height` x `image.width`) the cache was built for. `lab cache build` writes it
(`lab.data.cache_build`); this module finds, checks and reads it.

What a cached frame is: the decoded frame resized (torchvision's antialiased bilinear, as the transforms use)
to the scale at which the transforms' centred evaluation box is exactly the model input, the whole frame kept
so random training crops still see all of it. Frames already at or below that scale are stored as decoded.

A cache is used only while its sources are what it was built from: the manifest records each item's size and
mtime (a frame folder: its frame count, total bytes and newest mtime, and the folder's own mtime); a changed,
added or removed item makes the cache stale, and reading it is refused with a one-line error saying how to
rebuild it. Shards are memory-mapped lazily, on the first read in each process: a dataset holding cached
sources pickles into DataLoader workers without any open file.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterator, Literal, Sequence

import numpy as np

from lab.errors import DataError
from lab.data.transforms import centred_box
from lab.data.video import FrameSource, list_frames

CACHE_DIR = ".lab-cache"
MANIFEST = "manifest.json"
VERSION = 1
STORAGE = "numpy memmap shards, raw uint8 RGB (T, H, W, 3)"
CacheMode = Literal["auto", "off", "require"]


def parse_size(text: str | int | Sequence[int]) -> tuple[int, int]:
    """`224`, `"224"` or `"224x320"` (height x width) -> (height, width)."""
    if isinstance(text, (tuple, list)):
        h, w = (int(v) for v in text)
    else:
        parts = str(text).lower().split("x")
        if len(parts) not in (1, 2) or not all(p.strip().isdigit() for p in parts):
            raise DataError(f"'{text}' is not a size", "--size", "give S (square) or HxW, e.g. 224 or 224x320")
        h, w = int(parts[0]), int(parts[-1])
    if h < 1 or w < 1:
        raise DataError(f"size {h}x{w} is not positive", "--size", "give S or HxW with positive numbers")
    return h, w


def cache_dir(root: str | Path, size: tuple[int, int]) -> Path:
    """Where the cache of split `root` for model input `size` (height, width) lives."""
    return Path(root) / CACHE_DIR / f"{size[0]}x{size[1]}"


def rebuild_hint(root: str | Path, size: tuple[int, int]) -> str:
    return f"rebuild it with `lab cache build --data-dir {root} --size {size[0]}x{size[1]}`, or set data.cache=off"


def cached_frame_size(height: int, width: int, size: tuple[int, int]) -> tuple[int, int]:
    """(h, w) a `height` x `width` frame is stored at for model input `size`: scaled so that the centred
    evaluation box (lab.data.transforms.centred_box) becomes exactly `size`; never enlarged."""
    _, _, box_h, box_w = centred_box(size, height, width)
    if box_h == height:  # full height: the height becomes size[0]
        new = (size[0], max(1, round(width * size[0] / height)))
    else:  # full width
        new = (max(1, round(height * size[1] / width)), size[1])
    return (height, width) if new[0] >= height else new


def fingerprint(path: Path) -> dict:
    """What must not change for a cached item to stay valid: a video's size and mtime; a frame folder's frame
    count, total bytes, newest frame mtime and its own mtime (which moves when frames are added or renamed)."""
    if path.is_dir():
        stats = [p.stat() for p in list_frames(path)]
        return {"frames": len(stats), "bytes": sum(s.st_size for s in stats),
                "mtime_ns": max((s.st_mtime_ns for s in stats), default=0), "dir_mtime_ns": path.stat().st_mtime_ns}
    st = path.stat()
    return {"bytes": st.st_size, "mtime_ns": st.st_mtime_ns}


# ---------------------------------------------------------------------------------------------- reading


class Shards:
    """The shard files of one cache, memory-mapped on first use in each process (never pickled open)."""

    def __init__(self, folder: Path):
        self.folder = folder
        self._maps: dict[str, np.memmap] = {}

    def get(self, name: str) -> np.memmap:
        mm = self._maps.get(name)
        if mm is None:
            mm = self._maps[name] = np.memmap(self.folder / name, dtype=np.uint8, mode="r")
        return mm

    def __getstate__(self) -> dict:
        return {"folder": self.folder, "_maps": {}}


class CachedSource(FrameSource):
    """One item's frames from the cache: `read(start, count)` is a copy of one slice of a shard.
    `path` is the item's source (for messages); frames are `(h, w)` = `frame_size`."""

    def __init__(self, path: Path, shards: Shards, shard: str, offset: int, num_frames: int, fps: float | None,
                 frame_size: tuple[int, int]):
        self.path, self.shards, self.shard, self.offset = path, shards, shard, offset
        self.num_frames, self.fps, self.frame_size = num_frames, fps, frame_size
        self.frame_bytes = frame_size[0] * frame_size[1] * 3

    def read(self, start: int, count: int) -> np.ndarray:
        self._check_range(start, count)
        begin = self.offset + start * self.frame_bytes
        flat = self.shards.get(self.shard)[begin:begin + count * self.frame_bytes]
        return np.array(flat).reshape(count, *self.frame_size, 3)  # a copy: the mapping is not held

    def iter_frames(self, start: int = 0) -> Iterator[np.ndarray]:
        for index in range(start, self.num_frames):
            yield self.read(index, 1)[0]


def read_manifest(folder: Path) -> dict | None:
    """The cache's manifest, or None when there is no complete cache at `folder`."""
    path = folder / MANIFEST
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise DataError(f"decoded-frame cache manifest cannot be read ({exc})", path,
                        "delete the cache folder and build it again") from None


def open_cache(root: str | Path, size: tuple[int, int], mode: CacheMode,
               items: Sequence[tuple[str, Path]]) -> dict[str, CachedSource] | None:
    """The cached sources of split `root`'s `items` (`(name, path)`, name relative to root), or None when the
    cache is off, or absent under `auto`. Raises DataError when `require` finds none, or when the cache is
    stale: an item changed, was added or was removed since the build."""
    if mode == "off":
        return None
    if mode not in ("auto", "require"):
        raise ValueError(f"cache mode must be auto, off or require, got {mode!r}")
    root = Path(root)
    folder = cache_dir(root, size)
    manifest = read_manifest(folder)
    if manifest is None:
        if mode == "require":
            raise DataError(f"no decoded-frame cache for {size[0]}x{size[1]} (data.cache=require)", folder,
                            f"build it with `lab cache build --data-dir {root} --size {size[0]}x{size[1]}`")
        return None
    hint = rebuild_hint(root, size)
    if manifest.get("version") != VERSION or tuple(manifest.get("size", ())) != tuple(size):
        raise DataError("decoded-frame cache was written by another version of lab", folder, hint)
    cached = manifest["items"]
    names = [name for name, _ in items]
    added = [n for n in names if n not in cached]
    removed = sorted(set(cached) - set(names))
    changed = [n for n, path in items if n in cached and _changed(cached[n]["source"], path)]
    for what, found in (("changed", changed), ("was added", added), ("was removed", removed)):
        if found:
            more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
            raise DataError(f"decoded-frame cache is stale: '{found[0]}' {what} since it was built{more}", folder, hint)
    shards = Shards(folder)
    return {name: CachedSource(path, shards, cached[name]["shard"], cached[name]["offset"], cached[name]["num_frames"],
                               cached[name]["fps"], tuple(cached[name]["frame_size"])) for name, path in items}


def _changed(recorded: dict, path: Path) -> bool:
    try:
        return fingerprint(path) != recorded
    except (OSError, DataError):  # vanished or unreadable since the listing: changed
        return True


def write_manifest(folder: Path, size: tuple[int, int], items: dict[str, dict]) -> Path:
    """The manifest of a finished build (written last, inside the build's temporary folder)."""
    path = folder / MANIFEST
    body = {"version": VERSION, "size": list(size), "storage": STORAGE, "items": items,
            "frames": sum(i["num_frames"] for i in items.values()), "pid": os.getpid()}
    path.write_text(json.dumps(body, indent=1) + "\n")
    return path
