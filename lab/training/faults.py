"""Numeric faults during training: a NaN or Inf loss (or gradient norm) stops the run with one line naming the
epoch and step, keeping the last good checkpoint, or with `training.nonfinite_loss: skip` the step is left out
and counted. Under DDP every rank takes the same decision, so no rank waits for another forever.
"""
from __future__ import annotations

from pathlib import Path

import torch

from lab.errors import ConfigError, TrainingError
from lab.runtime.distributed import DistInfo, any_rank


class NonFiniteGuard:
    """`ok(value, epoch, batch)` is False for a step to skip; raises TrainingError under the `stop` policy.
    `check_weights` stops a run whose weights are no longer finite before anything saves them."""

    def __init__(self, policy: str, info: DistInfo, device: torch.device, last_path: Path, steps_per_epoch: int):
        self.policy, self.info, self.device = policy, info, device
        self.last_path, self.steps_per_epoch = last_path, steps_per_epoch
        self.skipped_total = 0

    def ok(self, value: torch.Tensor, epoch: int, batch: int, what: str = "loss") -> bool:
        finite = bool(torch.isfinite(value.detach()).all())  # one device sync per step
        if not any_rank(not finite, self.info, self.device):
            return True
        if self.policy == "stop":
            shown = (f"{value.detach().float().flatten()[0].item()}" if not finite
                     else "finite here, not on another rank")
            kept = (f"the last good checkpoint is kept, resume with --resume {self.last_path}"
                    if self.last_path.is_file() else "no checkpoint was written yet")
            raise TrainingError(f"{what} is {shown} at epoch {epoch}, step {batch} of {self.steps_per_epoch}, "
                                f"so training stopped; {kept}", "training.nonfinite_loss=stop",
                                "lower training.learning_rate, check the data, or set training.nonfinite_loss=skip "
                                "to skip such steps")
        self.skipped_total += 1
        return False

    def check_weights(self, params, epoch: int, batch: int) -> None:
        """Before a checkpoint or validation: weights a finite loss and gradient still pushed to Inf/NaN (a step
        too large) must never be saved. Stops under either policy: later steps could not recover from them."""
        if bool(torch.stack([torch.isfinite(p.detach()).all() for p in params]).all()):
            return
        kept = (f"the last good checkpoint is kept, resume with --resume {self.last_path}"
                if self.last_path.is_file() else "no checkpoint was written yet")
        raise TrainingError(f"weights became NaN or Inf by epoch {epoch}, step {batch} of {self.steps_per_epoch}, so "
                            f"training stopped without saving them; {kept}", "training.learning_rate",
                            "lower training.learning_rate or keep training.grad_clip on")


def deterministic_failure(exc: RuntimeError) -> ConfigError | None:
    """The one-line error for an op that has no deterministic implementation under training.deterministic."""
    text = str(exc)
    if "deterministic" not in text or "use_deterministic_algorithms" not in text:
        return None
    op = text.split(" does not have a deterministic implementation")[0].strip().splitlines()[-1][:120]
    return ConfigError(f"{op} has no deterministic implementation on this device", "training.deterministic=true",
                       "set training.deterministic=false, or run on CPU where every op used here is deterministic")
