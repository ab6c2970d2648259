"""Real-footage development set: fakes are temporal-only (single frames carry no label, frame-to-frame change does)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GroupKFold, cross_val_predict
from test_synth import _frame_features

from lab.cli.main import main
from lab.data.clip_split import SPLITS, allocate
from lab.data.clips import BY_NAME, CLIPS, load_clip
from lab.data.footage import FAMILIES, GHOST_AHEAD, FootageSpec, generate_footage, manipulate, plan_items
from lab.data.shots import draw_start, segments, shot_cuts
from lab.data.video import open_item
from lab.errors import ConfigError, DataError


@pytest.fixture(scope="module")
def footage(tmp_path_factory):
    root = tmp_path_factory.mktemp("footage")
    manifest = generate_footage(root, FootageSpec(train=48, val=0, test=0, frames=10, size=64, footage="embedded"))
    videos = [np.asarray(open_item(root / "train" / item).read(0, 10)) for item in manifest["item"]]
    return manifest, videos


def test_items_balance_family_severity_clip_and_format_across_labels(footage):
    manifest, videos = footage
    assert {v.shape for v in videos} == {(10, 64, 64, 3)}
    columns = ["severity", "source", "format"]
    real, fake = (manifest[manifest.label == k] for k in (0, 1))
    assert real[columns].reset_index(drop=True).equals(fake[columns].reset_index(drop=True))
    assert set(fake.family) == set(FAMILIES) and set(real.family) == {"real"}
    assert set(manifest.format) == {"png", "jpg", "mp4"} and len(set(manifest.source)) == 3


def test_single_frames_do_not_reveal_the_label(footage):
    # A random forest on per-frame colour, contrast, sharpness and layout statistics, cross-validated with
    # every frame of one item in the same fold. 96 items: the AUC's SD is about 0.06 at chance.
    manifest, videos = footage
    x = np.array([_frame_features(frame) for video in videos for frame in video[::3]])
    y = np.repeat(manifest.label.to_numpy(), len(videos[0][::3]))
    groups = np.repeat(np.arange(len(videos)), len(videos[0][::3]))
    forest = RandomForestClassifier(n_estimators=200, min_samples_leaf=3, random_state=0, n_jobs=2)
    scores = cross_val_predict(forest, x, y, groups=groups, cv=GroupKFold(4), method="predict_proba")[:, 1]
    auc = roc_auc_score(y, scores)
    print(f"per-frame AUC: {auc:.3f}")
    assert abs(auc - 0.5) < 0.15


def test_a_temporal_statistic_separates_the_classes(footage):
    # Mean |second-order frame difference| in the centre (where the edited region is) over the same in the
    # whole frame: the edit's frame-to-frame change against the clip's own motion.
    manifest, videos = footage

    def statistic(video: np.ndarray) -> float:
        x = video.astype(np.float32).mean(-1)
        s = x.shape[1]
        second = np.abs(np.diff(x, n=2, axis=0))
        return float(second[:, s // 4: 3 * s // 4, s // 4: 3 * s // 4].mean() / (second.mean() + 1e-3))

    auc = roc_auc_score(manifest.label, [statistic(v) for v in videos])
    print(f"temporal statistic AUC: {auc:.3f}")
    assert auc > 0.65


@pytest.mark.parametrize("family", FAMILIES)
def test_reals_keep_one_edit_and_fakes_redraw_it_per_frame(family):
    # On a still textured clip (for ghost_blend, a clip that brightens by 10 grey levels per frame, so frames
    # ahead differ) a real's edit, output minus input, is the same on every frame; a fake's is not.
    if family == "ghost_blend":
        clip = np.broadcast_to((40 + 10 * np.arange(12, dtype=np.uint8))[:, None, None, None], (12, 48, 48, 3))
    else:
        clip = np.repeat(np.random.default_rng(0).integers(40, 200, (1, 48, 48, 3), dtype=np.uint8), 12, axis=0)
    edits = {}
    for fake in (False, True):
        out = manipulate(np.ascontiguousarray(clip), family, 1.0, fake=fake, rng=np.random.default_rng(1), length=8)
        edits[fake] = out.astype(int) - clip[:8]
    assert np.abs(edits[False]).max() > 0  # the real is edited too
    assert np.abs(np.diff(edits[False], axis=0)).max() == 0
    assert np.abs(np.diff(edits[True], axis=0)).mean() > 0.1


def test_spec_rejects_bad_values():
    with pytest.raises(ConfigError, match="too few"):
        FootageSpec(frames=2)
    with pytest.raises(ConfigError, match="severities"):
        FootageSpec(severities=(0.0,))


def test_too_many_frames_fail_before_anything_is_written(tmp_path):
    with pytest.raises(ConfigError, match=r"give --frames <= 20"):  # carphone's val span: 24 frames, 4 read ahead
        generate_footage(tmp_path, FootageSpec(train=1, val=1, test=1, frames=21, footage="embedded"))
    assert not any(p.is_file() for p in tmp_path.rglob("*"))


def test_cli_refuses_an_occupied_folder(tmp_path, capsys):
    (tmp_path / "train" / "real").mkdir(parents=True)
    (tmp_path / "train" / "real" / "x.png").write_bytes(b"")
    assert main(["synth", "--real-footage", "--out", str(tmp_path)]) != 0
    err = capsys.readouterr().err
    assert "train" in err and "--overwrite" in err and "Traceback" not in err
    assert pd.Series(list((tmp_path / "train").rglob("*"))).size == 2  # nothing written or removed


# ------------------------------------------------------------------------------- shot cuts and the clip split


def test_shot_cuts_are_found_and_windows_never_span_one():
    rng = np.random.default_rng(0)
    first, second = (np.repeat(rng.integers(0, 256, (1, 48, 64, 3), dtype=np.uint8), 30, axis=0) for _ in range(2))
    drift = np.arange(30, dtype=np.uint8)[:, None, None, None] // 3  # a slow change inside each shot
    clip = np.concatenate([first + drift, second + drift])
    assert shot_cuts(clip) == [30]
    spans = segments(10, 55, [30])
    assert spans == [(10, 30), (30, 55)]
    starts = {draw_start(spans, 12, np.random.default_rng(seed)) for seed in range(400)}
    assert starts == set(range(10, 19)) | set(range(30, 44))  # every start, none spanning frame 30
    bikes, _ = load_clip("bikes")
    assert shot_cuts(bikes) == [30, 76, 137, 187, 242]


def test_embedded_items_never_span_a_cut_of_bikes(footage):
    manifest, _ = footage
    cuts = np.array([30, 76, 137, 187, 242])
    for start in manifest[manifest.source == "bikes"].start:
        assert not ((cuts > start) & (cuts < start + 10 + GHOST_AHEAD)).any(), start
    assert set(manifest.split_rule) == {"time 0.00-0.55"}
    assert {"fps", "start", "crop"} <= set(manifest.columns)


def test_the_fetched_set_is_split_by_clip():
    plan = plan_items(FootageSpec(footage="fetched", train=256, val=64, test=96), fetched=True)
    used = {split: set(plan[split]) for split in SPLITS}
    assert used["test"] == {c.name for c in CLIPS if c.role == "test"}  # every test clip, and only those
    assert not used["test"] & (used["train"] | used["val"])
    assert {"movie-hello", "megamind"} <= used["test"] and "vtest" in used["train"] | used["val"]
    for split in SPLITS:  # no clip holds more than a quarter of a split
        counts = pd.Series(plan[split]).value_counts()
        assert counts.max() <= 0.25 * len(plan[split]) + 1, (split, counts.to_dict())
    assert BY_NAME["movie-hello"].identity == "P3"  # the face-swap test identity is a test clip here too


def test_allocate_shares_items_in_proportion_with_a_cap():
    assert allocate(8, {"a": 1, "b": 1}) == ["a", "b"] * 4
    shares = pd.Series(allocate(100, {"big": 90, "mid": 5, "small": 5}, max_share=0.5)).value_counts()
    assert shares.to_dict() == {"big": 50, "mid": 25, "small": 25}
    assert allocate(3, {"a": 1, "b": 0}) == ["a"] * 3


def test_asking_for_the_fetched_footage_without_it_names_the_fetch_command(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LAB_CACHE_DIR", str(tmp_path / "empty"))
    with pytest.raises(DataError, match="run lab footage fetch$"):
        generate_footage(tmp_path / "out", FootageSpec(footage="fetched"))
    assert main(["synth", "--real-footage", "--footage", "fetched", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "run lab footage fetch" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()
