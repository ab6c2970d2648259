"""lab.workbench.analysis / lab.workbench.plots: the numbers and figures the notebooks show, on tiny real data."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from pathlib import Path

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from _fixtures import tiny_config  # noqa: E402
from lab.workbench import analysis, plots as analysis_plots  # noqa: E402
from lab.runtime.checkpoint import load_model  # noqa: E402
from lab.models.classifier import build_model  # noqa: E402


def _videos(rows):
    """A `Evaluation.videos`-like table from (item, label, family, score) tuples, decided at 0.5."""
    table = pd.DataFrame(rows, columns=["item", "label", "family", "score"])
    table["pred"] = (table["score"] >= 0.5).astype(int)
    table["n_windows"] = 1
    return table


VIDEOS = _videos([
    ("real/a", 0, "real", 0.10), ("real/b", 0, "real", 0.70), ("real/c", 0, "real", 0.40),
    ("fake/x__1", 1, "warp", 0.90), ("fake/x__2", 1, "warp", 0.30), ("fake/y__1", 1, "flicker", 0.60),
])


# ----------------------------------------------------------------------------------------------- pure maths


def test_frame_difference_energy_is_mean_squared_change():
    frames = np.zeros((3, 4, 4, 3), np.uint8)
    frames[1] = 10  # every pixel +10, then back to 0
    assert np.allclose(analysis.frame_difference_energy(frames), [100.0, 100.0])
    assert np.allclose(analysis.frame_difference_energy(np.full((5, 2, 2, 3), 7, np.uint8)), 0.0)
    with pytest.raises(ValueError):
        analysis.frame_difference_energy(frames[:1])


def test_difference_map_locates_the_change():
    frames = np.zeros((4, 6, 6, 3), np.uint8)
    frames[1::2, 2:4, 2:4] = 30  # a flickering 2x2 patch
    dmap = analysis.difference_map(frames)
    assert dmap.shape == (6, 6)
    assert np.allclose(dmap[2:4, 2:4], 30.0) and dmap.sum() == pytest.approx(30.0 * 4)


def test_temporal_contrast_weighs_a_change_in_the_centre_against_the_whole_frame():
    still = np.zeros((5, 8, 8, 3), np.uint8)
    centre, edge = still.copy(), still.copy()
    centre[1::2, 3:5, 3:5] = 40  # the centre half flickers
    edge[1::2, 0:2, 0:2] = 40  # a corner flickers as much
    (e_centre, c_centre), (e_edge, c_edge) = analysis.temporal_contrast(centre, 1), analysis.temporal_contrast(edge, 1)
    assert e_centre == pytest.approx(e_edge) and e_edge > 0  # the same energy ...
    assert c_centre == pytest.approx(4.0, rel=1e-3) and c_edge == 0.0  # ... but only one is in the centre
    assert analysis.temporal_contrast(still, 2) == (0.0, 0.0)
    with pytest.raises(ValueError, match="more than 2 frames"):
        analysis.temporal_contrast(still[:2], 2)


def test_separability_scores_each_family_against_every_real():
    table = pd.DataFrame({"size": "s", "order": 1, "label": [0, 0, 1, 1, 1, 1],
                          "family": ["real", "real", "a", "a", "b", "b"], "contrast": [1, 2, 3, 4, 0, 1.5]})
    auc = analysis.separability(table).loc[("s", 1)]
    assert auc["a"] == 1.0 and auc["b"] == pytest.approx(0.25) and auc["all"] == pytest.approx(0.625)


def test_threshold_sweep_counts():
    sweep = analysis.threshold_sweep([0, 0, 1, 1], [0.1, 0.6, 0.4, 0.9], thresholds=[0.0, 0.5, 1.0])
    at_half = sweep.set_index("threshold").loc[0.5]
    assert at_half["precision"] == 0.5 and at_half["recall"] == 0.5 and at_half["fpr"] == 0.5
    assert at_half["f1"] == pytest.approx(0.5) and at_half["accuracy"] == 0.5
    at_zero = sweep.set_index("threshold").loc[0.0]
    assert at_zero["recall"] == 1.0 and at_zero["precision"] == 0.5
    assert np.isnan(sweep.set_index("threshold").loc[1.0, "precision"])  # nothing called fake
    assert len(analysis.threshold_sweep([0, 1], [0.2, 0.8])) == 101


def test_best_f1_threshold_is_chosen_on_validation_and_only_applied_to_the_split():
    # validation separates at 0.3; the evaluated split would prefer 0.7, which must not be picked
    table = analysis.best_f1_threshold([0, 0, 1, 1], [0.1, 0.2, 0.35, 0.9], [0, 0, 1, 1], [0.5, 0.6, 0.8, 0.9])
    chosen = table.loc["validation (chosen here)"]
    assert 0.2 < chosen["threshold"] <= 0.35 and chosen["f1"] == 1.0
    applied = table.loc["evaluated split (applied)"]
    assert applied["threshold"] == chosen["threshold"] and applied["fpr"] == 1.0  # both reals called fake


def test_notebook_04_sweeps_thresholds_on_validation_not_on_the_evaluated_split():
    import nbformat

    from lab.workbench.notebooks import _code_cells, _python_source

    nb = nbformat.read(Path(__file__).resolve().parents[1] / "notebooks" / "04_error_analysis.ipynb", as_version=4)
    calls = [line for cell in _code_cells(nb) for line in _python_source(cell).splitlines()
             if "analysis.threshold_sweep(" in line or "analysis.best_f1_threshold(" in line]
    assert calls and all("(val_ev." in line or "best_f1_threshold(val_ev." in line for line in calls), calls


def test_worst_errors_orders_each_kind_and_flags_real_errors():
    worst = analysis.worst_errors(VIDEOS, k=2)
    assert list(worst["kind"]) == ["false positive"] * 2 + ["false negative"] * 2
    assert list(worst["item"]) == ["real/b", "real/c", "fake/x__2", "fake/y__1"]
    assert list(worst["error"]) == [True, False, True, False]


def test_breakdown_by_family_scores_each_family_against_all_reals():
    table = analysis.breakdown(VIDEOS, "family", threshold=0.5)
    assert list(table.index) == ["flicker", "real", "warp"]
    warp = table.loc["warp"]
    assert (warp["n_real"], warp["n_fake"]) == (0, 2)
    assert warp["accuracy"] == 0.5  # one of two caught
    # warp fakes {0.9, 0.3} against reals {0.1, 0.7, 0.4}: 4 of 6 pairs ranked right
    assert warp["roc_auc"] == pytest.approx(4 / 6)
    assert table.loc["real", "accuracy"] == pytest.approx(2 / 3)


def test_breakdown_within_group_when_it_holds_both_classes():
    videos = VIDEOS.assign(source=["s1", "s1", "s2", "s1", "s2", "s2"])
    table = analysis.breakdown(videos, "source")
    # s1: reals {0.1, 0.7}, fake {0.9} -> AUC 1; s2: real {0.4}, fakes {0.3, 0.6} -> AUC 0.5
    assert table.loc["s1", "roc_auc"] == 1.0 and table.loc["s2", "roc_auc"] == 0.5


def test_frame_timeline_averages_overlapping_windows():
    windows = pd.DataFrame({"item": ["v", "v", "w"], "start": [0, 2, 0],
                            "timeline": ["0.1 0.2 0.3 0.4", "0.5 0.6 0.7 0.8", "0.9 0.9 0.9 0.9"]})
    line = analysis.frame_timeline(windows, "v")
    assert list(line.index) == [0, 1, 2, 3, 4, 5]
    assert np.allclose(line.values, [0.1, 0.2, 0.4, 0.5, 0.7, 0.8])
    with pytest.raises(KeyError):
        analysis.frame_timeline(windows, "missing")


def test_class_balance_shows_the_sampler_evening_out_classes():
    table = analysis.class_balance([0] * 90 + [1] * 10, draws=4000, seed=1)
    assert list(table.index) == ["real", "fake"]
    assert table.loc["fake", "share"] == pytest.approx(0.1) and table["sampled"].sum() == 4000
    assert table.loc["fake", "sampled_share"] == pytest.approx(0.5, abs=0.03)


def test_shuffle_time_permutes_frames_within_each_clip():
    clips = torch.arange(2 * 4, dtype=torch.float32).view(2, 4, 1, 1, 1).expand(2, 4, 3, 2, 2).contiguous()
    out = analysis.shuffle_time(clips, torch.Generator().manual_seed(0))
    for b in range(2):
        original, shuffled = clips[b, :, 0, 0, 0], out[b, :, 0, 0, 0]
        assert sorted(shuffled.tolist()) == original.tolist()  # same frames
        assert not torch.equal(shuffled, original)  # different order
        assert torch.equal(out[b, :, :, 0, 0], out[b, :, :, 1, 1])  # whole frames move together


def test_metrics_table_has_one_row_per_level():
    m = {"accuracy": 0.5, "roc_auc": 0.7, "n": 4.0}
    table = analysis.metrics_table({"clip": m, "video": {"mean": m, "vote": m}})
    assert list(table.index) == ["clips", "videos (mean)", "videos (vote)"]
    assert table.loc["clips", "roc_auc"] == 0.7 and np.isnan(table.loc["clips", "eer"])


def test_spread_picks_evenly():
    assert analysis.spread(10, 3) == [1, 5, 8] and analysis.spread(2, 5) == [0, 1]


# ------------------------------------------------------------------------------------------ on real files


def test_dataset_tables_on_the_synthetic_split(synth_root):
    cfg = tiny_config(synth_root)
    datasets = analysis.load_splits(synth_root, cfg)
    items = analysis.item_table(datasets)
    assert len(items) == 2 * (4 + 3 + 3)
    assert set(items["frames"]) == {12} and set(items["height"]) == {32} and set(items["width"]) == {32}
    assert set(items["storage"]) <= {"frames", "mp4"} and "mp4" in set(items["storage"])
    summary = analysis.split_summary(items)
    assert summary.loc[("train", "fake"), "videos"] == 4
    assert summary.loc[("val", "real"), "windows"] == 3 * 3  # 12 frames, length 4, stride 4
    assert summary.loc[("test", "real"), "resolutions"] == "32x32 (3)"
    assert list(summary.index.get_level_values("split").unique()) == ["train", "val", "test"]


def test_fakes_carry_more_frame_difference_energy(synth_root):
    ds = analysis.load_splits(synth_root, tiny_config(synth_root), splits=["train"])["train"]
    energy = analysis.difference_energy_table(ds, per_class=4)
    assert set(energy.columns) >= {"item", "class", "family", "t", "energy"}
    assert energy.groupby("item")["t"].max().eq(11).all()  # 12 frames -> 11 differences
    means = energy.groupby("class")["energy"].mean()
    assert means["fake"] > 2 * means["real"]  # the synthetic fakes flicker; reals move smoothly
    families = [item.family for item in analysis.family_examples(ds)]
    assert families[0] == "real" and len(families) == len(set(families)) == 5


def test_attach_manifest_adds_source_and_format(synth_root, tmp_path):
    first = pd.read_csv(synth_root / "test" / "manifest.csv")["item"].iloc[0]
    videos = pd.DataFrame({"item": [first, "fake/nowhere"], "label": [0, 1]})
    out = analysis.attach_manifest(videos, synth_root / "test")
    assert {"source", "format"} <= set(out.columns)
    assert out.loc[0, "source"].startswith("synth-") and pd.isna(out.loc[1, "source"])
    assert analysis.attach_manifest(videos, tmp_path).equals(videos)  # no manifest: unchanged


def test_temporal_ablation_moves_nothing_for_the_frame_only_model(synth_root, tiny_checkpoint):
    model, cfg, _ = load_model(tiny_checkpoint)
    convlstm = analysis.temporal_ablation(model, cfg, synth_root / "test", seed=0)
    assert list(convlstm.columns) == ["item", "label", "family", "start", "prob_fake", "prob_fake_shuffled"]
    assert len(convlstm) == 2 * 3 * 3 and convlstm[["prob_fake", "prob_fake_shuffled"]].stack().between(0, 1).all()

    frame_cfg = tiny_config(synth_root, "model.temporal=frame", "model.input_streams=[rgb]")
    torch.manual_seed(0)
    frame_model = build_model(frame_cfg.model).eval()
    frame = analysis.temporal_ablation(frame_model, frame_cfg, synth_root / "test", seed=0)
    assert np.allclose(frame["prob_fake"], frame["prob_fake_shuffled"], atol=1e-5)

    summary = analysis.ablation_summary({"convlstm": convlstm, "frame": frame})
    assert summary.shape[0] == 4
    assert summary.loc[("frame", "shuffled"), "mean |change| vs original"] == pytest.approx(0, abs=1e-5)


# ------------------------------------------------------------------------------------------------ figures


def test_every_analysis_figure_draws_and_saves(synth_root, tmp_path):
    ds = analysis.load_splits(synth_root, tiny_config(synth_root), splits=["test"])["test"]
    samples = [(item.name, analysis.read_item(ds, item.name)) for item in analysis.sample_items(ds, 1)]
    item = samples[0][0]
    windows = pd.DataFrame({"item": [item] * 2, "label": [0, 0], "start": [0, 4],
                            "prob_fake": [0.2, 0.4], "timeline": ["0.1 0.2 0.3 0.4"] * 2})
    errors = analysis.worst_errors(_videos([(item, 0, "real", 0.3)]), k=1)
    history = pd.DataFrame({"epoch": [1, 2], "train_loss": [0.7, 0.6], "val_loss": [0.7, 0.65], "train_acc": [0.5, 0.6],
                            "val_acc": [0.5, 0.55], "val_auc": [0.5, 0.6], "lr": [1e-3, 5e-4]})
    ablation = pd.DataFrame({"label": [0, 1], "prob_fake": [0.2, 0.8], "prob_fake_shuffled": [0.6, 0.7]})
    signal = analysis.signal_by_resolution(ds, {"native": None, "16x16": (16, 16)}, per_class=2)
    assert set(signal["size"]) == {"native", "16x16"} and set(signal["order"]) == {1, 2} and len(signal) == 4 * 4
    figures = {
        "grid": analysis_plots.plot_frame_grid(samples, frames_per_row=3),
        "energy": analysis_plots.plot_difference_energy(analysis.difference_energy_table(ds, per_class=2)),
        "maps": analysis_plots.plot_difference_maps(samples),
        "balance": analysis_plots.plot_class_balance({"a": analysis.class_balance([0, 0, 1], draws=30)}),
        "history": analysis_plots.plot_history(history),
        "scores": analysis_plots.plot_score_distributions(windows, VIDEOS, 0.5),
        "gallery": analysis_plots.plot_error_gallery(errors, windows, synth_root / "test", 0.5),
        "sweep": analysis_plots.plot_threshold_sweep(analysis.threshold_sweep([0, 1], [0.3, 0.7]), 0.5),
        "ablation": analysis_plots.plot_temporal_ablation({"m": ablation}),
        "breakdown": analysis_plots.plot_breakdown(analysis.breakdown(VIDEOS)),
        "separability": analysis_plots.plot_separability(analysis.separability(signal)),
    }
    for name, fig in figures.items():
        path = tmp_path / f"{name}.png"
        fig.savefig(path)
        assert path.stat().st_size > 1000, name
        plt.close(fig)
    analysis_plots.plot_history(history, save_path=tmp_path / "sub" / "h.png")
    assert (tmp_path / "sub" / "h.png").is_file()
    plt.close("all")


def test_frame_timeline_of_a_padded_short_item_stops_at_its_last_real_frame():
    # a 5-frame item in one padded 8-step window; steps 0-2 lack context (NaN), steps 5-7 are padding
    windows = pd.DataFrame({"item": ["v"], "start": [0], "num_frames": [5],
                            "timeline": ["nan nan nan 0.4 0.6 0.6 0.6 0.6"]})
    line = analysis.frame_timeline(windows, "v")
    assert list(line.index) == [3, 4] and line.tolist() == pytest.approx([0.4, 0.6])
