"""`make test` executes every notebook once, under nbval, on tiny data, with every output in a temporary folder.

`--nbval-lax` checks that every cell runs. Two things differ from the committed notebook, both the way a user
would do it with `lab notebooks --param NAME=VALUE`: its parameters cell gets tiny sizes (a few 32x32 videos,
4-frame windows, one epoch: how much work a cell does, never which code it runs), and its output folders
(data, checkpoints, logs, reports) point into one temporary folder per session, so a test run leaves nothing
in the working tree. The kernel still starts in notebooks/ and finds the project root from there, and the
notebooks chain as they do for a user: 01 writes the data 02 trains on, 02 writes the checkpoint 03-05 read.
After its last cell each notebook checks the files it promises (`checks`). The full-size runs are `make notebooks`.

conftest.py imports the hook, so it applies when tests/ is part of the run (`make test`); `pytest notebooks
--nbval-lax` on its own runs the plain defaults, writing into data/, checkpoints/, logs/ and reports/.
"""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

# strings as for `lab train --set`: the notebooks' config overlay (config/demo.yaml) cut to a few seconds of CPU
SMALL = ["sequence.length=4", "sequence.stride=4", "image.height=32", "image.width=32", "model.output_stride=8",
         "model.convlstm.hidden_channels=[8,8]", "training.batch_size=4", "device=cpu"]
SYNTHETIC = {"synthetic_train": 2, "synthetic_val": 2, "synthetic_test": 2, "synthetic_frames": 8, "synthetic_size": 32}


def parameters(out: Path) -> dict[str, dict]:
    """notebook stem -> the parameters set at the end of its parameters cell (as papermill -p would)."""
    checkpoints, logs, reports = str(out / "checkpoints"), str(out / "logs"), str(out / "reports")
    real = {"real_footage_dir": str(out / "real"), "real_footage_items": [2, 1, 2]}
    return {
        "01_data_exploration": {"data_dir": str(out / "data"), **SYNTHETIC, "overrides": SMALL, "samples_per_class": 1,
                                "energy_items_per_class": 2, "sampler_draws": 100, **real, "signal_items_per_class": 2},
        "02_training": {"data_dir": str(out / "data"), "overrides": SMALL, "epochs": 1, "device": "cpu",
                        "checkpoint_dir": checkpoints, "log_dir": logs, "progress": False},
        "03_evaluation": {"checkpoint_dir": checkpoints, "reports_dir": reports, "device": "cpu"},
        "04_error_analysis": {"checkpoint_dir": checkpoints, "log_dir": logs, "device": "cpu", "baseline_epochs": 1,
                              **real, "real_epochs": 1, "robustness_severities": {"h264": [40]}},
        # 05 has no checkpoint_dir parameter: its checkpoint is named
        "05_prediction_visualisation": {"checkpoint": str(out / "checkpoints" / "notebooks" / "best.pth"),
                                        "device": "cpu"},
        # its own small set, written by 06 itself (make_synthetic_if_missing)
        "06_generalisation": {"data_dir": str(out / "data_loo"), **SYNTHETIC, "overrides": SMALL, "device": "cpu",
                              "reports_dir": reports, "progress": False},
    }


def checks(out: Path) -> dict[str, str]:
    """notebook stem -> code appended to its last cell: the files it must leave in `out`, and what they hold."""
    def files(*names: str) -> str:
        paths = [str(out / name) for name in names]
        return (f"_missing = [p for p in {paths!r} if not __import__('pathlib').Path(p).is_file()]\n"
                "assert not _missing, f'the notebook did not write {_missing}'\n")

    report = out / "reports" / "notebooks" / "test"  # keyed by run and evaluated split, as test.py --eval
    table = out / "reports" / "notebooks" / "leave_one_out" / "table.csv"
    return {
        "01_data_exploration": files(*(f"data/{s}/manifest.csv" for s in ("train", "val", "test")),
                                     *(f"real/{s}/manifest.csv" for s in ("train", "val", "test"))),
        "02_training": files(*(f"checkpoints/notebooks/{name}" for name in ("best.pth", "last.pth", "history.csv"))),
        "03_evaluation": files(*(str(report.relative_to(out) / name) for name in (
            "metrics.json", "per_item.csv", "roc.png", "pr.png", "confusion_matrix.png", "report.md")))
        + f"assert __import__('json').loads(open({str(report / 'metrics.json')!r}).read())['n_videos'] == 4\n",
        # its frame-only baseline, and the two models of its real-footage ablation
        "04_error_analysis": files(*(f"checkpoints/notebooks_{run}/best.pth"
                                     for run in ("frame_baseline", "real_convlstm", "real_frame"))),
        "06_generalisation": files(str(table.relative_to(out)))
        + f"_table = __import__('pandas').read_csv({str(table)!r})\n"
          "assert sorted(_table['held_out'].unique()) == ['boundary_jitter', 'color_flicker'], _table\n"
          "assert _table['model'].nunique() == 2, _table  # the ConvLSTM and the compared frame-only model\n",
    }


def pytest_collection_modifyitems(config, items):
    from lab.workbench.notebooks import literal_parameters

    cells = [item for item in items if getattr(item, "cell", None) is not None]  # nbval's notebook cells
    if not cells:
        return
    out = Path(tempfile.mkdtemp(prefix="convlstm-lab-notebooks-"))
    config.add_cleanup(lambda: shutil.rmtree(out, ignore_errors=True))
    given, appended = parameters(out), checks(out)
    missing = sorted({item.path.name for item in cells} - {f"{stem}.ipynb" for stem in given})
    if missing:
        raise pytest.UsageError(f"{', '.join(missing)}: no tiny parameters and output folders: add them in {__file__}")
    last = {}  # notebook stem -> its last code cell
    for item in cells:
        stem, cell = item.path.stem, item.cell
        if "parameters" in cell.metadata.get("tags", []):
            unknown = set(given[stem]) - set(literal_parameters(cell.source))
            if unknown:
                raise pytest.UsageError(f"{item.path.name} has no parameter(s) {sorted(unknown)}: update {__file__}")
            cell.source += "\n" + "\n".join(f"{name} = {value!r}" for name, value in given[stem].items())
        if cell.cell_type == "code":
            last[stem] = cell
    for stem, code in appended.items():
        if stem in last:
            last[stem].source += "\n\n# make test: what this notebook must have written (tests/_nbval.py)\n" + code
