"""Binary detection metrics (scikit-learn): scores are P(fake), labels 0=real / 1=fake."""
from __future__ import annotations

import numpy as np
from sklearn import metrics as skm

from lab.errors import DataError


def _arrays(labels, scores) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(labels, dtype=int)
    s = np.asarray(scores, dtype=float)
    if y.shape != s.shape or y.ndim != 1:
        raise ValueError(f"labels {y.shape} and scores {s.shape} must be 1-D of equal length")
    return y, s


def both_classes(labels) -> bool:
    return len(set(np.asarray(labels).tolist())) == 2


def equal_error_rate(labels, scores) -> float:
    """The rate where false-positive and false-negative rates cross (interpolated on the ROC)."""
    y, s = _arrays(labels, scores)
    fpr, tpr, _ = skm.roc_curve(y, s)
    fnr = 1.0 - tpr
    i = int(np.nanargmin(np.abs(fnr - fpr)))
    if i + 1 < len(fpr) and (fnr[i] - fpr[i]) * (fnr[i + 1] - fpr[i + 1]) < 0:
        d0, d1 = fnr[i] - fpr[i], fnr[i + 1] - fpr[i + 1]
        w = d0 / (d0 - d1)
        return float(fpr[i] + w * (fpr[i + 1] - fpr[i]))
    return float((fpr[i] + fnr[i]) / 2)


def choose_threshold(labels, scores) -> float:
    """Threshold that maximises balanced accuracy (Youden's J) — chosen on validation, never on test."""
    y, s = _arrays(labels, scores)
    if not both_classes(y):
        return 0.5
    fpr, tpr, thr = skm.roc_curve(y, s)
    j = tpr - fpr
    i = int(np.argmax(j))
    if j[i] <= 0:  # no cut beats chance (an untrained or inverted model): keep the neutral threshold
        return 0.5
    return float(np.clip(thr[i], 0.0, 1.0))


def reliability_curve(labels, scores, bins: int = 10) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per equal-width score bin: mean predicted P(fake), observed fraction fake, share of samples
    (NaN for the first two in an empty bin)."""
    y, s = _arrays(labels, scores)
    idx = np.clip(np.digitize(s, np.linspace(0, 1, bins + 1)[1:-1]), 0, bins - 1)
    count = np.bincount(idx, minlength=bins).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        confidence = np.bincount(idx, weights=s, minlength=bins) / count
        observed = np.bincount(idx, weights=y, minlength=bins) / count
    return confidence, observed, count / max(len(y), 1)


def expected_calibration_error(labels, scores, bins: int = 10) -> float:
    confidence, observed, share = reliability_curve(labels, scores, bins)
    return float(np.nansum(share * np.abs(observed - confidence)))


def binary_metrics(labels, scores, threshold: float = 0.5) -> dict[str, float]:
    """accuracy, precision, recall, f1, roc_auc, pr_auc, eer, ece and confusion counts at `threshold`."""
    y, s = _arrays(labels, scores)
    if len(y) == 0:
        raise DataError("no samples to evaluate", "labels/scores", "score a split that holds at least one window")
    pred = (s >= threshold).astype(int)
    tn, fp, fn, tp = skm.confusion_matrix(y, pred, labels=[0, 1]).ravel()
    out = {
        "n": float(len(y)),
        "threshold": float(threshold),
        "accuracy": skm.accuracy_score(y, pred),
        "balanced_accuracy": skm.balanced_accuracy_score(y, pred) if both_classes(y) else float("nan"),
        "precision": skm.precision_score(y, pred, zero_division=0),
        "recall": skm.recall_score(y, pred, zero_division=0),
        "f1": skm.f1_score(y, pred, zero_division=0),
        "roc_auc": skm.roc_auc_score(y, s) if both_classes(y) else float("nan"),
        "pr_auc": skm.average_precision_score(y, s) if both_classes(y) else float("nan"),
        "eer": equal_error_rate(y, s) if both_classes(y) else float("nan"),
        "ece": expected_calibration_error(y, s),
        "tn": float(tn), "fp": float(fp), "fn": float(fn), "tp": float(tp),
    }
    return {k: float(v) for k, v in out.items()}
