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

