"""Trustworthy long runs: a training process killed with SIGKILL mid-epoch, inside a checkpoint write, leaves
loadable files, and resumed ends bit-identical to an uninterrupted run."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

from _fixtures import ROOT, TINY_OVERRIDES

# Augmentation and dropout on, so the replay of every random draw is tested, not only the data order: the random
# crop is drawn in the loader, the colour jitter in the training step as on CUDA (augmentation.jitter_on).
EXACT = (*TINY_OVERRIDES, "training.batch_size=2", "training.epochs=3", "augmentation.random_crop=true",
         "augmentation.color_jitter=true", "augmentation.jitter_on=device", "model.classifier.dropout=0.5",
         "training.checkpoint_every_minutes=0")
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}


def train_cmd(data: Path, out: Path, *overrides: str, run: str = "r", resume: Path | None = None) -> list[str]:
    cmd = [sys.executable, "-m", "lab.cli", "train", "--run-name", run, "--checkpoint-dir", str(out / "ck"),
           "--log-dir", str(out / "logs"), "--no-progress"]
    cmd += ["--resume", str(resume)] if resume else []
    sets = [] if resume else [*EXACT, *(f"data.{s}_dir={data / s}" for s in ("train", "val", "test"))]
    for item in [*sets, *overrides]:
        cmd += ["--set", item]
    return cmd


def progress_of(path: Path) -> dict | None:
    try:  # the file is replaced atomically: we read the old or the new one, never half of one
        return torch.load(path, map_location="cpu", weights_only=True).get("progress")
    except (FileNotFoundError, RuntimeError, EOFError):
        return None


def assert_same_run(a_dir: Path, b_dir: Path) -> None:
    """Same weights, optimizer state, best-so-far and history (wall-clock seconds aside), bit for bit."""
    for name in ("last.pth", "best.pth"):
        a, b = (torch.load(d / name, map_location="cpu", weights_only=True) for d in (a_dir, b_dir))
        assert a["model"].keys() == b["model"].keys()
        pairs = list(zip(a["model"].values(), b["model"].values()))
        diff = max((x.double() - y.double()).abs().max().item() for x, y in pairs)
        assert diff == 0.0, f"{name}: max |weight difference| {diff}"
        assert all(torch.equal(x, y) for x, y in pairs)
        for index, state in a["optimizer"]["state"].items():
            assert all(torch.equal(state[k], b["optimizer"]["state"][index][k]) for k in state), name
        assert a["best"] == b["best"] and a["epoch"] == b["epoch"] and a["threshold"] == b["threshold"]
    ha, hb = (pd.read_csv(d / "history.csv").drop(columns="seconds") for d in (a_dir, b_dir))
    pd.testing.assert_frame_equal(ha, hb, check_exact=True)


# train.py whose checkpoint write at epoch 2, step 4 (a mid-epoch one) is killed with SIGKILL halfway through the
# file: a kill at the worst moment, when last.pth is being replaced.
KILL_IN_SAVE = """
import os, signal, sys
import torch
import lab.runtime.checkpoint as checkpoint
from lab.cli.train import train_entry

real_save = torch.save

def save_then_die(obj, fh, *args, **kwargs):
    if (obj.get("progress") or {}).get("epoch") == 2 and obj["progress"]["batch"] == 4:
        fh.write(b"PK" + os.urandom(4096))
        os.kill(os.getpid(), signal.SIGKILL)
    return real_save(obj, fh, *args, **kwargs)

checkpoint.torch.save = save_then_die
sys.exit(train_entry(sys.argv[1:]))
"""


@pytest.mark.slow
def test_sigkill_mid_epoch_inside_a_checkpoint_write_then_resume_is_bit_identical(synth_root, tmp_path):
    uninterrupted = subprocess.run(train_cmd(synth_root, tmp_path / "a"), cwd=ROOT, env=ENV, capture_output=True,
                                   text=True, timeout=300)
    assert uninterrupted.returncode == 0, uninterrupted.stderr[-3000:]

    cmd = train_cmd(synth_root, tmp_path / "b", "training.checkpoint_every_steps=1")
    proc = subprocess.run([sys.executable, "-c", KILL_IN_SAVE, *cmd[cmd.index("train") + 1:]], cwd=ROOT, env=ENV,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    run = tmp_path / "b" / "ck" / "r"
    assert list(run.glob(".*.tmp")), "the kill should have left a half-written temp file"
    from lab.runtime.checkpoint import read_checkpoint

    for name in ("best.pth", "last.pth"):  # the files themselves are whole: the torn write went to a temp file
        assert read_checkpoint(run / name)["format"] == "convlstm-lab/1"
    at = progress_of(run / "last.pth")
    assert at["epoch"] == 2 and at["batch"] == 3 < at["steps_per_epoch"], at  # the save before the killed one

    resumed = subprocess.run(train_cmd(synth_root, tmp_path / "b", resume=run / "last.pth"), cwd=ROOT, env=ENV,
                             capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "removed 1 unfinished checkpoint write" in resumed.stderr
    assert f"resuming epoch 2 at step {at['batch'] + 1} of {at['steps_per_epoch']}" in resumed.stdout
    assert not list(run.glob(".*.tmp")) and read_checkpoint(run / "last.pth")["epoch"] == 3
    assert_same_run(tmp_path / "a" / "ck" / "r", run)
