"""Shared test helpers: tiny synthetic clips written as real files (mp4 via cv2.VideoWriter, jpg/png folders).

Fixtures return plain functions, so a test asks for `write_video` and calls it:
    write_video(tmp_path / "a.mp4", indexed_frames(12))
Frames are RGB uint8 `(T, H, W, 3)`; keep them tiny (e.g. 32x48, 5-20 frames).
"""
from __future__ import annotations

import os

# One intra-op thread for the whole run, this process and every process it starts (train.py, torchrun ranks,
# notebook kernels), set before torch, numpy and OpenCV load: the tests' tensors are tiny, and on a 2-core runner
# two threads per process spin against the other processes (a tiny 2-epoch fit took 24 s with two threads on a
# busy machine, 2.3 s with one). OMP_NUM_THREADS given by the caller wins.
os.environ.setdefault("OMP_NUM_THREADS", "1")

from pathlib import Path  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

# Session fixtures (tiny synthetic dataset, tiny trained checkpoint) live in _fixtures.py; importing
# them here registers them for every test module.
from _fixtures import synth_root, tiny_checkpoint, tiny_run  # noqa: F401
# nbval's notebook cells (make test): tiny parameters, outputs in a temporary folder, see _nbval.py
from _nbval import pytest_collection_modifyitems  # noqa: F401
# registry files (footage, dlib's models) fetched once into pytest's cache folder, see _registry.py
from _registry import private_cache, pytest_configure, registry_cache  # noqa: F401


def _indexed_frames(n: int, height: int = 32, width: int = 48, base: int = 20, step: int = 10) -> np.ndarray:
    """Flat grey frames whose brightness encodes the frame index: value = base + step * i (clipped).
    Flat frames survive lossy mp4v nearly intact, so a decoded frame's mean identifies its index."""
    values = np.clip(base + step * np.arange(n), 0, 255).astype(np.uint8)
    return np.broadcast_to(values[:, None, None, None], (n, height, width, 3)).copy()


def _synthetic_frames(n: int, height: int = 32, width: int = 48, seed: int = 0) -> np.ndarray:
    """Smooth coloured texture drifting one pixel per frame (not symmetric, compresses well)."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, size=(max(height // 8, 2), max(width // 8, 2) * 2, 3), dtype=np.uint8)
    wide = cv2.resize(coarse, (width * 2, height), interpolation=cv2.INTER_LINEAR)
    return np.stack([wide[:, i % width:i % width + width] for i in range(n)])


def _write_video(path: str | Path, frames: np.ndarray, fps: float = 10.0, fourcc: str = "mp4v") -> Path:
    """Encode RGB `(T, H, W, 3)` uint8 frames into a real video file with OpenCV."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    height, width = frames.shape[1:3]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (width, height))
    assert writer.isOpened(), f"cv2.VideoWriter cannot write {path} with {fourcc}"
    for frame in frames:
        writer.write(cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def _write_frames(folder: str | Path, frames: np.ndarray, ext: str = "jpg", pattern: str = "frame_{}") -> list[Path]:
    """Write RGB `(T, H, W, 3)` frames (or `(T, H, W)` grey / `(T, H, W, 4)` RGBA) as `pattern.format(i)`
    with i = 1..T, unpadded by default so natural order matters (frame_2 before frame_10)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, frame in enumerate(frames, start=1):
        if frame.ndim == 3 and frame.shape[2] == 3:
            frame = cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2BGR)
        elif frame.ndim == 3 and frame.shape[2] == 4:
            frame = cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGBA2BGRA)
        path = folder / f"{pattern.format(i)}.{ext}"
        assert cv2.imwrite(str(path), frame), f"cannot write {path}"
        paths.append(path)
    return paths


@pytest.fixture
def indexed_frames():
    return _indexed_frames


@pytest.fixture
def synthetic_frames():
    return _synthetic_frames


@pytest.fixture
def write_video():
    return _write_video


@pytest.fixture
def write_frames():
    return _write_frames


@pytest.fixture
def mixed_dataset(tmp_path: Path) -> Path:
    """`root/{real,fake}` mixing a JPEG folder, a PNG folder and .mp4 files of different sizes and lengths.
    real: 2 items (12 + 9 frames), fake: 2 items (10 + 14 frames); family names use `family__NNNN`."""
    root = tmp_path / "data"
    _write_frames(root / "real" / "jpgclip", _synthetic_frames(12, 32, 48, seed=1), ext="jpg")
    _write_video(root / "real" / "movie.mp4", _synthetic_frames(9, 40, 56, seed=2))
    _write_frames(root / "fake" / "flicker__0001", _synthetic_frames(10, 24, 32, seed=3), ext="png")
    _write_video(root / "fake" / "warp__0002.mp4", _synthetic_frames(14, 32, 48, seed=4))
    return root


@pytest.fixture
def one_thread():
    """One intra-op torch thread for the test: on a shared 2-core runner two threads spin against other processes
    (tiny forwards ran 20-30x slower with two)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
