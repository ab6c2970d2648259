"""How a checkpoint turns logits into a verdict: a temperature and a threshold on the calibrated P(fake), with
the rule that chose the threshold on validation. Stored in every checkpoint as `decision` (and the fit record
as `calibration`), read back by `checkpoint_decision` (older checkpoints: their float threshold, T = 1).

The checkpoint's plain `threshold` key keeps its old meaning for code that scores with T = 1: it is the same cut
on the uncalibrated P(fake) (T only rescales the logits, so it separates the same validation windows).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np
import torch

from lab.evaluation.calibration import Calibration, fit_temperature, probabilities
from lab.evaluation.thresholds import rates, select_threshold

_LABELS = {"youden": "Youden's J on validation", "eer": "equal error rate on validation",
           "target_fpr": "target FPR {target_fpr:g} on validation",
           "legacy": "stored by a version without calibration: Youden's J on validation",
           "unvalidated": "no validation yet", "given": "given by the caller"}


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


def decide(labels, logits, method: str = "youden", target_fpr: float = 0.01,
           temperature_scaling: bool = True) -> tuple[Decision, Calibration, float]:
    """Fit T on (N,) validation labels and (N, 2) clip logits (unless `temperature_scaling` is off), then choose
    the threshold by `method`. Returns (decision, calibration record, the same cut on the uncalibrated scores: the
    checkpoint's plain `threshold`).

    Every rule depends only on the order of the scores, which T does not change, so the cut is chosen among the
    uncalibrated validation scores (exactly the cut training chose before calibration existed) and stated on the
    calibrated scale: the lowest calibrated score of the windows it calls fake. Choosing among the calibrated
    scores directly is the same in exact arithmetic, but T far from 1 can round distinct float32 scores to ties."""
    labels = np.asarray(labels, dtype=int)
    logits = torch.as_tensor(np.asarray(logits, dtype=np.float32))
    calibration = fit_temperature(labels, logits) if temperature_scaling else Calibration.identity(labels, logits)
    t = calibration.temperature
    raw, calibrated = probabilities(logits, 1.0).numpy(), probabilities(logits, t).numpy()
    chosen = select_threshold(labels, raw, method, target_fpr)
    threshold = same_cut(chosen["value"], raw, calibrated)
    fpr, recall = rates(labels, calibrated, threshold)
    decision = Decision(threshold, method, t, calibration.fitted, chosen["target_fpr"], fpr, recall)
    return decision, calibration, chosen["value"]


def same_cut(threshold: float, scores, rescaled) -> float:
    """The threshold on `rescaled` (a monotone rescaling of `scores`, item by item) that flags the items
    `scores >= threshold` flags: the lowest rescaled score among them, or just above every rescaled score when
    none is flagged. Items tied with it after rescaling are flagged too."""
    scores, rescaled = np.asarray(scores, dtype=float), np.asarray(rescaled, dtype=float)
    if np.array_equal(scores, rescaled):
        return float(threshold)
    flagged = scores >= threshold
    return float(rescaled[flagged].min()) if flagged.any() else float(np.nextafter(rescaled.max(), np.inf))
