"""Results broken down by group: a manipulation family, a source clip, a storage format, a severity, a
compression level, or any other column of a split's `manifest.csv`.

In-domain scores over a whole split hide where a detector fails; per-group numbers show it. Each group gets
ROC-AUC and average precision, the share of its fakes caught at the decision threshold (fake recall) and the
share of its reals called fake (false-positive rate). A group holding one class only (a fake family) is
scored against every video of the other class, which is how per-family results are usually read.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, roc_auc_score

from lab.data.dataset import read_manifest
from lab.data.video import is_video
from lab.evaluation.metrics import both_classes

# identifiers and positions, never groups: a generated set's first frame, crop box and mask file per item
NOT_GROUPS = frozenset({"item", "label", "score", "pred", "n_windows", "window_scores", "start", "crop",
                        "source_start", "mask"})
MAX_GROUPS = 50  # a column with more distinct values is an identifier or a measurement, not a grouping


def attach_manifest(videos: pd.DataFrame, data_dir: str | Path) -> pd.DataFrame:
    """`videos` plus the columns of `data_dir/manifest.csv` it lacks (e.g. source, format), matched by item
    (a video's item may carry its extension, the manifest's not); unchanged when there is no manifest. Items
    missing from the manifest get NaN there."""
    manifest = read_manifest(Path(data_dir))
    if manifest is None:
        return videos.copy()
    out = videos.copy()
    extra = sorted({key for row in manifest.values() for key in row} - set(out.columns) - {"item"})
    for key in extra:
        values = []
        for item in out["item"]:
            row = manifest.get(item) or (manifest.get(str(Path(item).with_suffix(""))) if is_video(item) else None)
            values.append(row.get(key) if row else np.nan)
        out[key] = values
    return out


def group_columns(videos: pd.DataFrame) -> list[str]:
    """The columns worth grouping by: `family` first, then every other column with 2..MAX_GROUPS values."""
    columns = [c for c in videos.columns if c not in NOT_GROUPS and 2 <= videos[c].nunique() <= MAX_GROUPS]
    return sorted(columns, key=lambda c: (c != "family", c))


def group_metrics(videos: pd.DataFrame, column: str, threshold: float) -> pd.DataFrame:
    """One row per value of `column`: n_real, n_fake, roc_auc, ap, fake_recall, real_fpr (decided at
    `threshold` on the video score). AUC and AP are within the group when it holds both classes, else the
    group against every video of the other class; NaN where that still lacks a class."""
    rows = []
    for value, part in videos.groupby(column, sort=True, dropna=True):
        scored = part if both_classes(part["label"]) else pd.concat(
            [part, videos[videos["label"] != part["label"].iloc[0]]])
        real, fake = part[part["label"] == 0], part[part["label"] == 1]
        ranked = both_classes(scored["label"])
        rows.append({column: value, "n_real": len(real), "n_fake": len(fake),
                     "roc_auc": roc_auc_score(scored["label"], scored["score"]) if ranked else np.nan,
                     "ap": average_precision_score(scored["label"], scored["score"]) if ranked else np.nan,
                     "fake_recall": float((fake["score"] >= threshold).mean()) if len(fake) else np.nan,
                     "real_fpr": float((real["score"] >= threshold).mean()) if len(real) else np.nan})
    return pd.DataFrame(rows).set_index(column)


def all_groups(videos: pd.DataFrame, threshold: float) -> dict[str, dict[str, dict[str, float]]]:
    """{column: {value: metrics}} for every `group_columns` column: what metrics.json stores under "groups"."""
    return {column: {str(value): {k: float(v) for k, v in row.items()}
                     for value, row in group_metrics(videos, column, threshold).iterrows()}
            for column in group_columns(videos)}
