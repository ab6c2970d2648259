"""Sliding windows of consecutive frames over `root/{real,fake}/<item>`, where an item is a folder of
frames or a video file. `ds[i] -> (clip (T, C, H, W) float, label)` with label 0 = real, 1 = fake.

Window policy: starts at 0, stride, 2*stride, ... while start + T <= num_frames (standard floor), so up
to stride - 1 trailing frames of an item may be left uncovered. Items shorter than T follow `short_items`.
"""
from __future__ import annotations

import csv
import os
import warnings
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Callable, Collection, Iterator, Literal, Sequence

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset, WeightedRandomSampler

from lab.config import AugmentationConfig, ImageConfig, SequenceConfig
from lab.data.cache import CacheMode, open_cache
from lab.data.transforms import build_transform
from lab.data.video import FrameSource, is_video, natural_key, open_item
from lab.errors import DataError

CLASSES: tuple[str, ...] = ("real", "fake")  # index = label
MANIFEST = "manifest.csv"
ShortItems = Literal["pad", "skip", "error"]


@dataclass(frozen=True)
class Item:
    name: str  # path relative to root, posix: "fake/color_flicker__0003" or "real/clip_01.mp4"
    label: int
    family: str
    num_frames: int
    fps: float | None  # None for frame folders


@dataclass(frozen=True)
class Window:
    item: str  # Item.name
    label: int
    start: int  # first frame index in the item
    length: int  # frames read from the item (< T only when padded)
    num_frames: int  # the item's frame count
    family: str
    padded: bool  # True when the clip repeats the item's last frame to reach T


# ----------------------------------------------------------------------------------------- pure planning


def window_starts(num_frames: int, length: int, stride: int, max_windows: int = 0) -> list[int]:
    """Starts 0, stride, ... with start + length <= num_frames; `max_windows` > 0 keeps that many, spread
    evenly (the middle window of each of `max_windows` equal runs). Empty when num_frames < length."""
    starts = list(range(0, num_frames - length + 1, stride))
    if 0 < max_windows < len(starts):
        n = len(starts)
        starts = [starts[int((j + 0.5) * n / max_windows)] for j in range(max_windows)]
    return starts


def plan_windows(items: Sequence[Item], length: int, stride: int, short_items: ShortItems = "pad",
                 max_windows: int = 0) -> tuple[list[Window], list[Item]]:
    """All windows of `items` in item order, and the items shorter than `length`."""
    windows, short = [], []
    for item in items:
        if item.num_frames < length:
            short.append(item)
            if short_items == "pad":
                windows.append(Window(item.name, item.label, 0, item.num_frames, item.num_frames, item.family, True))
            continue
        for start in window_starts(item.num_frames, length, stride, max_windows):
            windows.append(Window(item.name, item.label, start, length, item.num_frames, item.family, False))
    return windows, short


def pad_clip(frames: np.ndarray, length: int) -> np.ndarray:
    """`(t, H, W, C)` -> `(length, H, W, C)` by repeating the last frame (t <= length)."""
    missing = length - len(frames)
    return frames if missing <= 0 else np.concatenate([frames, np.repeat(frames[-1:], missing, axis=0)])


def family_from_name(name: str, class_name: str) -> str:
    """`color_flicker__0003` -> `color_flicker`; a name without `__` belongs to its class's family."""
    stem = Path(name).stem if is_video(name) else Path(name).name
    return stem.split("__", 1)[0] if "__" in stem else class_name


# -------------------------------------------------------------------------------------------- discovery


def resolve_num_workers(setting: int | str, cpus: int | None = None) -> int:
    """`data.num_workers` as a count. "auto": none on up to 2 CPUs, else half the CPUs this process may use (its
    affinity, so a container's limit counts), at most 8. On 2 cores the training step needs both: a worker
    made a 64x64 real-footage epoch 14 % slower and a 32x32 synthetic one 5 % faster (docs/results/design.md)."""
    if setting != "auto":
        return int(setting)
    if cpus is None:
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return 0 if cpus <= 2 else min(8, cpus // 2)


def read_manifest(root: Path) -> dict[str, dict[str, str]] | None:
    """`root/manifest.csv` rows keyed by item path (relative to root), or None when there is none."""
    path = root / MANIFEST
    if not path.is_file():
        return None
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        missing = {"item", "family"} - set(reader.fieldnames or ())
        if missing:
            raise DataError(f"manifest lacks column(s) {', '.join(sorted(missing))}", path,
                            "give it at least the columns item and family")
        return {Path(row["item"].strip()).as_posix(): row for row in reader if row["item"]}


def _manifest_row(manifest: dict[str, dict[str, str]], name: str) -> dict[str, str] | None:
    row = manifest.get(name)
    if row is None and is_video(name):  # a manifest may list a video without its extension
        row = manifest.get(str(Path(name).with_suffix("")))
    return row


def discover_items(root: str | Path) -> tuple[list[tuple[Path, int]], list[Path]]:
    """Candidate items `(path, label)` under root/real and root/fake (natural order), and the ignored
    entries (files that are neither videos nor folders; hidden names are skipped without counting)."""
    root = Path(root)
    if not root.is_dir():
        raise DataError("dataset folder does not exist", root,
                        "create it with real/ and fake/ subfolders, or point data.*_dir / --data_dir at one")
    class_dirs = [root / c for c in CLASSES]
    if not any(d.is_dir() for d in class_dirs):
        raise DataError("dataset folder has no real/ or fake/ subfolder", root,
                        "put each item, a folder of frames or a video, under real/ or fake/")
    found, ignored = [], []
    for label, folder in enumerate(class_dirs):
        if not folder.is_dir():
            continue
        for entry in sorted(folder.iterdir(), key=lambda p: natural_key(p.name)):
            if entry.name.startswith("."):
                continue
            if entry.is_dir() or (entry.is_file() and is_video(entry)):
                found.append((entry, label))
            else:
                ignored.append(entry)
    return found, ignored


def item_family(root: Path, name: str, label: int, manifest: dict[str, dict[str, str]] | None) -> tuple[str, bool]:
    """(family of item `name` under `root`, whether the manifest lists it): the manifest's family column, else
    the name's prefix before `__`, else the class. A manifest label that contradicts the folder is an error."""
    family = family_from_name(Path(name).name, CLASSES[label])
    row = _manifest_row(manifest, name) if manifest is not None else None
    if row is not None:
        family = (row["family"] or "").strip() or family
        if (row.get("label") or "").strip() not in ("", str(label)):
            raise DataError(f"manifest gives label {row['label']} to '{name}', which lies under {CLASSES[label]}/",
                            root / MANIFEST, "fix one of them")
    return family, manifest is None or row is not None


def fake_families(root: str | Path) -> dict[str, int]:
    """Fake items per family under `root` (as a dataset would see them, without opening any item)."""
    root = Path(root)
    manifest = read_manifest(root)
    counts: dict[str, int] = {}
    for path, label in discover_items(root)[0]:
        if label == 1:
            family = item_family(root, path.relative_to(root).as_posix(), label, manifest)[0]
            counts[family] = counts.get(family, 0) + 1
    return counts


# ---------------------------------------------------------------------------------------------- dataset


class FrameSequenceDataset(Dataset):
    """Windows of `sequence_length` frames every `stride` frames over every item of `root`.

    `ds[i]` -> `(clip, label)`: clip is `transform(uint8 (T, C, H, W) tensor)`, or with transform=None a
    float `(T, C, H, W)` tensor in [0, 1] at the item's native size. Worker-safe: it holds only paths and
    counts; each read opens and releases its own video capture inside the calling process.

    `cache` ("auto", "off", "require") with `cache_size` (the model input, height x width): read frames from the
    split's decoded-frame cache (lab.data.cache) when one exists for that size; windows, labels and order are the
    same, frames are the cached (resized) ones, and a stale cache is refused. `cached` says whether it is used.
    """

    def __init__(self, root: str | Path, sequence_length: int, stride: int,
                 transform: Callable[[torch.Tensor], torch.Tensor] | None = None, *,
                 short_items: ShortItems = "pad", max_windows_per_item: int = 0,
                 cache: CacheMode = "off", cache_size: tuple[int, int] | None = None,
                 held_out_families: Collection[str] = ()):
        if sequence_length < 1 or stride < 1 or max_windows_per_item < 0:
            raise ValueError(f"need sequence_length >= 1, stride >= 1, max_windows_per_item >= 0; got "
                             f"{sequence_length}, {stride}, {max_windows_per_item}")
        if short_items not in ("pad", "skip", "error"):
            raise ValueError(f"short_items must be 'pad', 'skip' or 'error', got {short_items!r}")
        self.root = Path(root)
        self.sequence_length = sequence_length
        self.stride = stride
        self.transform = transform
        self.short_items = short_items
        self.max_windows_per_item = max_windows_per_item
        if cache != "off" and cache_size is None:
            raise ValueError("a cache mode other than 'off' needs cache_size (height, width)")
        self.cache, self.cache_size = cache, cache_size
        self.cached = False
        self.held_out_families = frozenset(held_out_families)
        self.held_out: dict[str, int] = {}  # family -> fake items left out because their family is held out

        self._sources: dict[str, FrameSource] = {}
        self.items: list[Item] = self._load_items()
        self.windows, short = plan_windows(self.items, sequence_length, stride, short_items, max_windows_per_item)
        self._report_short(short)
        if not self.windows:
            raise DataError(f"dataset yields no windows of {sequence_length} frames", self.root,
                            "lower sequence.length or set sequence.short_items=pad")

    def _load_items(self) -> list[Item]:
        candidates, ignored = discover_items(self.root)
        if ignored:
            warnings.warn(f"{len(ignored)} file(s) in {self.root} are neither frame folders nor videos and were "
                          f"ignored (first: {ignored[0].relative_to(self.root).as_posix()})", stacklevel=3)
        if not candidates:
            raise DataError("dataset folder holds no items", self.root,
                            "put frame folders or videos under real/ and fake/")
        manifest = read_manifest(self.root)
        cached = open_cache(self.root, self.cache_size, self.cache,
                            [(path.relative_to(self.root).as_posix(), path) for path, _ in candidates]) \
            if self.cache != "off" else None
        self.cached = cached is not None
        items, unlisted = [], []
        for path, label in candidates:
            name = path.relative_to(self.root).as_posix()
            family, listed = item_family(self.root, name, label, manifest)
            if not listed:
                unlisted.append(name)
            if label == 1 and family in self.held_out_families:  # never opened, never seen
                self.held_out[family] = self.held_out.get(family, 0) + 1
                continue
            # open_item raises DataError for an empty folder or an unreadable video
            source = cached[name] if cached is not None else open_item(path)
            self._sources[name] = source
            items.append(Item(name, label, family, source.num_frames, source.fps))
        if not items:
            raise DataError("dataset folder holds no items but held-out fakes", self.root,
                            "hold out fewer families (data.held_out_families)")
        if unlisted:
            warnings.warn(f"{len(unlisted)} of {len(items)} items in {self.root} are missing from {MANIFEST}; "
                          f"their family comes from their name (first: {unlisted[0]})", stacklevel=3)
        for label, cls in enumerate(CLASSES):
            if not any(i.label == label for i in items):
                warnings.warn(f"{self.root} has no {cls} items", stacklevel=3)
        return items

    def _report_short(self, short: list[Item]) -> None:
        if not short:
            return
        what = f"{len(short)} of {len(self.items)} items in {self.root} are shorter than {self.sequence_length} frames"
        if self.short_items == "error":
            raise DataError(f"item has {short[0].num_frames} frames, fewer than one window of "
                            f"{self.sequence_length}", self.root / short[0].name,
                            "lower sequence.length or set sequence.short_items to pad or skip")
        action = "padded by repeating their last frame" if self.short_items == "pad" else "skipped"
        warnings.warn(f"{what}; {action}", stacklevel=3)

    # ------------------------------------------------------------------------------------- access

    def __len__(self) -> int:
        return len(self.windows)

    def read_clip(self, index: int) -> np.ndarray:
        """Window `index` as raw uint8 RGB `(T, H, W, 3)`, padded if the window is."""
        w = self.windows[index]
        frames = self._sources[w.item].read(w.start, w.length)
        return pad_clip(frames, self.sequence_length)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        clip = torch.from_numpy(self.read_clip(index)).permute(0, 3, 1, 2)  # (T, C, H, W) uint8
        out = self.transform(clip) if self.transform is not None else clip.float().div_(255.0)
        return out, self.windows[index].label

    def iter_item(self, item: str) -> Iterator[torch.Tensor]:
        """Item `item`'s frames in order, one `(C, H, W)` tensor at a time, read from the source `read_clip` reads and
        put through `transform` one frame at a time. For a deterministic per-frame transform (evaluation's) each
        equals that frame in any `ds[i]` clip; scoring shares them among overlapping windows
        (`lab.scoring.shared`). A training transform draws its parameters per clip: do not use it here."""
        for frame in self._sources[item].iter_frames():
            x = torch.from_numpy(frame).permute(2, 0, 1)[None]  # (1, C, H, W) uint8
            yield self.transform(x)[0] if self.transform is not None else x[0].float().div_(255.0)

    @property
    def labels(self) -> list[int]:
        """One label per window, in window order (for samplers and metrics)."""
        return [w.label for w in self.windows]

    def source(self, item: str) -> FrameSource:
        """The frame source of an item (by `Item.name`)."""
        return self._sources[item]

    def metadata(self) -> pd.DataFrame:
        """One row per window (columns: Window's fields), indexed like the dataset."""
        return pd.DataFrame([asdict(w) for w in self.windows], columns=[f.name for f in fields(Window)])

    def __repr__(self) -> str:
        counts = np.bincount(self.labels, minlength=len(CLASSES))
        return (f"FrameSequenceDataset('{self.root}', {len(self.items)} items, {len(self)} windows of "
                f"{self.sequence_length} frames (stride {self.stride}); windows real/fake {counts[0]}/{counts[1]}"
                f"{'; from the decoded-frame cache' if self.cached else ''})")


# ---------------------------------------------------------------------------------------- wiring helpers


def make_weighted_sampler(labels: Sequence[int], num_samples: int | None = None,
                          generator: torch.Generator | None = None) -> WeightedRandomSampler:
    """Draws windows with probability 1/count(class), so each class is drawn equally often."""
    labels = np.asarray(labels, dtype=np.int64)
    if labels.size == 0:
        raise ValueError("make_weighted_sampler needs at least one label")
    counts = np.bincount(labels)
    weights = torch.as_tensor(1.0 / counts[labels], dtype=torch.double)
    return WeightedRandomSampler(weights, num_samples or len(labels), replacement=True, generator=generator)


def build_dataset(root: str | Path, sequence: SequenceConfig, image: ImageConfig,
                  augmentation: AugmentationConfig, train: bool, *, cache: CacheMode = "auto",
                  held_out_families: Collection[str] = (), jitter_in_loader: bool = True) -> FrameSequenceDataset:
    """The dataset of one split, wired from config: windows from `sequence`, transform from image/augmentation,
    frames from the split's decoded-frame cache for (image.height, image.width) as `cache` (data.cache) says;
    fakes of `held_out_families` (data.held_out_families, for training and validation) are left out.
    `jitter_in_loader=False`: training clips come without colour jitter and normalisation (`DeviceJitter`)."""
    return FrameSequenceDataset(root, sequence.length, sequence.stride,
                                build_transform(image, augmentation, train, jitter_in_loader),
                                short_items=sequence.short_items, max_windows_per_item=sequence.max_windows_per_item,
                                cache=cache, cache_size=(image.height, image.width),
                                held_out_families=held_out_families)
