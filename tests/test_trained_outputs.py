"""What training stores and trains: each checkpoint's own validation threshold, and per-timestep outputs that
are trained (so per-frame scores mean something) from `sequence.min_context` on."""
from __future__ import annotations

import pytest

from _fixtures import tiny_config
from lab.evaluation.evaluate import evaluate_split
from lab.evaluation.metrics import choose_threshold
from lab.runtime.checkpoint import load_model, read_checkpoint
from lab.training.loop import fit


def _own_threshold(path, val_dir) -> float:
    model, cfg, _ = load_model(path)
    ev = evaluate_split(model, cfg, val_dir, "cpu", threshold=0.5, progress=False)
    return choose_threshold(ev.windows["label"], ev.windows["prob_fake"])


def test_every_checkpoint_carries_the_threshold_chosen_for_its_own_weights(synth_root, tmp_path):
    # min_delta 1.0: nothing improves on epoch 1, so best.pth is epoch 1 and last.pth epoch 3 (other weights)
    cfg = tiny_config(synth_root, "training.epochs=3", "training.early_stopping.min_delta=1.0",
                      "training.scheduler.warmup_epochs=0", "training.learning_rate=0.003", "seed=1")
    run = fit(cfg, run_name="thr", checkpoint_dir=tmp_path / "ck", log_dir=tmp_path / "logs", progress=False)
    best, last = read_checkpoint(run.best_path), read_checkpoint(run.last_path)
    assert (best["epoch"], last["epoch"]) == (1, 3)
    assert best["threshold"] == pytest.approx(_own_threshold(run.best_path, synth_root / "val"), abs=1e-6)
    assert last["threshold"] == pytest.approx(_own_threshold(run.last_path, synth_root / "val"), abs=1e-6)
    assert last["threshold"] != pytest.approx(best["threshold"], abs=1e-6)  # so the check above could fail



@pytest.mark.slow
def test_per_step_outputs_of_a_trained_model_separate_real_from_fake(tmp_path):
    """Per-frame scores come from trained outputs: with the auxiliary per-step loss (on by default), every
    timestep from `first_scored_step` on is a detector on its own, and earlier steps are never reported."""
    import numpy as np
    from sklearn.metrics import roc_auc_score

    import lab
    from _fixtures import ROOT

    root = tmp_path / "data"
    lab.generate_synthetic(root, lab.SynthSpec(train=64, val=12, test=16, frames=24, height=32, width=32, seed=5))
    # 4 epochs: the smallest per-step test AUC is 0.92-0.96 over training seeds 0-3 (untrained: 0.60)
    cfg = lab.load_config(ROOT / "config/data_config.yaml", ROOT / "config/demo.yaml", overrides=[
        *(f"data.{s}_dir={root / s}" for s in ("train", "val", "test")), "device=cpu", "training.epochs=4",
        "training.early_stopping.patience=20"])
    assert cfg.training.step_loss_weight > 0 and cfg.sequence.first_scored_step == 3  # the defaults
    run = fit(cfg, run_name="steps", checkpoint_dir=tmp_path / "ck", log_dir=tmp_path / "logs", progress=False)
    model, cfg, ckpt = load_model(run.best_path)
    ev = evaluate_split(model, cfg, root / "test", "cpu", threshold=ckpt["threshold"], progress=False)
    timeline, labels = ev.extra["timeline"], ev.windows["label"].to_numpy()
    first = cfg.sequence.first_scored_step
    assert np.isnan(timeline[:, :first]).all()  # steps with too little context are never reported
    aucs = [roc_auc_score(labels, timeline[:, t]) for t in range(first, timeline.shape[1])]
    print("per-step test AUC from step", first, [round(a, 3) for a in aucs])
    assert min(aucs) > 0.8, aucs
    pred = lab.predict(next((root / "test" / "fake").glob("*.mp4")), model, cfg, threshold=ckpt["threshold"])
    assert pred.frames[:first] == [None] * first and None not in pred.frames[first:]
