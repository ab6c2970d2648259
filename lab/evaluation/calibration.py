"""Temperature scaling (Guo et al., 2017): one scalar T > 0 fitted on validation so that
P(fake) = softmax(logits / T)[fake] means what it says. T is fitted by minimising the negative log-likelihood of
the validation clip logits (scipy's bounded Brent search over log T); T only rescales the logits, so the ranking
of the scores (ROC-AUC, and which windows a threshold separates) never changes.
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

# T is searched in [T_MIN, T_MAX]: a factor of 20 either way is far beyond the 0.5-3 that trained networks need,
# and T -> 0 turns every score into exactly 0 or 1 in floating point (ties: the ranking, and AUC, would be lost).
T_MIN, T_MAX = 0.05, 20.0


def probabilities(logits: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """(..., 2) logits -> (...) P(fake) = softmax(logits / T)[..., 1]. Every scorer (evaluation, training's
    validation, prediction, calibration) goes through this one function, so equal logits give equal scores."""
    return (logits.float() / float(temperature)).softmax(-1)[..., 1]


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
