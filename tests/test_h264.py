"""Decoding the files real datasets ship: H.264 .mp4 with B-frames and GOPs longer than a window, 16:9,
hundreds of frames, variable frame rate, rotation metadata. Random access must equal a sequential decode."""
from __future__ import annotations

import random

import numpy as np
import pytest

pytestmark = pytest.mark.filterwarnings("ignore:.* has no (real|fake) items:UserWarning")

from _media import barcode_frames, picture_types, read_barcode, set_rotation
from lab.data.dataset import FrameSequenceDataset
from lab.data.video import VideoFile, frame_times, seeks_exactly, write_h264

T, STRIDE = 16, 5


def _sequential(source: VideoFile) -> np.ndarray:
    return np.stack(list(source.iter_frames()))


def _assert_windows_match_sequential(root, all_frames: np.ndarray, item: str) -> None:
    ds = FrameSequenceDataset(root, T, STRIDE)
    order = list(range(len(ds)))
    random.Random(0).shuffle(order)  # random access, as a shuffled DataLoader reads
    for index in order:
        w = ds.windows[index]
        clip = ds.read_clip(index)
        assert np.array_equal(clip, all_frames[w.start:w.start + T]), (item, w.start)
        assert [read_barcode(f) for f in clip] == list(range(w.start, w.start + T))


def test_h264_with_b_frames_and_long_gop_reads_exact_windows_in_any_order(tmp_path):
    n = 240  # 16:9, more frames than a few GOPs
    path = write_h264(tmp_path / "data" / "real" / "clip.mp4", barcode_frames(n, 144, 256), fps=25, gop=60, bframes=3)
    types = picture_types(path)
    assert len(types) == n and types.count("B") > n // 3  # really has B-frames
    keyframes = [i for i, t in enumerate(types) if t == "I"]
    assert min(np.diff(keyframes)) > T  # a window never starts on a fresh GOP by luck
    source = VideoFile(path)
    assert source.num_frames == n and source.seekable
    everything = _sequential(source)
    assert everything.shape == (n, 144, 256, 3)
    assert [read_barcode(f) for f in everything] == list(range(n))
    _assert_windows_match_sequential(tmp_path / "data", everything, "clip.mp4")


def test_variable_frame_rate_windows_hold_the_frames_a_sequential_decode_gives(tmp_path):
    n = 120
    rng = np.random.default_rng(0)
    times = np.concatenate([[0.0], np.cumsum(rng.choice([0.02, 0.04, 0.08], n - 1))])  # 50, 25 and 12.5 fps stretches
    path = write_h264(tmp_path / "data" / "fake" / "vfr.mp4", barcode_frames(n, 72, 128), times=times)
    source = VideoFile(path)
    assert source.num_frames == n
    assert not source.seekable  # OpenCV's frame-number seek would land on the wrong frames here
    np.testing.assert_allclose(frame_times(path), times, atol=1e-4)
    everything = _sequential(source)
    assert [read_barcode(f) for f in everything] == list(range(n))  # index = position in presentation order
    _assert_windows_match_sequential(tmp_path / "data", everything, "vfr.mp4")


def test_constant_rate_check_is_exact_arithmetic():
    assert seeks_exactly(np.arange(100) / 29.97, 29.97002997, 100)
    assert seeks_exactly(np.arange(50) * 0.033 + np.tile([0, 0.001], 25), 30.0, 50)  # ms-rounded timestamps
    assert not seeks_exactly(np.r_[np.arange(10), np.arange(11, 20)] / 25, 25.0, 19)  # one dropped frame
    assert not seeks_exactly(None, 25.0, 10) and not seeks_exactly(np.arange(9) / 25, 25.0, 10)


@pytest.mark.parametrize("degrees", [90, 270])
def test_rotated_phone_video_gives_upright_frames_in_every_reader(tmp_path, degrees):
    n = 40
    path = set_rotation(write_h264(tmp_path / "data" / "real" / "phone.mp4", barcode_frames(n, 72, 128)), degrees)
    source = VideoFile(path)
    assert source.rotation == degrees
    everything = _sequential(source)
    assert everything.shape == (n, 128, 72, 3)  # portrait, as a player shows it
    k = 1 if degrees == 90 else -1  # undo the display rotation to read the barcode drawn before it
    assert [read_barcode(np.rot90(f, k)) for f in everything] == list(range(n))
    ds = FrameSequenceDataset(tmp_path / "data", T, STRIDE)
    for index in (2, 0, 1):
        w = ds.windows[index]
        assert np.array_equal(ds.read_clip(index), everything[w.start:w.start + T])
