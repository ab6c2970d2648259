"""Figures for the notebooks: those drawn from the tables `lab.workbench.analysis` computes, and the evaluation and
experiment figures of the stages below (`plot_roc`, `plot_pr`, `plot_confusion`, `plot_reliability`, `frame_strip`,
`plot_robustness`, `plot_holdout`), so a notebook reaches every figure through `plots`.

Like `lab.evaluation.viz`, every function returns a matplotlib Figure (saved when given `save_path`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.ticker import MaxNLocator

from lab.data.video import open_item
from lab.evaluation.viz import (finish, frame_strip, plot_confusion, plot_pr,  # noqa: F401  (re-exported, see above)
                                plot_reliability, plot_roc)  # also selects a headless backend outside notebooks
from lab.experiments.holdout import plot_holdout  # noqa: F401  (re-exported)
from lab.experiments.robustness import plot_robustness  # noqa: F401  (re-exported)
from lab.workbench.analysis import difference_map, frame_timeline, read_spread

CLASS_COLOURS = {"real": "tab:blue", "fake": "tab:red", 0: "tab:blue", 1: "tab:red"}


def plot_frame_grid(samples: Sequence[tuple[str, np.ndarray]], frames_per_row: int = 6, save_path=None):
    """One row per `(title, frames (T, H, W, 3) uint8)`: `frames_per_row` frames spread over the clip."""
    rows = len(samples)
    fig, axes = plt.subplots(rows, 1, figsize=(1.6 * frames_per_row, 1.7 * rows), squeeze=False)
    for ax, (title, frames) in zip(axes[:, 0], samples):
        ax.imshow(frame_strip(frames, frames_per_row))
        ax.set_title(title, fontsize=9, loc="left")
        ax.axis("off")
    return finish(fig, save_path)


def plot_faceswap(example, frames_per_row: int = 8, save_path=None):
    """A face swap next to its real (a `lab.workbench.swaps.SwapExample`): the real frames, the fake frames,
    |fake - real| x 4, and the mask (where the fake may differ; outside it they are equal)."""
    difference = np.clip(np.abs(example.fake.astype(int) - example.real.astype(int)) * 4, 0, 255).astype(np.uint8)
    mask = np.repeat(example.mask[..., None].astype(np.uint8) * 255, 3, axis=-1)
    rows = (("real", example.real), ("fake", example.fake), ("|fake - real| x 4", difference), ("mask", mask))
    fig, axes = plt.subplots(len(rows), 1, figsize=(1.5 * frames_per_row, 1.6 * len(rows)), squeeze=False)
    for ax, (title, frames) in zip(axes[:, 0], rows):
        ax.imshow(frame_strip(frames, frames_per_row))
        ax.set_title(title, fontsize=9, loc="left")
        ax.axis("off")
    fig.suptitle(example.title(), fontsize=9)
    return finish(fig, save_path)


def plot_difference_energy(table: pd.DataFrame, save_path=None):
    """Left: consecutive-frame difference energy over time, one thin line per item and the class mean in bold.
    Right: each item's mean energy by class (the separation a single number already achieves)."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 3.6), gridspec_kw={"width_ratios": [2, 1]})
    for (cls, item), part in table.groupby(["class", "item"], sort=False):
        left.plot(part["t"], part["energy"], c=CLASS_COLOURS[cls], alpha=0.25, lw=1)
    for cls, part in table.groupby("class", sort=False):
        mean = part.groupby("t")["energy"].mean()
        left.plot(mean.index, mean.values, c=CLASS_COLOURS[cls], lw=2.5, label=f"{cls} (mean)")
    left.set(xlabel="frame t", ylabel="mean (x_t - x_(t-1))^2", title="Frame-difference energy over time")
    left.legend()
    per_item = table.groupby(["item", "class", "family"], as_index=False)["energy"].mean()
    sns.stripplot(data=per_item, x="family", y="energy", hue="class", palette=CLASS_COLOURS, ax=right, size=6)
    right.set(xlabel="", ylabel="mean energy per item", title="Per item, by family")
    right.tick_params(axis="x", rotation=30)
    return finish(fig, save_path)


def plot_difference_maps(samples: Sequence[tuple[str, np.ndarray]], save_path=None):
    """For each `(title, frames)`: its first frame and the mean |x_t - x_(t-1)| map (where the change lives)."""
    fig, axes = plt.subplots(2, len(samples), figsize=(2.4 * len(samples), 5), squeeze=False)
    maps = [difference_map(frames) for _, frames in samples]
    vmax = max(float(m.max()) for m in maps) or 1.0  # one colour scale so maps compare across items
    for col, ((title, frames), dmap) in enumerate(zip(samples, maps)):
        axes[0, col].imshow(frames[0])
        axes[0, col].set_title(title, fontsize=8)
        image = axes[1, col].imshow(dmap, cmap="magma", vmin=0, vmax=vmax)
        for row in (0, 1):
            axes[row, col].axis("off")
    fig.colorbar(image, ax=axes[1, :].tolist(), shrink=0.8, label="mean |change| (grey levels)")
    return finish(fig, save_path, tight=False)  # tight_layout cannot place a colorbar spanning axes


def plot_class_balance(tables: Mapping[str, pd.DataFrame], save_path=None):
    """One panel per `class_balance` table: the class shares in the data and in the weighted sampler's draws."""
    fig, axes = plt.subplots(1, len(tables), figsize=(4.2 * len(tables), 3.4), squeeze=False)
    for ax, (title, table) in zip(axes[0], tables.items()):
        shares = table[["share", "sampled_share"]].rename(columns={"share": "in the data",
                                                                   "sampled_share": "weighted sampler draws"})
        shares.T.plot.bar(ax=ax, color=[CLASS_COLOURS[c] for c in table.index], rot=0)
        ax.axhline(0.5, ls="--", c="grey", lw=1)
        ax.set(ylim=(0, 1), ylabel="share of windows", title=title)
    return finish(fig, save_path)


def plot_history(history: pd.DataFrame, save_path=None):
    """Loss, accuracy, validation ROC-AUC and learning rate per epoch from `TrainResult.history`."""
    panels = [("loss", ["train_loss", "val_loss"]), ("accuracy", ["train_acc", "val_acc"]),
              ("validation ROC-AUC", ["val_auc"]), ("learning rate", ["lr"])]
    fig, axes = plt.subplots(1, 4, figsize=(15, 3.2))
    for ax, (name, columns) in zip(axes, panels):
        for column in columns:
            ax.plot(history["epoch"], history[column], marker="o", ms=4, label=column)
        ax.set(title=name, xlabel="epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend(fontsize=8)
    return finish(fig, save_path)


def plot_score_distributions(windows: pd.DataFrame, videos: pd.DataFrame, threshold: float, save_path=None):
    """P(fake) histograms by true class for clips and videos, with the decision threshold."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.4))
    for ax, (name, table, column) in zip(axes, (("clips", windows, "prob_fake"), ("videos", videos, "score"))):
        for label, cls in enumerate(("real", "fake")):
            values = table.loc[table["label"] == label, column]
            ax.hist(values, bins=np.linspace(0, 1, 21), alpha=0.6, color=CLASS_COLOURS[cls],
                    label=f"{cls} ({len(values)})")
        ax.axvline(threshold, ls="--", c="k", lw=1, label=f"threshold {threshold:.2f}")
        ax.set(xlabel="P(fake)" if name == "clips" else "video score", ylabel="count", title=f"Scores of {name}")
        ax.legend(fontsize=8)
    return finish(fig, save_path)


def plot_error_gallery(errors: pd.DataFrame, windows: pd.DataFrame, data_dir: str | Path, threshold: float,
                       max_frames: int = 8, save_path=None):
    """For each row of `worst_errors`: a frame strip of the video and its per-frame P(fake) timeline."""
    n = max(len(errors), 1)
    fig, axes = plt.subplots(n, 2, figsize=(14, 1.9 * n), squeeze=False, gridspec_kw={"width_ratios": [3, 2]})
    for (strip_ax, line_ax), (_, row) in zip(axes, errors.iterrows()):
        source = open_item(Path(data_dir) / row["item"])
        strip_ax.imshow(frame_strip(read_spread(source, max_frames), max_frames))  # never the whole video
        strip_ax.axis("off")
        verdict = "ERROR" if row["error"] else "correct"
        strip_ax.set_title(f"{row['kind']} candidate ({verdict}): {row['item']}  score {row['score']:.3f}",
                           fontsize=9, loc="left")
        timeline = frame_timeline(windows, row["item"])
        line_ax.plot(timeline.index + 1, timeline.values, c=CLASS_COLOURS[int(row["label"])], lw=2)
        line_ax.axhline(threshold, ls="--", c="grey", lw=1)
        line_ax.set(ylim=(0, 1), ylabel="P(fake)", xlabel="frame")
    if errors.empty:
        axes[0, 0].text(0.5, 0.5, "no videos", ha="center")
    return finish(fig, save_path)


def plot_threshold_sweep(sweep: pd.DataFrame, chosen: float, title: str = "Threshold sweep", save_path=None):
    """Precision, recall, F1 and accuracy against the threshold, with the validation-chosen threshold marked."""
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    for column in ("precision", "recall", "f1", "accuracy"):
        ax.plot(sweep["threshold"], sweep[column], lw=2, label=column)
    ax.axvline(chosen, ls="--", c="k", lw=1, label=f"chosen on validation ({chosen:.2f})")
    ax.set(xlabel="threshold on P(fake)", ylim=(0, 1.02), xlim=(0, 1), title=title)
    ax.legend(fontsize=8, loc="lower left")
    return finish(fig, save_path)


def plot_temporal_ablation(tables: Mapping[str, pd.DataFrame], save_path=None):
    """One panel per model: each clip's P(fake) in its original frame order (x) and shuffled (y)."""
    fig, axes = plt.subplots(1, len(tables), figsize=(4.4 * len(tables), 4.2), squeeze=False)
    for ax, (name, table) in zip(axes[0], tables.items()):
        for label, cls in enumerate(("real", "fake")):
            part = table[table["label"] == label]
            ax.scatter(part["prob_fake"], part["prob_fake_shuffled"], s=18, alpha=0.7, c=CLASS_COLOURS[cls], label=cls)
        ax.plot([0, 1], [0, 1], ls="--", c="grey", lw=1)
        ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="P(fake), original order", ylabel="P(fake), frames shuffled",
               title=name)
        ax.legend(fontsize=8)
    return finish(fig, save_path)


def plot_breakdown(table: pd.DataFrame, title: str = "", save_path=None):
    """Accuracy and ROC-AUC per group of a `breakdown` table, with each group's counts under its name."""
    fig, ax = plt.subplots(figsize=(max(5.0, 1.3 * len(table)), 3.6))
    names = [f"{g}\n({int(r)} real / {int(f)} fake)" for g, r, f in zip(table.index, table["n_real"], table["n_fake"])]
    x = np.arange(len(table))
    ax.bar(x - 0.2, table["accuracy"], width=0.4, label="accuracy")
    ax.bar(x + 0.2, table["roc_auc"].fillna(0), width=0.4, label="ROC-AUC")
    ax.axhline(0.5, ls="--", c="grey", lw=1)
    ax.set_xticks(x, names, fontsize=8)
    ax.set(ylim=(0, 1.05), title=title or f"By {table.index.name}")
    ax.legend(fontsize=8, loc="lower right")
    return finish(fig, save_path)


def plot_separability(table: pd.DataFrame, save_path=None):
    """A `separability` table as bars: one panel per difference order, groups = all fakes and each family,
    one bar per frame size; the dashed line is chance."""
    orders = list(dict.fromkeys(table.index.get_level_values("order")))
    fig, axes = plt.subplots(1, len(orders), figsize=(6.5 * len(orders), 3.6), squeeze=False)
    for ax, order in zip(axes[0], orders):
        part = table.xs(order, level="order")
        x, width = np.arange(len(part.columns)), 0.8 / len(part)
        for i, (size, row) in enumerate(part.iterrows()):
            ax.bar(x + (i - (len(part) - 1) / 2) * width, row.fillna(0).to_numpy(), width=width, label=size)
        ax.axhline(0.5, ls="--", c="grey", lw=1)
        ax.set_xticks(x, [str(c).replace("_", "\n") for c in part.columns], fontsize=8)
        ax.set(ylim=(0, 1.0), ylabel="ROC-AUC, real vs fake",
               title=f"Order-{order} frame difference: centre / whole frame")
        ax.legend(fontsize=8, title="frame size")
    return finish(fig, save_path)
