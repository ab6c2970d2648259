"""`make test` runs the notebooks under nbval with their committed defaults, except for how long they train.

`--nbval-lax` checks that every cell runs; the number of epochs (and of re-encoding severities) changes how long
a cell takes, never which code it runs, so the training cells run shorter here. Everything else stays the default:
the data sets 01 writes into data/ (which `make notebooks` reuses), the configs, the paths and the chaining of
02's checkpoint into 03-05. The full-length runs are `make notebooks`; tests/test_notebooks.py runs every
notebook with tiny parameters through papermill.

conftest.py imports the hook, so it applies when tests/ is part of the run (`make test`); `pytest notebooks
--nbval-lax` on its own runs the plain defaults.
"""
from __future__ import annotations

import pytest

# notebook stem -> parameters set at the end of its parameters cell, as papermill -p would
SHORTER = {
    "02_training": {"epochs": 2},  # default 8; 04's frame-only baseline trains as long as 02's model
    "04_error_analysis": {"real_epochs": 1, "robustness_severities": {"h264": [40]}},  # defaults 3, [28, 40]
}


def pytest_collection_modifyitems(config, items):
    from lab.workbench.notebooks import literal_parameters

    for item in items:
        cell = getattr(item, "cell", None)  # nbval's notebook cells
        shorter = SHORTER.get(item.path.stem) if cell is not None else None
        if shorter and "parameters" in cell.metadata.get("tags", []):
            unknown = set(shorter) - set(literal_parameters(cell.source))
            if unknown:
                raise pytest.UsageError(f"{item.path.name} has no parameter(s) {sorted(unknown)}: update {__file__}")
            cell.source += "\n" + "\n".join(f"{name} = {value!r}" for name, value in shorter.items())
