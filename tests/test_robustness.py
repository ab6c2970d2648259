"""The robustness sweep on a tiny trained model and split: the table, markdown, plot and JSON it writes, the
perturbed copy of the split it evaluates, and its refusal to overwrite an earlier sweep."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pandas as pd
import pytest

from lab.data.dataset import discover_items, read_manifest
from lab.data.video import open_item
from lab.errors import StorageError
from lab.experiments.robustness import RESULT_FILES, robustness_sweep, write_perturbed_split
from lab.runtime.checkpoint import load_model


def test_perturbed_split_keeps_items_and_manifest(synth_root, tmp_path):
    out = write_perturbed_split(synth_root / "test", tmp_path / "halved", "fps", 2)
    before, after = discover_items(synth_root / "test")[0], discover_items(out)[0]
    assert len(after) == len(before) and all(p.is_dir() for p, _ in after)  # videos became PNG folders
    assert [label for _, label in after] == [label for _, label in before]
    assert {len(open_item(p)) for p, _ in after} == {6}  # 12 frames at half the frame rate
    manifest = read_manifest(out)
    assert set(manifest) == {p.relative_to(out).as_posix() for p, _ in after}  # every item still has its row


def test_sweep_writes_table_and_plot_and_refuses_to_overwrite(tiny_checkpoint, synth_root, tmp_path):
    model, cfg, ckpt = load_model(tiny_checkpoint)
    out = tmp_path / "sweep"
    result = robustness_sweep(model, cfg, synth_root / "test", "cpu", threshold=ckpt["threshold"],
                              severities={"h264": [40], "fps": [2]}, out=out, checkpoint=tiny_checkpoint,
                              progress=False)
    table = pd.read_csv(out / "robustness.csv")
    assert list(table["perturbation"]) == ["none", "h264", "fps"] and table["severity"].iloc[1] == 40
    assert table["clip_auc"].between(0, 1).all() and table["n_videos"].eq(6).all()
    assert table["n_windows"].iloc[2] < table["n_windows"].iloc[0]  # half the frames: fewer windows
    assert np.allclose(table["clip_auc"], result.table["clip_auc"])
    assert "| h264 | 40 (CRF) |" in (out / "robustness.md").read_text()
    plot = cv2.imread(str(out / "robustness.png"))
    assert plot is not None and plot.shape[0] > 100 and plot.std() > 0
    meta = json.loads((out / "robustness.json").read_text())
    assert meta["severities"] == {"h264": [40], "fps": [2]} and len(meta["rows"]) == 3

    before = {f: (out / f).read_bytes() for f in RESULT_FILES}
    with pytest.raises(StorageError, match="already holds a robustness sweep"):
        robustness_sweep(model, cfg, synth_root / "test", "cpu", threshold=ckpt["threshold"],
                         severities={"blur": [1.0]}, out=out, progress=False)
    assert {f: (out / f).read_bytes() for f in RESULT_FILES} == before  # nothing touched
