"""Figures: ROC / PR / confusion matrix, training curves from TensorBoard, prediction strips.

Every function returns a matplotlib Figure (and saves it when given a path), so notebooks show them
inline and reports write them to disk. Uses the non-interactive Agg backend unless one is already set.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import matplotlib

if matplotlib.get_backend().lower() not in ("module://matplotlib_inline.backend_inline", "widget", "ipympl"):
    matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from sklearn import metrics as skm  # noqa: E402

from lab.errors import DataError  # noqa: E402
from lab.evaluation.metrics import reliability_curve  # noqa: E402
from lab.outputs import save_figure  # noqa: E402


def finish(fig, save_path: str | Path | None = None, tight: bool = True):
    """Tighten the layout and, given a path, save the figure there (`lab.outputs.save_figure`: atomically,
    folders created); returns the figure, so a notebook shows it inline."""
    if tight:
        fig.tight_layout()
    if save_path is not None:
        save_figure(fig, save_path)
    return fig


def plot_roc(labels, scores, save_path=None, title: str = "ROC", label: str = "model"):
    fpr, tpr, _ = skm.roc_curve(labels, scores)
    fig, ax = plt.subplots(figsize=(4.5, 4.2))
    ax.plot(fpr, tpr, lw=2, label=f"{label} (AUC {skm.auc(fpr, tpr):.3f})")
    ax.plot([0, 1], [0, 1], ls="--", c="grey", lw=1, label="chance")
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title=title, xlim=(0, 1), ylim=(0, 1.01))
    ax.legend(loc="lower right")
    return finish(fig, save_path)


def plot_pr(labels, scores, save_path=None, title: str = "Precision-recall", label: str = "model"):
    precision, recall, _ = skm.precision_recall_curve(labels, scores)
    ap = skm.average_precision_score(labels, scores)
    fig, ax = plt.subplots(figsize=(4.5, 4.2))
    ax.step(recall, precision, where="post", lw=2, label=f"{label} (AP {ap:.3f})")
    ax.axhline(np.mean(labels), ls="--", c="grey", lw=1, label="chance")
    ax.set(xlabel="recall (fake)", ylabel="precision (fake)", title=title, xlim=(0, 1), ylim=(0, 1.01))
    ax.legend(loc="lower left")
    return finish(fig, save_path)


def plot_confusion(labels, preds, save_path=None, title: str = "Confusion matrix",
                   class_names: Sequence[str] = ("real", "fake")):
    cm = skm.confusion_matrix(labels, preds, labels=[0, 1])
    fig, ax = plt.subplots(figsize=(4, 3.6))
    sns.heatmap(cm, annot=True, fmt="d", cmap="Blues", cbar=False, ax=ax,
                xticklabels=class_names, yticklabels=class_names)
    ax.set(xlabel="predicted", ylabel="true", title=title)
    return finish(fig, save_path)


def plot_reliability(labels, scores, save_path=None, bins: int = 10, title: str = "Reliability",
                     before=None, label: str = "model", before_label: str = "before temperature scaling"):
    """Predicted P(fake) per bin against the observed fraction fake; `before`: the same windows' scores before
    temperature scaling, drawn beside them."""
    conf, acc, _ = reliability_curve(labels, scores, bins)
    fig, ax = plt.subplots(figsize=(4.5, 4.2))
    ax.plot([0, 1], [0, 1], ls="--", c="grey", lw=1, label="perfectly calibrated")
    if before is not None:
        conf0, acc0, _ = reliability_curve(labels, before, bins)
        ax.plot(conf0, acc0, marker="s", lw=1.5, c="tab:orange", alpha=0.8, label=before_label)
    ax.plot(conf, acc, marker="o", lw=2, c="tab:blue", label=label)
    ax.set(xlabel="predicted P(fake)", ylabel="observed fraction fake", title=title, xlim=(0, 1), ylim=(0, 1))
    ax.legend(loc="best", fontsize="small")
    return finish(fig, save_path)


def read_scalars(log_path: str | Path) -> pd.DataFrame:
    """Every scalar of a TensorBoard run as a long table: tag, step, value."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    log_path = Path(log_path)
    if not log_path.exists() or not any(log_path.glob("events.out.tfevents.*")):
        raise DataError("no TensorBoard events", log_path, "pass a run folder such as logs/<run>")
    acc = EventAccumulator(str(log_path), size_guidance={"scalars": 0})
    acc.Reload()
    rows = [(tag, e.step, e.wall_time, e.value) for tag in acc.Tags()["scalars"] for e in acc.Scalars(tag)]
    df = pd.DataFrame(rows, columns=["tag", "step", "wall_time", "value"]).sort_values("wall_time")
    # A resumed or repeated run writes some steps again: the newest value of each step wins.
    return df.drop_duplicates(["tag", "step"], keep="last").drop(columns="wall_time").sort_values(["tag", "step"])


def plot_training_curves(log_path: str | Path, save_path: str | Path | None = None):
    """Loss, accuracy, AUC and learning rate per epoch, read from the TensorBoard run at `log_path`."""
    df = read_scalars(log_path)
    panels = [("loss", ["train/loss", "val/loss"]), ("accuracy", ["train/acc", "val/acc"]),
              ("ROC-AUC", ["val/auc"]), ("learning rate", ["lr"])]
    fig, axes = plt.subplots(1, 4, figsize=(15, 3.2))
    for ax, (name, tags) in zip(axes, panels):
        for tag in tags:
            part = df[df["tag"] == tag].sort_values("step")
            if len(part):
                ax.plot(part["step"], part["value"], marker="o", ms=3, label=tag)
        ax.set(title=name, xlabel="epoch")
        ax.legend(fontsize=8)
    return finish(fig, save_path)


def frame_strip(frames: np.ndarray, max_frames: int = 8) -> np.ndarray:
    """(T,H,W,3) uint8 -> (H, k*W, 3) with up to `max_frames` frames spread evenly over T."""
    frames = np.asarray(frames)
    idx = np.linspace(0, len(frames) - 1, min(max_frames, len(frames))).round().astype(int)
    return np.concatenate(list(frames[idx]), axis=1)


def visualize_prediction(frames: np.ndarray, prediction: Any, save_path: str | Path | None = None,
                         max_frames: int = 8):
    """A strip of frames above the per-frame P(fake) timeline with the verdict in the title.

    `frames`: (T,H,W,3) uint8 RGB. `prediction`: a `lab.inference.infer.Prediction`, or a dict with
    `prob_fake`, `threshold`, `label` and optionally per-frame scores under `frames`.
    """
    pred = prediction.to_dict() if hasattr(prediction, "to_dict") else dict(prediction)
    frames = np.asarray(frames)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(12, 4.5), gridspec_kw={"height_ratios": [2, 1]})
    top.imshow(frame_strip(frames, max_frames))
    top.axis("off")
    top.set_title(f"{str(pred.get('label', '?')).upper()}  P(fake) = {pred['prob_fake']:.3f}  "
                  f"(threshold {pred.get('threshold', 0.5):.2f})")
    per_frame = pred.get("frames")
    if per_frame:
        bottom.plot(np.arange(len(per_frame)), np.asarray(per_frame, dtype=float), lw=2, c="tab:red")  # 0-based
        bottom.axhline(pred.get("threshold", 0.5), ls="--", c="grey", lw=1)
    bottom.set(xlabel="frame", ylabel="P(fake)", ylim=(0, 1))
    return finish(fig, save_path)
