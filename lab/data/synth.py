"""Embedded synthetic deepfake dataset whose fakes differ from its reals only in time.

A scene is a slowly drifting background plus an elliptical "face" region. Each region attribute follows
a_t = centre + amp * sin(phase_t), with phase_t = omega * t + phi and phi ~ U(0, 2pi) drawn once per video.
A fake of family F adds an independent per-frame jitter to the phases of F's attributes. Since phi is uniform,
phase_t mod 2pi is uniform at every frame with or without the jitter, so a single fake frame has exactly the
distribution of a real frame; only consecutive fake frames disagree (the region flickers).
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from lab.data.items import check_counts
from lab.data.video import write_video
from lab.errors import ConfigError, StorageError
from lab.outputs import write_text

# Each family names the region attributes whose phases are re-drawn per frame in its fakes:
# color_flicker: the region's RGB colour; boundary_jitter: its centre, semi-axes and tilt (the pasted boundary);
# texture_flicker: the phases of its two texture gratings; blend_flicker: its opacity and edge softness.
FAMILIES: tuple[str, ...] = ("color_flicker", "boundary_jitter", "texture_flicker", "blend_flicker")
BACKGROUNDS: tuple[str, ...] = ("plasma", "gradient")
SPLITS: tuple[str, ...] = ("train", "val", "test")
MANIFEST_COLUMNS: tuple[str, ...] = ("item", "label", "family", "source", "frames", "height", "width", "format")
OMEGA_RANGE = (0.08, 0.30)  # rad per frame of the smooth trajectories: a period of 2-6 s at 12 fps
JPEG_QUALITY = 95


@dataclass(frozen=True)
class SynthSpec:
    """What `generate` writes. Counts are videos per class per split; fakes cycle through FAMILIES."""

    train: int = 24
    val: int = 8
    test: int = 12
    frames: int = 24
    height: int = 64
    width: int = 64
    fps: int = 12
    mp4_fraction: float = 0.25  # share of each class written as one .mp4 (mp4v) instead of a frame folder
    png_fraction: float = 0.125  # share of each class written as a PNG frame folder; the rest is JPEG
    seed: int = 42
    # Per-frame phase jitter of the family's attributes, U(-flicker*pi, +flicker*pi); 1.0 re-draws the
    # phase independently every frame. Any value keeps single frames real-like; it sets the temporal signal.
    flicker: float = 1.0
    amplitude: float = 1.0  # scales every attribute's range of variation, in reals and fakes alike
    noise: float = 2.0  # camera noise: std of per-pixel Gaussian noise in grey levels, every frame

    def __post_init__(self) -> None:
        check_counts(self)
        if self.frames < 2:
            raise ConfigError(f"{self.frames} frames per video is too few, time is the signal",
                              "SynthSpec.frames / --frames", "give at least 2")
        if self.height < 16 or self.width < 16:
            raise ConfigError(f"{self.height}x{self.width} frames are too small", "SynthSpec.height/width",
                              "give at least 16 pixels each")
        if self.mp4_fraction > 0 and (self.height % 2 or self.width % 2):
            raise ConfigError(f"{self.height}x{self.width} is odd, and mp4v drops an odd row or column",
                              "SynthSpec.height/width", "give even sizes, or mp4_fraction=0")
        if self.fps <= 0:
            raise ConfigError(f"{self.fps} frames per second is not positive", "SynthSpec.fps", "give a value > 0")
        if not (0 <= self.mp4_fraction and 0 <= self.png_fraction and self.mp4_fraction + self.png_fraction <= 1):
            raise ConfigError("format fractions are negative or sum to more than 1",
                              "SynthSpec.mp4_fraction/png_fraction", "give values >= 0 that sum to at most 1")
        _check_strengths(self.flicker, self.amplitude, self.noise)


def _check_strengths(flicker: float, amplitude: float, noise: float) -> None:
    if not 0 <= flicker <= 1:
        raise ConfigError(f"{flicker} is outside [0, 1]", "flicker", "give a fraction of a half-turn of phase jitter")
    if not 0 < amplitude <= 2:
        raise ConfigError(f"{amplitude} is outside (0, 2]", "amplitude", "give a value > 0 and <= 2")
    if noise < 0:
        raise ConfigError(f"{noise} is negative", "noise", "give a noise std >= 0 grey levels")


# ---------------------------------------------------------------------------------------------- rendering


def _phases(rng: np.random.Generator, t: np.ndarray, n: int, jitter: float) -> np.ndarray:
    """(T, n) phases omega*t + phi (+ per-frame jitter). Draws the same numbers whatever `jitter` is,
    so a real and a fake rendered from one seed share everything but the flickering attributes."""
    omega = rng.uniform(*OMEGA_RANGE, size=n)
    phi = rng.uniform(0.0, 2 * np.pi, size=n)
    noise = rng.uniform(-np.pi, np.pi, size=(len(t), n))
    return omega * t[:, None] + phi + jitter * noise


def _grid(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates in [0, 1], each (1, H, W) so they broadcast over time."""
    y = (np.arange(height, dtype=np.float32) + 0.5) / height
    x = (np.arange(width, dtype=np.float32) + 0.5) / width
    yy, xx = np.meshgrid(y, x, indexing="ij")
    return yy[None], xx[None]


def _background(rng: np.random.Generator, kind: str, t: np.ndarray, yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
    """(T, H, W, 3) float background that drifts slowly, identically for reals and fakes."""
    tt = t[:, None, None].astype(np.float32)
    if kind == "plasma":  # three low-frequency plane waves mixed into colour
        angle = rng.uniform(0, 2 * np.pi, 3)
        freq = rng.uniform(0.5, 2.0, 3) * 2 * np.pi
        speed, phi = rng.uniform(0.02, 0.08, 3), rng.uniform(0, 2 * np.pi, 3)
        base, mix = rng.uniform(60, 190, 3), rng.uniform(-40, 40, (3, 3))
        waves = [np.sin(f * (np.cos(a) * xx + np.sin(a) * yy) + s * tt + p)
                 for a, f, s, p in zip(angle, freq, speed, phi)]
        return base + np.stack(waves, axis=-1) @ mix.T.astype(np.float32)
    if kind == "gradient":  # a two-colour linear gradient whose direction turns slowly
        start, end = rng.uniform(30, 220, 3), rng.uniform(30, 220, 3)
        angle = rng.uniform(0, 2 * np.pi) + rng.choice([-1, 1]) * rng.uniform(0.01, 0.04) * tt
        ramp = 0.5 + 0.7 * (np.cos(angle) * (xx - 0.5) + np.sin(angle) * (yy - 0.5))
        return start + np.clip(ramp, 0, 1)[..., None] * (end - start)
    raise ConfigError(f"unknown background {kind!r}", "background", f"choose one of {', '.join(BACKGROUNDS)}")


def render_video(
    rng_or_seed: np.random.Generator | int | None,
    *,
    family: str | None,
    frames: int = 24,
    height: int = 64,
    width: int = 64,
    flicker: float = 1.0,
    amplitude: float = 1.0,
    noise: float = 2.0,
    background: str | None = None,
) -> np.ndarray:
    """Render one video in memory: (T, H, W, 3) uint8 RGB. `family=None` renders a real video.

    `flicker` is the per-frame phase jitter of the family's attributes (a fraction of a half-turn; 1 re-draws
    them every frame), `amplitude` scales every attribute's range in reals and fakes alike, `noise` is the
    camera noise std in grey levels. The same seed with another `family` (and the same `background`) gives the
    same scene, differing only in that family's flicker; `flicker=0` reproduces the real video exactly.
    """
    if family is not None and family not in FAMILIES:
        raise ConfigError(f"unknown manipulation family {family!r}", "family", f"choose one of {', '.join(FAMILIES)}")
    _check_strengths(flicker, amplitude, noise)
    rng = np.random.default_rng(rng_or_seed)
    kind = background if background is not None else BACKGROUNDS[int(rng.integers(len(BACKGROUNDS)))]
    t = np.arange(frames, dtype=np.float64)
    yy, xx = _grid(height, width)

    def wave(owner: str, n: int) -> np.ndarray:  # (T, n) in [-1, 1], flickering only in fakes of `owner`
        return np.sin(_phases(rng, t, n, flicker if family == owner else 0.0)).astype(np.float32)

    bg = _background(rng, kind, t, yy, xx).astype(np.float32)  # (T, H, W, 3)

    # colour: a skin-like base per video, each channel swinging +-18 grey levels
    colour = rng.uniform([140, 90, 70], [220, 170, 150]) + 18 * amplitude * wave("color_flicker", 3)  # (T, 3)

    # boundary: centre, semi-axes (fractions of width / height) and tilt
    cx0, cy0 = rng.uniform(0.42, 0.58, 2)
    ax0, ay0 = rng.uniform(0.18, 0.24), rng.uniform(0.24, 0.30)
    tilt0 = rng.uniform(-0.3, 0.3)
    b = wave("boundary_jitter", 5)
    cx, cy = cx0 + 0.05 * amplitude * b[:, 0], cy0 + 0.05 * amplitude * b[:, 1]
    ax, ay = ax0 * (1 + 0.12 * amplitude * b[:, 2]), ay0 * (1 + 0.12 * amplitude * b[:, 3])
    tilt = tilt0 + 0.25 * amplitude * b[:, 4]

    # texture: two gratings fixed to the region; their phases are the attribute (uniform at every frame)
    orient = rng.uniform(0, np.pi, 2)
    cycles = rng.uniform(3.0, 6.0, 2) * 2 * np.pi
    contrast = rng.uniform(0.10, 0.18)
    tex_phase = _phases(rng, t, 2, flicker if family == "texture_flicker" else 0.0).astype(np.float32)

    # blend: opacity and edge softness (pixels) of the pasted region
    alpha0, soft0 = rng.uniform(0.68, 0.76), rng.uniform(1.0, 2.2)
    w = wave("blend_flicker", 2)
    alpha = np.clip(alpha0 + 0.22 * amplitude * w[:, 0], 0.0, 1.0)
    soft = np.maximum(soft0 * (1 + 0.6 * amplitude * w[:, 1]), 0.3)

    def per_frame(v: np.ndarray) -> np.ndarray:  # (T,) -> (T, 1, 1) float32
        return np.asarray(v, dtype=np.float32)[:, None, None]

    du, dv = xx - per_frame(cx), yy - per_frame(cy)  # (T, H, W) offsets from the region centre
    cos, sin = per_frame(np.cos(tilt)), per_frame(np.sin(tilt))
    u, v = cos * du + sin * dv, -sin * du + cos * dv  # region coordinates, turning with the tilt
    r = np.sqrt((u / per_frame(ax)) ** 2 + (v / per_frame(ay)) ** 2)  # 1 on the ellipse
    radius_px = np.sqrt(per_frame(ax) * width * per_frame(ay) * height)
    mask = 0.5 + 0.5 * np.tanh(0.5 * (1.0 - r) * radius_px / per_frame(soft))  # logistic soft edge, (T, H, W)
    texture = sum(np.sin(c * (np.cos(o) * u + np.sin(o) * v) + tex_phase[:, k, None, None])
                  for k, (o, c) in enumerate(zip(orient, cycles))) / 2
    shading = 1.0 - 0.15 * np.minimum(r, 1.0) ** 2  # a little relief so the region reads as a face
    face = colour[:, None, None, :].astype(np.float32) * (shading * (1 + contrast * texture))[..., None]

    weight = (per_frame(alpha) * mask)[..., None]
    video = bg * (1 - weight) + face * weight
    video += noise * rng.standard_normal(size=video.shape, dtype=np.float32)
    return np.clip(np.rint(video), 0, 255).astype(np.uint8)


# ---------------------------------------------------------------------------------------------- writing


def _write_frames(folder: Path, video: np.ndarray, fmt: str) -> None:
    folder.mkdir(parents=True)
    params = [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY] if fmt == "jpg" else [cv2.IMWRITE_PNG_COMPRESSION, 3]
    for index, frame in enumerate(video, start=1):
        path = folder / f"frame_{index:04d}.{fmt}"
        if not cv2.imwrite(str(path), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), params):
            raise StorageError("OpenCV could not write the frame", path,
                               "check that the folder is writable and has space")


def _formats(n: int, spec: SynthSpec, rng: np.random.Generator) -> list[str]:
    """Storage format of items 0..n-1 of a class; both classes of a split share it, so format says nothing."""
    n_mp4 = int(n * spec.mp4_fraction + 0.5)
    n_png = min(int(n * spec.png_fraction + 0.5), n - n_mp4)
    formats = ["mp4"] * n_mp4 + ["png"] * n_png + ["jpg"] * (n - n_mp4 - n_png)
    return [formats[i] for i in rng.permutation(n)]


def _write_split(split_dir: Path, split_index: int, spec: SynthSpec) -> pd.DataFrame:
    n = getattr(spec, SPLITS[split_index])
    formats = _formats(n, spec, np.random.default_rng([spec.seed, split_index]))
    rows = []
    for label, cls in enumerate(("real", "fake")):
        (split_dir / cls).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            # reals alternate backgrounds; each fake family alternates too, so sources balance per class
            family, number = ("real", i) if label == 0 else (FAMILIES[i % len(FAMILIES)], i // len(FAMILIES))
            kind = BACKGROUNDS[number % len(BACKGROUNDS)]
            video = render_video(
                np.random.default_rng([spec.seed, split_index, label, i]),
                family=None if label == 0 else family, frames=spec.frames, height=spec.height,
                width=spec.width, flicker=spec.flicker, amplitude=spec.amplitude, noise=spec.noise,
                background=kind,
            )
            fmt = formats[i]
            item = f"{cls}/{family}__{number + 1:04d}" + (".mp4" if fmt == "mp4" else "")
            if fmt == "mp4":
                write_video(split_dir / item, video, spec.fps)
            else:
                _write_frames(split_dir / item, video, fmt)
            rows.append((item, label, family, f"synth-{kind}", spec.frames, spec.height, spec.width, fmt))
    table = pd.DataFrame(rows, columns=list(MANIFEST_COLUMNS))
    write_text(split_dir / "manifest.csv", table.to_csv(index=False))
    return table


def _holds_files(folder: Path) -> bool:
    return folder.exists() and any(p.is_file() or p.is_symlink() for p in folder.rglob("*"))


def generate(out_dir: str | Path, spec: SynthSpec = SynthSpec(), *, overwrite: bool = False) -> pd.DataFrame:
    """Write `out_dir/{train,val,test}/{real,fake}/<item>` plus `out_dir/<split>/manifest.csv`.

    Returns the concatenated manifests with a leading `split` column. Refuses to touch a split folder that
    already holds files unless `overwrite=True`, which then removes only those split folders first.
    """
    out = Path(out_dir)
    occupied = [split for split in SPLITS if _holds_files(out / split)]
    if occupied and not overwrite:
        raise StorageError(f"folder already holds {', '.join(occupied)} data", out,
                           "choose another --out, or pass --overwrite (overwrite=True) to replace those split folders")
    for split in occupied:
        shutil.rmtree(out / split)
    tables = [_write_split(out / split, index, spec).assign(split=split) for index, split in enumerate(SPLITS)]
    return pd.concat(tables, ignore_index=True)[["split", *MANIFEST_COLUMNS]]
