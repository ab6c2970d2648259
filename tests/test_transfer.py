"""The generalisation matrix: each cell is the evaluation of that model on that test set, per fake family."""
import pandas as pd
import pytest
import torch

from lab.errors import DataError
from lab.evaluation.evaluate import evaluate_split
from lab.evaluation.transfer import generalisation_matrix
from lab.runtime.checkpoint import load_model


def test_matrix_cells_are_the_evaluation_of_that_model_on_that_set(tiny_checkpoint, synth_root):
    model, cfg, ckpt = load_model(tiny_checkpoint, device=torch.device("cpu"))
    matrix = generalisation_matrix({"tiny": (model, cfg, ckpt["threshold"])}, {"synth": synth_root / "test"})
    ev = evaluate_split(model, cfg, synth_root / "test", torch.device("cpu"), threshold=ckpt["threshold"],
                        progress=False)
    assert matrix.loc["tiny", ("synth", "all")] == pytest.approx(ev.metrics["video"][ev.aggregation]["roc_auc"])
    for family, m in ev.metrics["per_family"].items():
        assert matrix.loc["tiny", ("synth", family)] == pytest.approx(m["roc_auc"])
    families = set(pd.read_csv(synth_root / "test" / "manifest.csv").query("label == 1")["family"])
    assert set(matrix.columns.get_level_values("family")) == families | {"all"}


def test_a_test_set_of_one_class_is_refused(tiny_checkpoint, synth_root, tmp_path):
    import shutil

    shutil.copytree(synth_root / "test" / "real", tmp_path / "test" / "real")
    model, cfg, ckpt = load_model(tiny_checkpoint, device=torch.device("cpu"))
    with pytest.raises(DataError, match="real and fake"):
        generalisation_matrix({"tiny": (model, cfg, ckpt["threshold"])}, {"reals": tmp_path / "test"})
