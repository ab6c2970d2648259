"""Synthetic dataset: single frames carry no label signal, frame-to-frame changes do; files, manifest, seeds."""
import dataclasses
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import roc_auc_score

from lab.errors import ConfigError, StorageError
from lab.data.synth import FAMILIES, MANIFEST_COLUMNS, SPLITS, SynthSpec, generate, render_video

TINY = SynthSpec(train=4, val=1, test=1, frames=4, height=32, width=48, mp4_fraction=0.25, png_fraction=0.25)


def _frame_features(frame: np.ndarray) -> np.ndarray:
    """Per-frame statistics a shortcut-seeking classifier would use: colour, contrast, sharpness, layout."""
    pixels = frame.reshape(-1, 3).astype(np.float32)
    hist = [np.bincount(frame[..., c].ravel() // 32, minlength=8) / len(pixels) for c in range(3)]
    grey = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY).astype(np.float32)
    grad = np.hypot(cv2.Sobel(grey, cv2.CV_32F, 1, 0), cv2.Sobel(grey, cv2.CV_32F, 0, 1)).mean()
    lap = np.abs(cv2.Laplacian(grey, cv2.CV_32F)).mean()
    h, w = grey.shape
    centre = frame[h // 4: 3 * h // 4, w // 4: 3 * w // 4].reshape(-1, 3).astype(np.float32)
    layout = cv2.resize(grey, (4, 4), interpolation=cv2.INTER_AREA).ravel()
    return np.concatenate([*hist, pixels.mean(0), pixels.std(0), centre.mean(0), centre.std(0), [grad, lap], layout])


def _single_frames(tag: int, videos_per_class: int, **fake_kwargs) -> tuple[np.ndarray, np.ndarray]:
    """Features of frames 2 and 5 of many short videos; fakes cycle through every family."""
    features, labels = [], []
    for i in range(videos_per_class):
        for label in (0, 1):
            family = FAMILIES[i % len(FAMILIES)] if label else None
            video = render_video([tag, i, label], family=family, frames=6, **(fake_kwargs if label else {}))
            features += [_frame_features(frame) for frame in video[[2, 5]]]
            labels += [label, label]
    return np.array(features), np.array(labels)


def _per_frame_auc(videos_per_class: int, **fake_kwargs) -> float:
    """ROC-AUC of a random forest on single frames, trained and scored on disjoint sets of videos."""
    x_train, y_train = _single_frames(1, videos_per_class, **fake_kwargs)
    x_test, y_test = _single_frames(2, videos_per_class, **fake_kwargs)
    forest = RandomForestClassifier(n_estimators=200, min_samples_leaf=3, random_state=0, n_jobs=2)
    forest.fit(x_train, y_train)
    return roc_auc_score(y_test, forest.predict_proba(x_test)[:, 1])


def test_single_frames_do_not_reveal_the_label():
    # Held-out AUC has SD <= sqrt((2n+1)/(12n^2)) = 0.020 for n=200 videos per class even if both frames of a
    # video counted as one (over 10 seeds at n=150 we measured mean 0.500, SD 0.023), so +-0.07 is >= 3.5 SD.
    auc = _per_frame_auc(200)
    print(f"per-frame AUC (held-out videos): {auc:.3f}")
    assert abs(auc - 0.5) < 0.07


def test_per_frame_check_catches_a_per_frame_shortcut():
    # The same pipeline must notice a generator bug that leaks the label into single frames:
    # fakes with noisier "camera" frames (the classic compression/noise shortcut).
    auc = _per_frame_auc(40, noise=3.0)
    print(f"per-frame AUC with a noise shortcut: {auc:.3f}")
    assert auc > 0.9


def _mean_abs_diff(video: np.ndarray, order: int) -> float:
    return float(np.abs(np.diff(video.astype(np.float32), n=order, axis=0)).mean())


N_TEMPORAL = 40


@pytest.fixture(scope="module")
def real_videos():
    return [render_video([3, i], family=None) for i in range(N_TEMPORAL)]


@pytest.mark.parametrize("family", FAMILIES)
def test_frame_differences_separate_every_family(family, real_videos):
    n, reals = N_TEMPORAL, real_videos
    fakes = [render_video([4, i], family=family) for i in range(n)]
    labels = np.r_[np.zeros(n), np.ones(n)]
    # first difference: what the model's residual stream sees; second difference: a smooth trajectory has
    # almost no acceleration, so only camera noise remains in reals
    auc1, auc2 = (roc_auc_score(labels, [_mean_abs_diff(v, order) for v in reals + fakes]) for order in (1, 2))
    print(f"{family}: AUC mean|frame diff| {auc1:.3f}, mean|second diff| {auc2:.3f}")
    assert auc1 > 0.9 and auc2 > 0.99


def test_zero_flicker_fake_equals_its_real_and_flicker_changes_only_time():
    real = render_video(7, family=None)
    for family in FAMILIES:
        assert np.array_equal(render_video(7, family=family, flicker=0.0), real)
        fake = render_video(7, family=family)
        assert not np.array_equal(fake, real)
        assert _mean_abs_diff(fake, 1) > _mean_abs_diff(real, 1)


def test_render_video_shape_dtype_seed():
    video = render_video(5, family="boundary_jitter", frames=7, height=40, width=72)
    assert video.shape == (7, 40, 72, 3) and video.dtype == np.uint8
    assert np.array_equal(video, render_video(np.random.default_rng(5), family="boundary_jitter", frames=7,
                                              height=40, width=72))
    assert not np.array_equal(video, render_video(6, family="boundary_jitter", frames=7, height=40, width=72))
    assert 20 < video.mean() < 235 and video.std() > 10  # a scene, not a flat or saturated frame
    with pytest.raises(ConfigError, match="unknown manipulation family"):
        render_video(0, family="face_swap")


def _read_mp4(path: Path) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            return frames
        frames.append(frame)


def test_generate_default_spec_layout_and_manifest(tmp_path):
    spec = SynthSpec()
    table = generate(tmp_path, spec)
    assert list(table.columns) == ["split", *MANIFEST_COLUMNS]
    for split in SPLITS:
        rows = table[table.split == split].drop(columns="split").reset_index(drop=True)
        on_disk = pd.read_csv(tmp_path / split / "manifest.csv")
        pd.testing.assert_frame_equal(on_disk, rows, check_dtype=False)
        n = getattr(spec, split)
        assert (rows.label == 0).sum() == n and (rows.label == 1).sum() == n
        per_family = rows[rows.label == 1].family.value_counts()
        assert set(per_family.index) == set(FAMILIES) and per_family.max() - per_family.min() <= 1
        assert (rows[rows.label == 0].family == "real").all()
        # both classes share the same format counts, so the file type says nothing about the label
        counts = rows.groupby(["label", "format"]).size().unstack()
        assert (counts.loc[0] == counts.loc[1]).all() and {"jpg", "png", "mp4"} <= set(counts.columns)
        for row in rows.itertuples():
            cls = "fake" if row.label else "real"
            name = Path(row.item).name
            assert row.item.startswith(f"{cls}/") and name.startswith(f"{row.family}__")
            assert row.source in ("synth-plasma", "synth-gradient")
            path = tmp_path / split / row.item
            if row.format == "mp4":
                assert name.endswith(".mp4") and path.is_file()
                frames = _read_mp4(path)
                assert len(frames) == spec.frames and frames[0].shape == (spec.height, spec.width, 3)
            else:
                files = sorted(path.iterdir())
                assert [f.name for f in files] == [f"frame_{k:04d}.{row.format}" for k in range(1, spec.frames + 1)]
                assert cv2.imread(str(files[0])).shape == (spec.height, spec.width, 3)


def _frame_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("frame_*"))}


def test_generate_is_deterministic_by_seed(tmp_path):
    first = generate(tmp_path / "a", TINY)
    again = generate(tmp_path / "b", TINY)
    other = generate(tmp_path / "c", dataclasses.replace(TINY, seed=7))
    pd.testing.assert_frame_equal(first, again)
    assert len(other) == len(first)
    a, b, c = (_frame_bytes(tmp_path / name) for name in "abc")
    assert a and a == b
    shared = a.keys() & c.keys()  # the seed also decides which items are mp4, png or jpg
    assert shared and all(a[name] != c[name] for name in shared)


def test_generate_refuses_to_overwrite_unless_asked(tmp_path):
    generate(tmp_path, TINY)
    (tmp_path / "notes.txt").write_text("keep me")
    stray = tmp_path / "train" / "fake" / "stray.txt"
    stray.write_text("from an earlier run")
    with pytest.raises(StorageError, match="overwrite=True"):
        generate(tmp_path, TINY)
    assert stray.exists()
    table = generate(tmp_path, TINY, overwrite=True)
    assert not stray.exists() and (tmp_path / "notes.txt").read_text() == "keep me"
    assert len(table) == 2 * (TINY.train + TINY.val + TINY.test)


@pytest.mark.parametrize("changes, message", [
    ({"flicker": 1.5}, "flicker"),
    ({"train": -1}, "train"),
    ({"mp4_fraction": 0.8, "png_fraction": 0.3}, "sum to at most 1"),
    ({"height": 63}, "even"),
    ({"frames": 1}, "frames"),
])
def test_spec_rejects_bad_values(changes, message):
    with pytest.raises(ConfigError, match=message):
        SynthSpec(**changes)
