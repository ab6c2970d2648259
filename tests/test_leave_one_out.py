"""Leave-one-family-out: the held-out family's fakes never reach training or validation, every fold runs, the table
is written, a rerun skips finished folds (and reruns only a deleted one, to the same numbers), and a different
config in the same folder is refused. Plus the pure pieces: held-out scores, compared models, the dataset filter."""
import json
import shutil

import pandas as pd
import pytest

from _fixtures import ROOT, TINY_OVERRIDES, tiny_config
from lab.cli.main import main
from lab.data.dataset import FrameSequenceDataset, build_dataset, fake_families
from lab.errors import ConfigError, DataError, StorageError
from lab.experiments.holdout import holdout_markdown, holdout_scores, holdout_table
from lab.experiments.leave_one_out import compared_models, leave_one_out
from lab.runtime.checkpoint import read_checkpoint

FAMILIES = ["boundary_jitter", "color_flicker"]


@pytest.fixture(scope="module")
def two_families(tmp_path_factory):
    """The synthetic set cut to two fake families (4/2/2 videos per class, 8 frames of 32x32); the manifest still
    lists the removed items, as a user's manifest may."""
    from lab.data.synth import SynthSpec, generate

    root = tmp_path_factory.mktemp("two")
    generate(root, SynthSpec(train=4, val=2, test=2, frames=8, height=32, width=32, seed=5))
    for item in (root / "train" / "fake").iterdir():
        if not item.name.startswith(tuple(FAMILIES)):
            shutil.rmtree(item) if item.is_dir() else item.unlink()
    assert {s: sorted(fake_families(root / s)) for s in ("train", "val", "test")} == {s: FAMILIES for s in
                                                                                       ("train", "val", "test")}
    return root


def test_every_fold_runs_resumes_and_a_different_config_is_refused(two_families, tmp_path, capsys):
    cfg = tiny_config(two_families, "training.epochs=1", "sequence.max_windows_per_item=1")
    out, said = tmp_path / "loo", []
    result = leave_one_out(cfg, out, progress=False, say=said.append)

    assert sorted(result.ran) == [f"config/{f}" for f in FAMILIES] and result.skipped == ()
    assert list(result.table["held_out"]) == FAMILIES
    table = pd.read_csv(out / "table.csv")
    assert list(table["held_out"]) == FAMILIES and table["held_out_auc"].between(0, 1).all()
    assert (table["n_held_out"] == 1).all() and (table["n_in_domain"] == 1).all() and (table["n_real"] == 2).all()
    assert "| boundary_jitter | convlstm (config) |" in (out / "table.md").read_text()
    assert (out / "table.png").read_bytes()[:4] == b"\x89PNG"

    # The held-out family never reaches training: fit's own loader reports leaving it out, the checkpoint says so,
    # and a dataset built from that checkpoint's config holds none of its fakes (while the split does).
    printed = capsys.readouterr().out
    for family in FAMILIES:
        assert f"held out: {family} (1 train fakes)" in printed
        record = json.loads((out / "folds" / "config" / family / "fold.json").read_text())
        assert record["train_families"] == next(f for f in FAMILIES if f != family)
        trained = read_checkpoint(record["checkpoint"])["config"]["data"]
        assert trained["held_out_families"] == [family]
        for split in ("train_dir", "val_dir"):
            ds = build_dataset(trained[split], cfg.sequence, cfg.image, cfg.augmentation, False,
                               held_out_families=[family])
            assert family not in {i.family for i in ds.items if i.label == 1} and ds.held_out == {family: 1}

    again = leave_one_out(cfg, out, progress=False, say=said.append)
    assert again.ran == () and sorted(again.skipped) == sorted(result.ran)
    assert sum("finished earlier, skipped" in line for line in said) == 2
    pd.testing.assert_frame_equal(again.table, result.table)

    # A fold killed before its scores were written runs again, alone, from its last checkpoint: here one whose
    # training had ended (last.pth at the final epoch, no history.csv), so the resumed run only re-evaluates it.
    fold = out / "folds" / "config" / "color_flicker"
    (fold / "fold.json").unlink()
    (fold / "history.csv").unlink()
    said.clear()
    rerun = leave_one_out(cfg, out, progress=False, say=said.append)
    assert rerun.ran == ("config/color_flicker",) and rerun.skipped == ("config/boundary_jitter",)
    assert any("color_flicker / convlstm (config): resuming from" in line for line in said)
    pd.testing.assert_frame_equal(rerun.table.drop(columns="train_seconds"), result.table.drop(columns="train_seconds"))

    before = (out / "experiment.json").read_text()
    with pytest.raises(StorageError, match=r"another config \(training.epochs 1 -> 2\)"):
        leave_one_out(cfg.replace("training.epochs=2"), out, progress=False)
    assert (out / "experiment.json").read_text() == before and (out / "folds" / "config" / "color_flicker").is_dir()

    # The command line: the same config resumes (nothing trains), another is one error line, exit 2.
    flags = ["experiment", "leave-one-out", "--config", str(ROOT / "config/model_config.yaml"), "--data-config",
             str(ROOT / "config/data_config.yaml"), "--data-dir", str(two_families), "--out", str(out),
             "--no-progress", *[f"--set={o}" for o in (*TINY_OVERRIDES, "sequence.max_windows_per_item=1")]]
    assert main([*flags, "--epochs", "1"]) == 0
    assert "2 finished earlier" in capsys.readouterr().out
    assert main([*flags, "--epochs", "3"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: folder holds a leave-one-out run of another config (training.epochs 1 -> 3)")
    assert len(err.splitlines()) == 1 and "--overwrite" in err


def test_bad_families_and_compare_entries_fail_before_training(two_families, tmp_path):
    cfg = tiny_config(two_families)
    with pytest.raises(DataError, match="'texture_flicker' has no fake in the training split"):
        leave_one_out(cfg, tmp_path / "a", families=["texture_flicker"])
    with pytest.raises(ConfigError, match="unknown config key"):
        leave_one_out(cfg, tmp_path / "b", compare=["model.temporl=frame"])
    with pytest.raises(ConfigError, match="sets data.held_out_families itself"):
        leave_one_out(cfg.replace("data.held_out_families=[color_flicker]"), tmp_path / "c")
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "notes.txt").write_text("mine")
    with pytest.raises(StorageError, match="did not write"):
        leave_one_out(cfg, tmp_path / "d", overwrite=True)  # never deletes what it did not write
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_compared_models_from_strings_lists_and_mappings(two_families):
    cfg = tiny_config(two_families)
    models = compared_models(cfg, ["model.temporal=frame", {"model.temporal": "frame", "model.input_streams": ["rgb"]},
                                   ["model.pooling=last", "training.epochs=3"]])
    assert [m.label for m in models] == ["convlstm (config)", "model.temporal=frame",
                                         'model.temporal=frame, model.input_streams=["rgb"]',
                                         "model.pooling=last, training.epochs=3"]
    assert models[2].overrides == ("model.temporal=frame", 'model.input_streams=["rgb"]')
    assert cfg.replace(*models[2].overrides).model.input_streams == ("rgb",)
    assert len({m.slug for m in models}) == 4 and all("/" not in m.slug for m in models)
    with pytest.raises(ConfigError, match="listed twice"):
        compared_models(cfg, ["model.temporal=frame", {"model.temporal": "frame"}])
    with pytest.raises(ConfigError, match="key=value"):
        compared_models(cfg, ["frame"])


def test_held_out_family_is_left_out_of_a_dataset_and_must_exist(synth_root, tmp_path):
    ds = FrameSequenceDataset(synth_root / "train", 4, 4, held_out_families={"color_flicker"})
    assert ds.held_out == {"color_flicker": 1}
    assert "color_flicker" not in {i.family for i in ds.items} and sum(i.label == 0 for i in ds.items) == 4
    from lab.training.loop import fit

    with pytest.raises(DataError, match="'colour_flicker' names no fake item of the training split"):
        fit(tiny_config(synth_root, "data.held_out_families=[colour_flicker]"), checkpoint_dir=tmp_path / "c",
            log_dir=tmp_path / "l", progress=False)


def test_holdout_scores_rank_reals_against_each_group():
    videos = pd.DataFrame({"label": [0, 0, 0, 1, 1, 1, 1, 1],
                           "family": ["real"] * 3 + ["seen_a", "seen_b", "new", "new", "unused"],
                           "score": [0.1, 0.2, 0.6, 0.9, 0.8, 0.3, 0.7, 0.0]})
    windows = videos.rename(columns={"score": "prob_fake"})
    s = holdout_scores(videos, windows, "new", ["seen_a", "seen_b"], threshold=0.5)
    assert s["in_domain_auc"] == 1.0 and s["held_out_auc"] == pytest.approx(5 / 6)  # 0.3 beats 0.1, 0.2; 0.7 all
    assert s["drop"] == pytest.approx(1 / 6) and s["held_out_recall"] == 0.5 and s["real_fpr"] == pytest.approx(1 / 3)
    assert (s["n_real"], s["n_held_out"], s["n_in_domain"]) == (3, 2, 2)  # "unused" is neither
    with pytest.raises(DataError, match="no fake of the held-out family 'gone'"):
        holdout_scores(videos, windows, "gone", ["seen_a"], 0.5)
    table = holdout_table([{"held_out": "new", "model": "m", **s}, {"held_out": "a", "model": "m", **s}])
    assert list(table["held_out"]) == ["a", "new"] and "| **mean** | m | 1.000 | 0.833 |" in holdout_markdown(table)
