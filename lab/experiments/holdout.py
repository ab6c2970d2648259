"""Held-out-family scores: how a detector trained without one manipulation family does on it, beside how it
does on the families it was trained on (the in-domain score), and the leave-one-family-out table and figure.

A fold's test split holds reals, fakes of the held-out family and fakes of the families seen in training. Both
scores rank the same reals against one group of fakes: the drop from in-domain to held-out AUC is what the
family's absence from training cost. Fakes of families the fold neither held out nor trained on are ignored.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Collection, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from lab.errors import DataError
from lab.evaluation.viz import finish  # also selects a headless backend outside notebooks

# The table's columns, in order: one row per (held-out family, model).
COLUMNS = ("held_out", "model", "in_domain_auc", "held_out_auc", "drop", "held_out_recall", "real_fpr",
           "in_domain_clip_auc", "held_out_clip_auc", "n_real", "n_held_out", "n_in_domain", "train_families",
           "best_epoch", "train_seconds")


def _auc(labels: np.ndarray, scores: np.ndarray) -> float:
    return float(roc_auc_score(labels, scores)) if len(set(labels.tolist())) == 2 else math.nan


def _reals_against(table: pd.DataFrame, score: str, families: Collection[str]) -> float:
    """ROC-AUC of every real row against the fake rows of `families` (NaN when either side is empty)."""
    part = table[(table["label"] == 0) | ((table["label"] == 1) & table["family"].isin(list(families)))]
    return _auc(part["label"].to_numpy(int), part[score].to_numpy(float))


def holdout_scores(videos: pd.DataFrame, windows: pd.DataFrame, held_out: str, seen: Collection[str],
                   threshold: float) -> dict[str, float]:
    """In-domain and held-out scores of one fold from an evaluation of its test split.

    `videos`: one row per video (label, family, score); `windows`: one row per window (label, family, prob_fake);
    `held_out`: the family left out of training; `seen`: the fake families trained on; `threshold`: the decision
    threshold on the video score (chosen on validation, which held no fake of `held_out`). Video-level AUCs use
    the video score, clip-level ones every window."""
    if held_out in seen:
        raise ValueError(f"family {held_out!r} cannot be both held out and seen in training")
    fakes = videos[videos["label"] == 1]
    held = fakes[fakes["family"] == held_out]
    if held.empty:
        present = sorted(fakes["family"].astype(str).unique())
        raise DataError(f"the test split holds no fake of the held-out family {held_out!r} (it holds "
                        f"{', '.join(present) or 'no fakes'})", "--families", "hold out a family of the test split")
    reals = videos[videos["label"] == 0]
    in_domain = _reals_against(videos, "score", seen)
    held_auc = _reals_against(videos, "score", [held_out])
    return {"in_domain_auc": in_domain, "held_out_auc": held_auc, "drop": in_domain - held_auc,
            "held_out_recall": float((held["score"] >= threshold).mean()),
            "real_fpr": float((reals["score"] >= threshold).mean()) if len(reals) else math.nan,
            "in_domain_clip_auc": _reals_against(windows, "prob_fake", seen),
            "held_out_clip_auc": _reals_against(windows, "prob_fake", [held_out]),
            "n_real": len(reals), "n_held_out": len(held), "n_in_domain": int(fakes["family"].isin(list(seen)).sum())}


# ------------------------------------------------------------------------------------------------- the table


def holdout_table(records: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """One row per fold record (held_out, model, the `holdout_scores` keys, ...), columns in COLUMNS order,
    rows by held-out family then model in the order first seen."""
    table = pd.DataFrame([{c: r.get(c) for c in COLUMNS} for r in records], columns=list(COLUMNS))
    models = list(dict.fromkeys(table["model"]))
    table["_order"] = table["model"].map(models.index)
    return table.sort_values(["held_out", "_order"], kind="stable").drop(columns="_order").reset_index(drop=True)


def _cell(value: Any) -> str:
    return "—" if isinstance(value, float) and math.isnan(value) else f"{value:.3f}"


def holdout_markdown(table: pd.DataFrame) -> str:
    """The table as markdown: per held-out family and model, in-domain and held-out video AUC, the drop, and
    what the validation threshold does on the unseen family (fake recall) and on reals (false-positive rate);
    then one mean row per model."""
    lines = ["| held-out family | model | in-domain AUC | held-out AUC | drop | held-out fake recall | real FPR |",
             "|---|---|---|---|---|---|---|"]
    keys = ("in_domain_auc", "held_out_auc", "drop", "held_out_recall", "real_fpr")
    for _, r in table.iterrows():
        lines.append(f"| {r['held_out']} | {r['model']} | " + " | ".join(_cell(float(r[k])) for k in keys) + " |")
    if table["held_out"].nunique() > 1:
        for model, part in table.groupby("model", sort=False):
            means = [_cell(float(part[k].astype(float).mean())) for k in keys]
            lines.append(f"| **mean** | {model} | " + " | ".join(means) + " |")
    return "\n".join(lines)


def plot_holdout(table: pd.DataFrame, save_path: str | Path | None = None, title: str = "Leave one family out"):
    """Grouped bars per held-out family: each model's in-domain AUC (light) and held-out AUC (dark), with chance
    at 0.5. Saved atomically when given a path; returns the figure."""
    families = list(dict.fromkeys(table["held_out"]))
    models = list(dict.fromkeys(table["model"]))
    width = 0.8 / (2 * len(models))
    fig, ax = plt.subplots(figsize=(max(4.5, 1.6 * len(families) * len(models)), 3.8))
    colours = plt.get_cmap("tab10")
    x = np.arange(len(families))
    for m, model in enumerate(models):
        rows = table[table["model"] == model].set_index("held_out").reindex(families)
        for k, (key, alpha, what) in enumerate((("in_domain_auc", 0.45, "in-domain"), ("held_out_auc", 1.0, "held-out"))):
            offset = (2 * m + k - len(models) + 0.5) * width
            ax.bar(x + offset, rows[key].astype(float).fillna(0), width, color=colours(m), alpha=alpha,
                   label=f"{model}: {what}")
    ax.axhline(0.5, ls="--", c="grey", lw=1)
    ax.set_xticks(x, families, rotation=15)
    ax.set(ylim=(0, 1.05), ylabel="video ROC-AUC", title=title)
    ax.legend(fontsize=7, loc="lower right")
    return finish(fig, save_path)
