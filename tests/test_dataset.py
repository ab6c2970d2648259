"""Windowing over real/fake items (frame folders and real .mp4 files), policies, errors, sampler, workers."""
from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from lab.config import AugmentationConfig, ImageConfig, SequenceConfig
from lab.data.dataset import FrameSequenceDataset, Window, build_dataset, make_weighted_sampler, window_starts
from lab.errors import DataError

NATIVE = {"real/jpgclip": (32, 48), "real/movie.mp4": (40, 56), "fake/flicker__0001": (24, 32),
          "fake/warp__0002.mp4": (32, 48)}


def quiet(*args, **kwargs) -> FrameSequenceDataset:
    """Build a dataset, failing on any warning (the happy paths must be silent)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return FrameSequenceDataset(*args, **kwargs)


def test_window_starts_floor_policy_and_even_spread():
    assert window_starts(20, 8, 4) == [0, 4, 8, 12]  # 16 + 8 > 20 -> stop; frames 20.. none left
    assert window_starts(21, 8, 4) == [0, 4, 8, 12]  # tail frame 20 uncovered (floor policy)
    assert window_starts(8, 8, 3) == [0] and window_starts(7, 8, 3) == []
    assert window_starts(100, 10, 1, max_windows=3) == [15, 45, 75]  # middle of each third of 91 starts
    assert window_starts(20, 8, 4, max_windows=10) == [0, 4, 8, 12]


def test_mixed_folder_of_jpg_png_and_mp4_items(mixed_dataset):
    ds = quiet(mixed_dataset, sequence_length=8, stride=4)
    assert [i.name for i in ds.items] == list(NATIVE)
    assert [(i.name, i.num_frames) for i in ds.items] == [
        ("real/jpgclip", 12), ("real/movie.mp4", 9), ("fake/flicker__0001", 10), ("fake/warp__0002.mp4", 14)]
    assert [(w.item, w.start) for w in ds.windows] == [
        ("real/jpgclip", 0), ("real/jpgclip", 4), ("real/movie.mp4", 0), ("fake/flicker__0001", 0),
        ("fake/warp__0002.mp4", 0), ("fake/warp__0002.mp4", 4)]
    assert ds.labels == [0, 0, 0, 1, 1, 1]
    for i, window in enumerate(ds.windows):
        clip, label = ds[i]
        assert clip.shape == (8, 3, *NATIVE[window.item]) and clip.dtype == torch.float32
        assert 0.0 <= clip.min() and clip.max() <= 1.0 and label == window.label
    meta = ds.metadata()
    assert list(meta.columns) == ["item", "label", "start", "length", "num_frames", "family", "padded"]
    assert list(meta["family"]) == ["real", "real", "real", "flicker", "warp", "warp"]


def test_build_dataset_wires_config_and_transform(mixed_dataset):
    seq = SequenceConfig(length=8, stride=4)
    ds = build_dataset(mixed_dataset, seq, ImageConfig(height=16, width=20), AugmentationConfig(), train=True)
    clips = [ds[i][0] for i in range(len(ds))]
    assert all(c.shape == (8, 3, 16, 20) and c.dtype == torch.float32 for c in clips)
    assert min(c.min() for c in clips) < 0  # normalised, not [0, 1]


def test_video_window_returns_exactly_its_frames(tmp_path, write_video, indexed_frames):
    write_video(tmp_path / "real" / "ramp.mp4", indexed_frames(20))
    with pytest.warns(UserWarning, match="has no fake items"):  # one class is allowed, but said
        ds = FrameSequenceDataset(tmp_path, sequence_length=5, stride=3)
    assert [w.start for w in ds.windows] == [0, 3, 6, 9, 12, 15]
    for i, w in enumerate(ds.windows):
        levels = ds[i][0].mean(dim=(1, 2, 3)).numpy() * 255
        assert np.all(np.diff(levels) > 0)
        assert np.allclose(levels, 20 + 10 * np.arange(w.start, w.start + 5), atol=6)


def test_items_are_in_natural_order(tmp_path, write_frames, indexed_frames):
    for n in (10, 2, 1):
        write_frames(tmp_path / "fake" / f"clip_{n}", indexed_frames(3), ext="png")
    with pytest.warns(UserWarning, match="has no real items"):
        ds = FrameSequenceDataset(tmp_path, 3, 1)
    assert [i.name for i in ds.items] == ["fake/clip_1", "fake/clip_2", "fake/clip_10"]


def test_short_items_pad_with_a_counted_warning(mixed_dataset):
    with pytest.warns(UserWarning, match=r"2 of 4 items in .* are shorter than 11 frames; padded by repeating"):
        ds = FrameSequenceDataset(mixed_dataset, sequence_length=11, stride=4)
    padded = [w for w in ds.windows if w.padded]
    assert [(w.item, w.length) for w in padded] == [("real/movie.mp4", 9), ("fake/flicker__0001", 10)]
    index = ds.windows.index(padded[1])
    clip, _ = ds[index]
    assert clip.shape[0] == 11 and torch.equal(clip[9], clip[10])  # last real frame repeated


def test_short_items_skip_warns_and_error_names_the_item(mixed_dataset):
    with pytest.warns(UserWarning, match="2 of 4 items .* skipped"):
        ds = FrameSequenceDataset(mixed_dataset, sequence_length=11, stride=4, short_items="skip")
    assert {w.item for w in ds.windows} == {"real/jpgclip", "fake/warp__0002.mp4"}
    with pytest.raises(DataError, match=r"item has 9 frames, fewer than one window of 11 \(.*movie.mp4\)"):
        FrameSequenceDataset(mixed_dataset, sequence_length=11, stride=4, short_items="error")


def test_max_windows_per_item_spreads_windows(tmp_path, write_frames, indexed_frames):
    write_frames(tmp_path / "real" / "long", indexed_frames(40, 8, 8), ext="png")
    with pytest.warns(UserWarning, match="has no fake items"):
        ds = FrameSequenceDataset(tmp_path, 4, 1, max_windows_per_item=3)
    assert [w.start for w in ds.windows] == [6, 18, 30]


def test_family_comes_from_manifest_when_present(mixed_dataset):
    (mixed_dataset / "manifest.csv").write_text(
        "item,label,family\nreal/jpgclip,0,real\nreal/movie.mp4,0,real\nfake/flicker__0001,1,color_flicker\n"
        "fake/warp__0002,1,warp_v2\n")  # a video may be listed without its extension
    ds = quiet(mixed_dataset, 8, 4)
    assert {i.name: i.family for i in ds.items}["fake/flicker__0001"] == "color_flicker"
    assert {i.name: i.family for i in ds.items}["fake/warp__0002.mp4"] == "warp_v2"
    (mixed_dataset / "manifest.csv").write_text("item,label,family\nreal/jpgclip,1,real\n")
    with pytest.raises(DataError, match="label 1 to 'real/jpgclip'"):
        FrameSequenceDataset(mixed_dataset, 8, 4)


def test_bad_roots_raise_one_line_data_errors(tmp_path):
    def error(root) -> str:
        with pytest.raises(DataError) as info:
            FrameSequenceDataset(root, 4, 2)
        assert "\n" not in str(info.value)
        return str(info.value)

    assert "does not exist" in error(tmp_path / "nope") and "nope)" in error(tmp_path / "nope")
    assert "no real/ or fake/" in error(tmp_path)
    (tmp_path / "real").mkdir()
    assert "holds no items" in error(tmp_path)
    (tmp_path / "real" / "empty_item").mkdir()
    assert "holds no .jpg" in error(tmp_path) and "empty_item)" in error(tmp_path)


def test_stray_files_are_counted_and_unreadable_frames_named(tmp_path, write_frames, indexed_frames):
    write_frames(tmp_path / "real" / "a", indexed_frames(4), ext="jpg")
    write_frames(tmp_path / "fake" / "b", indexed_frames(4), ext="jpg")
    (tmp_path / "fake" / "readme.txt").write_text("stray")
    (tmp_path / "fake" / "c.jpg").write_bytes(b"")
    with pytest.warns(UserWarning, match="2 file.* neither frame folders nor videos"):
        ds = FrameSequenceDataset(tmp_path, 4, 2)
    (tmp_path / "fake" / "b" / "frame_3.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(DataError, match="frame_3.jpg"):
        ds[1]


def test_weighted_sampler_balances_classes():
    labels = [0] * 90 + [1] * 10
    sampler = make_weighted_sampler(labels, num_samples=20000, generator=torch.Generator().manual_seed(0))
    drawn = np.asarray(labels)[list(sampler)]
    assert len(drawn) == 20000 and abs(drawn.mean() - 0.5) < 0.02


def test_dataloader_with_two_workers_reads_videos(tmp_path, write_video, synthetic_frames):
    for k, cls in enumerate(["real", "fake", "real", "fake"]):
        write_video(tmp_path / cls / f"v{k}.mp4", synthetic_frames(10 + k, seed=k))
    ds = FrameSequenceDataset(tmp_path, 6, 3)
    ds = pickle.loads(pickle.dumps(ds))  # plain data only: safe under spawn/forkserver too
    loader = DataLoader(ds, batch_size=2, num_workers=2, shuffle=False)
    clips, labels = zip(*loader)
    clips, labels = torch.cat(clips), torch.cat(labels)
    assert clips.shape == (len(ds), 6, 3, 32, 48) and labels.tolist() == ds.labels
    assert torch.equal(clips[3], ds[3][0])  # workers decode what the main process decodes
