"""Checkpoints: atomic, weights_only, self-describing, clear errors."""
import random

import numpy as np
import pytest
import torch

from lab.runtime.checkpoint import (atomic_save, load_model, read_checkpoint, rng_state, save_checkpoint,
                            set_rng_state)
from lab.config import Config
from lab.errors import CheckpointError


def test_atomic_save_leaves_only_the_file(tmp_path):
    atomic_save({"a": torch.ones(2)}, tmp_path / "x.pth")
    assert [p.name for p in tmp_path.iterdir()] == ["x.pth"]


def test_round_trip_is_self_describing(tmp_path):
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.AdamW(model.parameters())
    cfg = Config().replace("seed=5")
    path = save_checkpoint(model, opt, 3, tmp_path / "c.pth", config=cfg, metrics={"auc": 0.9}, threshold=0.4)
    ckpt = read_checkpoint(path)
    assert ckpt["epoch"] == 3 and ckpt["threshold"] == pytest.approx(0.4)
    assert ckpt["class_names"] == ["real", "fake"] and ckpt["config"]["seed"] == 5
    assert torch.equal(ckpt["model"]["weight"], model.weight)


def test_rng_state_round_trip_survives_weights_only(tmp_path):
    torch.manual_seed(0), np.random.seed(0), random.seed(0)
    atomic_save({"rng": rng_state()}, tmp_path / "r.pth")
    expected = (torch.rand(3), np.random.rand(3), random.random())
    set_rng_state(torch.load(tmp_path / "r.pth", weights_only=True)["rng"])
    got = (torch.rand(3), np.random.rand(3), random.random())
    assert torch.equal(expected[0], got[0]) and np.array_equal(expected[1], got[1]) and expected[2] == got[2]


def test_missing_corrupt_and_foreign_files(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        read_checkpoint(tmp_path / "none.pth")
    (tmp_path / "bad.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        read_checkpoint(tmp_path / "bad.pth")
    torch.save({"weights": torch.ones(1)}, tmp_path / "other.pth")
    with pytest.raises(CheckpointError, match="not a convlstm-lab checkpoint"):
        read_checkpoint(tmp_path / "other.pth")


def test_load_model_rebuilds_from_the_checkpoint_alone(tiny_run, tiny_checkpoint):
    model, cfg, ckpt = load_model(tiny_checkpoint)
    assert not model.training
    x = torch.randn(2, cfg.sequence.length, 3, cfg.image.height, cfg.image.width)
    with torch.no_grad():
        assert model(x).shape == (2, 2)
    # the checkpoint describes its own epoch: the metric and threshold of the best epoch in the run's history
    best = tiny_run.history.set_index("epoch").loc[ckpt["epoch"]]
    assert ckpt["epoch"] == tiny_run.best_epoch
    assert ckpt["metrics"]["val_roc_auc"] == pytest.approx(best["val_auc"])
    assert ckpt["threshold"] == pytest.approx(best["threshold"]) and 0.0 <= ckpt["threshold"] <= 1.0


def test_seed_signature_save_then_rebuild(tmp_path):
    from lab.models.classifier import build_model

    cfg = Config().replace("model.pretrained=false", "model.convlstm.hidden_channels=[4]", "model.output_stride=8")
    model = build_model(cfg.model)
    save_checkpoint(model, torch.optim.AdamW(model.parameters()), 7, tmp_path / "seed.pth")  # seed's 4 arguments
    rebuilt, rebuilt_cfg, ckpt = load_model(tmp_path / "seed.pth")
    assert ckpt["epoch"] == 7 and rebuilt_cfg.model == cfg.model
    assert (tmp_path / "seed.pth").stat().st_mode & 0o044  # readable beyond the owner, as the umask allows
    save_checkpoint(torch.nn.Linear(2, 2), None, 1, tmp_path / "plain.pth")
    with pytest.raises(CheckpointError, match="holds no config"):
        load_model(tmp_path / "plain.pth")


def test_cuda_rng_states_are_restored_per_device_on_a_machine_with_fewer_gpus(monkeypatch):
    """A run saved on 2 GPUs resumes on 1: device 0 gets its state, device 1's is reported, nothing raises
    (torch.cuda.set_rng_state_all raised IndexError here). The GPU calls are stand-ins: this machine has none."""
    base = {k: v for k, v in rng_state().items() if not k.startswith("cuda")}
    restored = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "set_rng_state", lambda state, device: restored.append((device, state)))
    gpu0, gpu1 = torch.zeros(16, dtype=torch.uint8), torch.ones(16, dtype=torch.uint8)
    assert set_rng_state({**base, "cuda_by_device": {"0": gpu0, "1": gpu1}}) == [1]
    assert restored == [(0, gpu0)]
    restored.clear()
    assert set_rng_state({**base, "cuda": [gpu0, gpu1]}) == [1]  # checkpoints written before this change
    assert restored == [(0, gpu0)]
