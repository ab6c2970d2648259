"""How a checkpoint turns logits into a verdict: a temperature and a threshold on the calibrated P(fake), with
the rule that chose the threshold on validation. Stored in every checkpoint as `decision` (and the fit record
as `calibration`), read back by `checkpoint_decision` (older checkpoints: their float threshold, T = 1).
Validation chooses it (`lab.evaluation.calibration.decide`); evaluation and inference apply it.

The checkpoint's plain `threshold` key keeps its old meaning for code that scores with T = 1: it is the same cut
on the uncalibrated P(fake) (T only rescales the logits, so it separates the same validation windows).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import torch

_LABELS = {"youden": "Youden's J on validation", "eer": "equal error rate on validation",
           "target_fpr": "target FPR {target_fpr:g} on validation",
           "legacy": "stored by a version without calibration: Youden's J on validation",
           "unvalidated": "no validation yet", "given": "given by the caller"}


def probabilities(logits: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """(..., 2) logits -> (...) P(fake) = softmax(logits / T)[..., 1]. Every scorer (evaluation, training's
    validation, prediction, calibration) goes through this one function, so equal logits give equal scores."""
    return (logits.float() / float(temperature)).softmax(-1)[..., 1]


@dataclass(frozen=True)
class Decision:
    """A clip (and, for mean/confident aggregation, a video) is fake when softmax(logits / temperature)[fake]
    >= threshold."""

    threshold: float
    method: str  # youden | eer | target_fpr (chosen on validation) | legacy | unvalidated | given
    temperature: float = 1.0
    calibrated: bool = False  # the threshold was chosen on temperature-scaled scores
    target_fpr: float | None = None
    val_fpr: float | None = None  # false-positive rate on the real validation clips at the threshold
    val_recall: float | None = None  # recall on the fake validation clips
    override: float | None = None  # the stored threshold when --threshold replaced it

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "Decision":
        return cls(**{k: data.get(k) for k in cls.__dataclass_fields__ if k in data})

    def overridden(self, threshold: float) -> "Decision":
        """The same temperature with another threshold (`--threshold`), remembering the stored one."""
        return replace(self, threshold=float(threshold), override=self.threshold)

    def describe(self) -> str:
        """`threshold 0.412 (target FPR 0.01 on validation, calibrated T=1.83)`."""
        how = _LABELS.get(self.method, self.method).format(target_fpr=self.target_fpr or 0.0)
        if self.override is not None:
            how = f"--threshold override; stored {self.override:.3f}: {how}"
        scale = f"calibrated T={self.temperature:.3g}" if self.temperature != 1.0 else "T=1, uncalibrated"
        return f"threshold {self.threshold:.3f} ({how}, {scale})"

    def short(self) -> str:
        """`target_fpr 0.01, T=1.83` for one-line verdicts."""
        method = "override" if self.override is not None else self.method
        target = f" {self.target_fpr:g}" if self.method == "target_fpr" and self.override is None else ""
        return f"{method}{target}, T={self.temperature:.3g}"


def as_decision(threshold: "float | Decision") -> Decision:
    """A Decision as given, or a plain float threshold applied to uncalibrated scores (T = 1)."""
    return threshold if isinstance(threshold, Decision) else Decision(float(threshold), "given")


def checkpoint_decision(ckpt: dict) -> Decision:
    """The decision a checkpoint stores; a checkpoint from before calibration gives its float threshold, T = 1."""
    if isinstance(ckpt.get("decision"), dict):
        return Decision.from_dict(ckpt["decision"])
    return Decision(float(ckpt.get("threshold", 0.5)), "legacy")
