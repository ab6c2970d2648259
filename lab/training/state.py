"""What a resumable run saves and restores: where it is (epoch, batch, optimizer step), the epoch's running
sums, history, best-so-far, and when the next mid-epoch checkpoint is due.

Training randomness needs no saved RNG stream to replay: sample draws and augmentations are functions of
(seed, epoch, position) (`lab.data.sampling`) and each step reseeds the model's RNG from (seed, rank, step).
So a run restored from any checkpoint, end-of-epoch or mid-epoch, continues exactly as it would have.
"""
from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from lab.errors import CheckpointError
from lab.runtime.checkpoint import load_checkpoint, set_rng_state
from lab.training.schedule import restore_optimizer, seek_schedule


@dataclass(frozen=True)
class Progress:
    """Where a run stands. `epoch` is the epoch to run next (or the one in progress when `batch` > 0);
    `batch` counts that epoch's finished batches, `steps` every finished batch of the run and
    `schedule_step` the LR schedule's position (optimizer steps actually taken)."""

    epoch: int = 1
    batch: int = 0
    steps: int = 0
    schedule_step: int = 0
    steps_per_epoch: int = 0
    sums: torch.Tensor | None = None  # the epoch's (loss * n, correct, n) so far; None at an epoch start
    skipped: int = 0  # this epoch's steps skipped for a non-finite loss

    def to_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "batch": self.batch, "steps": self.steps, "schedule_step": self.schedule_step,
                "steps_per_epoch": self.steps_per_epoch, "skipped": self.skipped,
                "sums": None if self.sums is None else self.sums.detach().cpu().clone()}

    def next_epoch(self) -> "Progress":
        return replace(self, epoch=self.epoch + 1, batch=0, sums=None, skipped=0)


@dataclass
class RunState:
    """The resumable bookkeeping of `fit` besides model/optimizer/scheduler."""

    history: list[dict] = field(default_factory=list)
    best: dict[str, Any] = field(default_factory=lambda: {"auc": -math.inf, "epoch": 0, "bad_epochs": 0,
                                                          "metrics": {}, "threshold": 0.5})
    progress: Progress = field(default_factory=Progress)


def restore_run(path, model, optimizer, scheduler, scaler, steps_per_epoch: int) -> RunState:
    """Load a checkpoint written by `fit` (end of epoch or mid-epoch) into the objects and position the LR
    schedule at its step. Returns the history, best-so-far and where to continue."""
    ckpt = load_checkpoint(path, model)
    missing = [k for k in ("optimizer", "history", "best", "rng") if ckpt.get(k) is None]
    if missing:
        raise CheckpointError(f"checkpoint has no training state, {', '.join(missing)} missing", path,
                              "--resume needs a last.pth/best.pth written by training; start a new run instead")
    restore_optimizer(optimizer, ckpt["optimizer"])
    if scaler is not None and ckpt.get("scaler"):
        scaler.load_state_dict(ckpt["scaler"])
    absent = set_rng_state(ckpt["rng"])
    if absent:
        print(f"notice: checkpoint '{path}' holds CUDA RNG states for device(s) {absent}, which this machine does "
              "not have; they were left out", file=sys.stderr)
    saved = ckpt.get("progress")
    if saved is None:  # written before mid-epoch checkpoints: always at the end of epoch `epoch`
        done = int(ckpt["epoch"])
        progress = Progress(done + 1, 0, done * steps_per_epoch, done * steps_per_epoch, steps_per_epoch)
    else:
        progress = Progress(**{**saved, "steps_per_epoch": steps_per_epoch})
        if progress.batch and saved["steps_per_epoch"] != steps_per_epoch:
            raise CheckpointError(f"checkpoint was saved mid-epoch at batch {progress.batch} of "
                                  f"{saved['steps_per_epoch']}, but this run has {steps_per_epoch} batches per epoch",
                                  path, "resume with the same data and training.batch_size, or start a new run")
    seek_schedule(scheduler, progress.schedule_step)
    return RunState(list(ckpt["history"]), dict(ckpt["best"]), progress)


class CheckpointClock:
    """When a mid-epoch checkpoint is due: every `every_steps` batches and/or every `every_minutes` of training
    (0 turns either off)."""

    def __init__(self, every_steps: int, every_minutes: float):
        self.every_steps, self.every_seconds = every_steps, every_minutes * 60.0
        self.last = time.monotonic()

    @property
    def timed(self) -> bool:
        return self.every_seconds > 0

    def due(self, steps: int) -> bool:
        by_steps = self.every_steps > 0 and steps % self.every_steps == 0
        return by_steps or (self.timed and time.monotonic() - self.last >= self.every_seconds)

    def reset(self) -> None:
        self.last = time.monotonic()


def stale_state_note(run_dir: Path, removed: list[Path]) -> None:
    if removed:
        print(f"notice: removed {len(removed)} unfinished checkpoint write(s) in {run_dir} left by a killed run "
              f"(e.g. {removed[0].name}); the finished checkpoints are untouched", file=sys.stderr)
