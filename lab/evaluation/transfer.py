"""The generalisation matrix: each trained model scored on each test set, including sets of manipulations it never
saw in training (trained on temporal-only edits, tested on face swaps, and the reverse).

One row per model, one column per (test set, fake family): the video ROC-AUC of that family's fakes against all
the set's reals (`evaluate.per_family`), and one `all` column per set (every fake against every real). A cell far
below the in-domain cells of its row is a manipulation the model does not transfer to.
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping

import pandas as pd
import torch

from lab.config import Config
from lab.errors import DataError
from lab.evaluation.evaluate import evaluate_split
from lab.scoring.decision import Decision


def generalisation_matrix(models: Mapping[str, tuple[torch.nn.Module, Config, Decision | float]],
                          test_sets: Mapping[str, str | Path], device: torch.device | str = "cpu") -> pd.DataFrame:
    """`models`: name -> (model, its config, its decision: `checkpoint_decision(ckpt)`, or a plain threshold on
    uncalibrated scores); `test_sets`: name -> a test split folder
    holding both classes. Returns the matrix: index the model names, columns a (test set, family) MultiIndex,
    values video ROC-AUC."""
    device = torch.device(device)
    rows = {}
    for name, (model, cfg, threshold) in models.items():
        cells = {}
        for set_name, folder in test_sets.items():
            ev = evaluate_split(model.to(device), cfg, folder, device, threshold=threshold, progress=False)
            if "per_family" not in ev.metrics:
                raise DataError("a test set needs real and fake videos to score", folder,
                                "give a test split holding both classes")
            cells[(set_name, "all")] = ev.metrics["video"][ev.aggregation]["roc_auc"]
            for family, m in ev.metrics["per_family"].items():
                cells[(set_name, family)] = m["roc_auc"]
        rows[name] = cells
    matrix = pd.DataFrame.from_dict(rows, orient="index")
    matrix.columns = pd.MultiIndex.from_tuples(matrix.columns, names=["test set", "family"])
    return matrix
