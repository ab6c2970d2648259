"""What the notebooks use beyond `lab`: project set-up, exploration and error-analysis tables and plots, the prediction viewer, the papermill runner.

Notebooks import from `lab` and `lab.workbench` only. Names load on first use, like `lab`'s.
"""
from lab._lazy import lazy_exports as _lazy_exports

_EXPORTS: dict[str, tuple[str, str | None]] = {
    # modules: tables (`analysis`) and their figures (`plots`)
    "analysis": ("lab.workbench.analysis", None),
    "plots": ("lab.workbench.plots", None),
    # where a notebook runs and what it reads
    **{n: ("lab.workbench.notebooks", n) for n in ("enter_project", "split_overrides", "split_dir", "find_checkpoint",
                                                   "run_notebooks")},
    # one face swap next to its real (notebook 01)
    "faceswap_example": ("lab.workbench.swaps", "faceswap_example"),
    # the per-frame prediction viewer and its pieces
    **{n: ("lab.workbench.widgets", n) for n in ("PredictionViewer", "png_bytes", "timeline_figure")},
}

__all__ = list(_EXPORTS)
__getattr__, __dir__ = _lazy_exports(__name__, _EXPORTS, globals())
