"""Decision thresholds chosen on validation scores: Youden's J, the equal-error-rate point, or the
highest-recall threshold whose false-positive rate on real items stays within a target.

A clip is called fake when its score is >= the threshold. Each rule returns a threshold that is one of the
scores (the ROC's own cut points), so the rates it reports are exactly those on the data it was chosen on.
"""
from __future__ import annotations

import numpy as np
from sklearn import metrics as skm

from lab.errors import DataError
from lab.evaluation.metrics import both_classes, choose_threshold

METHODS = ("youden", "eer", "target_fpr")


def _roc(labels, scores):
    y, s = np.asarray(labels, dtype=int), np.asarray(scores, dtype=float)
    if not both_classes(y):
        raise DataError("choosing a threshold needs real and fake windows", "validation split",
                        "choose it on a split that holds both classes")
    fpr, tpr, thr = skm.roc_curve(y, s, drop_intermediate=False)
    return fpr, tpr, thr, s


def _finite(thr: np.ndarray, i: int, s: np.ndarray) -> float:
    """roc_curve's first cut is +inf (nothing called fake): the smallest float above every score does that."""
    return float(thr[i]) if np.isfinite(thr[i]) else float(np.nextafter(s.max(), np.inf))


def threshold_target_fpr(labels, scores, target_fpr: float) -> float:
    """The threshold with the highest recall on the fakes among those whose false-positive rate on the reals is
    <= `target_fpr`; of cuts with that recall, the highest (the fewest false positives)."""
    if not 0.0 <= target_fpr < 1.0:
        raise ValueError(f"target FPR {target_fpr} is outside [0, 1)")
    fpr, tpr, thr, s = _roc(labels, scores)
    allowed = fpr <= target_fpr + 1e-12  # cut 0 (+inf, nothing called fake) always is
    i = int(np.flatnonzero(allowed & (tpr == tpr[allowed].max()))[0])  # tpr rises as the cut falls
    return _finite(thr, i, s)


def threshold_eer(labels, scores) -> float:
    """The cut where the false-positive rate (reals called fake) and the false-negative rate (fakes missed) are
    closest; of equally close cuts, the highest."""
    fpr, tpr, thr, s = _roc(labels, scores)
    i = int(np.argmin(np.abs((1.0 - tpr) - fpr)))
    return _finite(thr, i, s)


def select_threshold(labels, scores, method: str = "youden", target_fpr: float = 0.01) -> dict:
    """{"value", "method", "target_fpr" (None unless target_fpr), "fpr", "recall"}: the threshold by `method`
    and the rates it gives on these labels and scores. `youden` is `choose_threshold` (0.5 when no cut beats
    chance), as training has always chosen it."""
    if method == "youden":
        value = choose_threshold(labels, scores)
    elif method == "eer":
        value = threshold_eer(labels, scores)
    elif method == "target_fpr":
        value = threshold_target_fpr(labels, scores, target_fpr)
    else:
        raise ValueError(f"unknown threshold method {method!r}; choose one of {', '.join(METHODS)}")
    fpr, recall = rates(labels, scores, value)
    return {"value": float(value), "method": method, "target_fpr": float(target_fpr) if method == "target_fpr"
            else None, "fpr": fpr, "recall": recall}


def rates(labels, scores, threshold: float) -> tuple[float, float]:
    """(false-positive rate on the reals, recall on the fakes) when score >= threshold means fake."""
    y, s = np.asarray(labels, dtype=int), np.asarray(scores, dtype=float)
    pred = s >= threshold
    real, fake = y == 0, y == 1
    fpr = float(pred[real].mean()) if real.any() else float("nan")
    recall = float(pred[fake].mean()) if fake.any() else float("nan")
    return fpr, recall
