"""Choosing a checkpoint's Decision on validation (`decide`): temperature scaling (Guo et al., 2017), one scalar
T > 0 fitted so that P(fake) = softmax(logits / T)[fake] means what it says, then the threshold by one of the rules
in `lab.evaluation.thresholds`. T is fitted by minimising the negative log-likelihood of the validation clip logits
(scipy's bounded Brent search over log T); T only rescales the logits, so the ranking of the scores (ROC-AUC, and
which windows a threshold separates) never changes.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch
from scipy.optimize import minimize_scalar
from scipy.special import log_expit

from lab.errors import DataError
from lab.evaluation.metrics import both_classes, expected_calibration_error
from lab.evaluation.thresholds import rates, select_threshold
from lab.scoring.decision import Decision, probabilities

# T is searched in [T_MIN, T_MAX]: a factor of 20 either way is far beyond the 0.5-3 that trained networks need,
# and T -> 0 turns every score into exactly 0 or 1 in floating point (ties: the ranking, and AUC, would be lost).
T_MIN, T_MAX = 0.05, 20.0


def margins(logits) -> np.ndarray:
    """(N, 2) logits -> (N,) fake-minus-real logit margin (float64): softmax(l / T)[1] = sigmoid(margin / T)."""
    arr = np.asarray(logits, dtype=np.float64)
    return arr[:, 1] - arr[:, 0]


def nll(labels, logit_margins, temperature: float) -> float:
    """Mean binary cross-entropy of sigmoid(margin / T) against the labels (the clip loss at temperature T)."""
    y, z = np.asarray(labels), np.asarray(logit_margins, dtype=np.float64) / temperature
    return float(-np.mean(np.where(y == 1, log_expit(z), log_expit(-z))))


@dataclass(frozen=True)
class Calibration:
    """A fitted temperature and what it did on the data it was fitted on."""

    temperature: float
    fitted: bool  # False: temperature scaling is off, or validation left T undetermined (see `note`)
    nll_raw: float
    nll_calibrated: float
    ece_raw: float
    ece_calibrated: float
    n_windows: int
    note: str = ""

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def identity(cls, labels, logits, note: str = "temperature scaling is off") -> "Calibration":
        """T = 1 (no scaling), with the raw figures for the record."""
        y, m = np.asarray(labels), margins(logits)
        raw_nll, raw_ece = nll(y, m, 1.0), _ece(y, logits, 1.0)
        return cls(1.0, False, raw_nll, raw_nll, raw_ece, raw_ece, len(y), note)


def _ece(labels, logits, temperature: float) -> float:
    return expected_calibration_error(labels, probabilities(torch.as_tensor(np.asarray(logits)), temperature).numpy())


def fit_temperature(labels, logits) -> Calibration:
    """Fit T on (N,) labels (0 real / 1 fake) and (N, 2) clip logits by minimising the NLL.

    Where validation separates the classes perfectly, the NLL keeps falling as T shrinks and has no minimum: any
    T would be a guess, so T stays 1 and `note` says why (validate on more, or harder, data). An optimum at a
    bound of [T_MIN, T_MAX] is kept and noted."""
    y = np.asarray(labels, dtype=int)
    m = margins(logits)
    if len(y) == 0 or not both_classes(y):
        raise DataError("temperature scaling needs real and fake windows", "validation split",
                        "calibrate on a split that holds both classes")
    if m[y == 0].max() < m[y == 1].min():
        return Calibration.identity(y, logits, "validation clips are perfectly separated, so the NLL falls "
                                               "without end as T shrinks and T is undetermined; T = 1 kept")
    result = minimize_scalar(lambda log_t: nll(y, m, math.exp(log_t)), bounds=(math.log(T_MIN), math.log(T_MAX)),
                             method="bounded", options={"xatol": 1e-6})
    t = float(math.exp(result.x))
    note = ""
    if min(t / T_MIN, T_MAX / t) < 1.001:
        note = f"T stopped at the bound of [{T_MIN}, {T_MAX}]"
    return Calibration(t, True, nll(y, m, 1.0), nll(y, m, t), _ece(y, logits, 1.0), _ece(y, logits, t), len(y),
                       note)


def decide(labels, logits, method: str = "youden", target_fpr: float = 0.01,
           temperature_scaling: bool = True) -> tuple[Decision, Calibration, float]:
    """Fit T on (N,) validation labels and (N, 2) clip logits (unless `temperature_scaling` is off), then choose
    the threshold by `method`. Returns (decision, calibration record, the same cut on the uncalibrated scores: the
    checkpoint's plain `threshold`).

    Every rule depends only on the order of the scores, which T does not change, so the cut is chosen among the
    uncalibrated validation scores (exactly the cut of a run without temperature scaling) and stated on the
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
