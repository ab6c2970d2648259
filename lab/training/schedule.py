"""The learning-rate schedule as a pure function of the optimizer step, so a resumed run gets exactly the LR
(and, for OneCycle, the momentum) the uninterrupted run had at every step.

Warm-up + cosine and warm-up + constant are a `LambdaLR` over `WarmupSchedule`, a closed form in the step:
no LR is derived from the previous one, so nothing a checkpoint restores can drift into it. OneCycle is
torch's `OneCycleLR`, closed-form in the step too. Resuming is `restore_optimizer` (the optimizer's moments
from the checkpoint, its hyperparameters from the config) then `seek_schedule(scheduler, step)`.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import torch

from lab.config import SchedulerConfig


@dataclass(frozen=True)
class WarmupSchedule:
    """LR factor at optimizer step `step` (0 = before the first step): linear warm-up from 1/(warmup+1) to 1
    over `warmup` steps, then `cosine` decay to 0 at `total`, or `none` (constant). Equal to torch's
    LinearLR(1/(warmup+1)) -> CosineAnnealingLR(total - warmup) chain, without its step-to-step recursion."""

    kind: str  # "cosine" | "none"
    warmup: int
    total: int

    def __call__(self, step: int) -> float:
        if step < self.warmup:
            return (step + 1) / (self.warmup + 1)
        if self.kind == "none":
            return 1.0
        progress = min(step - self.warmup, self.total - self.warmup) / max(self.total - self.warmup, 1)
        return 0.5 * (1.0 + math.cos(math.pi * progress))


def build_scheduler(optimizer, cfg: SchedulerConfig, epochs: int, steps_per_epoch: int, lr: float):
    """Per-step LR schedule: `warmup_epochs` of linear warm-up, then cosine decay / OneCycle / constant."""
    total = max(epochs * steps_per_epoch, 1)
    warm = min(cfg.warmup_epochs * steps_per_epoch, total - 1)
    if cfg.type == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=total,
                                                   pct_start=warm / total if warm > 0 else 0.3)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, WarmupSchedule(cfg.type, warm, total))


def restore_optimizer(optimizer: torch.optim.Optimizer, state: dict) -> None:
    """Load a checkpoint's optimizer state (moments, step counts) but keep this optimizer's hyperparameters.

    A saved param group carries the interrupted run's last `lr` (and OneCycle's betas, `initial_lr`, ...);
    loading it as is would make the rebuilt schedule start from an already-decayed value. The config the run
    resumes with (the checkpoint's, plus any --set) decides the hyperparameters; `seek_schedule` then sets
    the LR of the resumed step."""
    configured = [{k: v for k, v in group.items() if k != "params"} for group in optimizer.param_groups]
    optimizer.load_state_dict(state)
    for group, values in zip(optimizer.param_groups, configured):
        group.update(values)


def seek_schedule(scheduler, step: int) -> None:
    """Put a closed-form scheduler at optimizer step `step`: the LR (and momentum) it gives there, exactly."""
    total = getattr(scheduler, "total_steps", None)
    step = min(step, total) if total is not None else step
    scheduler.last_epoch = step - 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "lr_scheduler.step() before optimizer.step()"
        scheduler.step()
