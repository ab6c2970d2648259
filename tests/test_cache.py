"""The decoded-frame cache (`lab cache build`, data.cache): the same windows and labels as decoding, frames equal
to the resized source, stale sources refused, interrupted builds leave nothing that looks complete. Real files: an
H.264 .mp4 with B-frames (PyAV), PNG and JPEG frame folders, a 16:9 video."""
from __future__ import annotations

import os
import pickle
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from _media import barcode_frames
from conftest import _synthetic_frames, _write_frames
from lab.cli.main import main
from lab.config import AugmentationConfig, ImageConfig, SequenceConfig
from lab.data.cache import cache_dir, cached_frame_size
from lab.data.cache_build import build_cache, resize_frames
from lab.data.dataset import FrameSequenceDataset, build_dataset
from lab.data.video import open_item, write_h264
from lab.errors import DataError

SEQ = SequenceConfig(length=8, stride=4)


def make_split(root: Path, height: int, width: int) -> Path:
    """real/: an H.264 .mp4 with B-frames and a JPEG folder; fake/: a PNG folder and a short item (padded)."""
    write_h264(root / "real" / "clip.mp4", barcode_frames(20, height, width), crf=18, gop=8)
    _write_frames(root / "real" / "jpgs", _synthetic_frames(12, height, width, seed=1), "jpg")
    _write_frames(root / "fake" / "pngs__01", _synthetic_frames(13, height, width, seed=2), "png")
    _write_frames(root / "fake" / "short__02", _synthetic_frames(5, height, width, seed=3), "png")
    return root


def dataset(root: Path, size: tuple[int, int], cache: str, train: bool = True) -> FrameSequenceDataset:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the padded short item is counted in a warning
        return build_dataset(root, SEQ, ImageConfig(height=size[0], width=size[1]), AugmentationConfig(), train,
                             cache=cache)


def seeded(ds: FrameSequenceDataset, i: int):
    torch.manual_seed(i)
    return ds[i]


def test_cached_dataset_yields_the_same_windows_labels_and_augmented_clips(tmp_path):
    root = make_split(tmp_path / "train", 24, 40)  # at or below the model input: stored as decoded
    built = build_cache(root, (32, 32), progress=False)
    assert (built.items, built.frames) == (4, 50) and (built.folder / "manifest.json").is_file()
    plain, cached = dataset(root, (32, 32), "off"), dataset(root, (32, 32), "auto")
    assert cached.cached and not plain.cached
    assert cached.windows == plain.windows and cached.labels == plain.labels and cached.items == plain.items
    for i in range(len(plain)):  # the random crop, flip and jitter still run, drawn the same under one seed
        (a, la), (b, lb) = seeded(plain, i), seeded(cached, i)
        assert la == lb and torch.equal(a, b)
    again = pickle.loads(pickle.dumps(cached))  # opened shards are not pickled into a worker
    assert not again.source("real/clip.mp4").shards._maps and torch.equal(seeded(again, 3)[0], seeded(plain, 3)[0])


def test_cached_frames_equal_the_resized_source_and_evaluation_stays_close(tmp_path):
    root = make_split(tmp_path / "val", 36, 64)  # 16:9, larger than the 16x16 model input: resized once
    build_cache(root, (16, 16), progress=False)
    cached, plain = dataset(root, (16, 16), "require", train=False), dataset(root, (16, 16), "off", train=False)
    assert cached_frame_size(36, 64, (16, 16)) == (16, 28)  # the centred 36x36 box becomes exactly 16x16
    for item in plain.items:
        source = open_item(root / item.name)
        expected = resize_frames(source.read(0, source.num_frames), (16, 28))
        got = cached.source(item.name).read(0, item.num_frames)
        assert np.abs(got.astype(int) - expected).max() <= 1  # <= 1/255
    diffs = [torch.abs(cached[i][0] - plain[i][0]).mean().item() for i in range(len(plain))]
    assert cached.windows == plain.windows and max(diffs) < 0.1  # normalised units: resample order only


def test_stale_cache_is_refused_with_one_line_naming_the_fix(tmp_path):
    root = make_split(tmp_path / "test", 24, 40)
    build_cache(root, (32, 32), progress=False)
    video = root / "real" / "clip.mp4"
    os.utime(video, ns=(video.stat().st_atime_ns, video.stat().st_mtime_ns + 10 ** 9))
    for mode in ("auto", "require"):
        with pytest.raises(DataError, match="stale: 'real/clip.mp4' changed") as err:
            dataset(root, (32, 32), mode)
        assert "\n" not in str(err.value) and f"lab cache build --data-dir {root} --size 32x32" in str(err.value)
    assert not dataset(root, (32, 32), "off").cached
    build_cache(root, (32, 32), progress=False)  # rebuilt: valid again
    _write_frames(root / "fake" / "new__03", _synthetic_frames(9, 24, 40), "png")
    with pytest.raises(DataError, match="'fake/new__03' was added"):
        dataset(root, (32, 32), "auto")


def test_failed_build_leaves_no_cache_and_require_says_how_to_build(tmp_path):
    root = make_split(tmp_path / "train", 24, 40)
    _write_frames(root / "real" / "zbroken", _synthetic_frames(3, 24, 40), "png")
    _write_frames(root / "real" / "zbroken", _synthetic_frames(1, 20, 40), "png", pattern="frame_9{}")  # mid-item
    with pytest.raises(DataError, match="frame is 40x20"):
        build_cache(root, (32, 32), progress=False)
    assert not cache_dir(root, (32, 32)).exists() and not list((root / ".lab-cache").iterdir())  # no leftovers
    with pytest.raises(DataError, match=r"no decoded-frame cache for 32x32 .*lab cache build"):
        dataset(root, (32, 32), "require")
    assert not dataset(root, (32, 32), "auto").cached  # auto decodes instead


def test_cli_builds_every_split_and_bad_input_is_one_line(tmp_path, capsys):
    make_split(tmp_path / "data" / "train", 24, 40)
    make_split(tmp_path / "data" / "val", 24, 40)
    assert main(["cache", "build", "--data-dir", str(tmp_path / "data"), "--size", "32", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert out.count("4 items, 50 frames") == 2 and dataset(tmp_path / "data" / "val", (32, 32), "require").cached
    for args in (["--data-dir", str(tmp_path / "missing")], ["--data-dir", str(tmp_path), "--size", "0"],
                 ["--data-dir", str(tmp_path / "data" / "train" / "real")]):
        assert main(["cache", "build", *args]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and err.count("\n") == 1, err
