"""Notebook 01 on HD video: its data cells stream frames under the `max_frames` / `max_side` caps, so a
1280x720 x 600-frame H.264 video (1.6 GB as raw frames) keeps the process's peak memory low."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from _media import barcode_frames
from lab.data.video import write_h264
from lab.workbench.notebooks import _code_cells, _python_source, parameters_cell

ROOT = Path(__file__).resolve().parents[1]
LIMIT_MB = 1500


def notebook_script(path: Path, parameters: dict) -> str:
    """The notebook's code cells as one script, with `parameters` set after its parameters cell (as papermill
    does); IPython magics and displays are plain calls, so it runs under `python`."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    chunks = []
    for cell in _code_cells(nb):
        chunks.append(_python_source(cell))
        if cell is parameters_cell(nb):
            chunks.append("\n".join(f"{k} = {v!r}" for k, v in parameters.items()))
    return "\n\n".join(chunks)


def _hd_dataset(root: Path) -> None:
    rng = np.random.default_rng(0)
    hd = barcode_frames(600, 720, 1280)
    hd[:, 360:] = rng.integers(0, 255, (1, 360, 1280, 3), dtype=np.uint8)  # texture that moves only in the top half
    write_h264(root / "train" / "real" / "hd_720p.mp4", hd, fps=30, preset="ultrafast")
    del hd
    small = barcode_frames(40, 72, 128)
    for split in ("train", "val", "test"):
        for cls in ("real", "fake"):
            write_h264(root / split / cls / f"small_{cls}.mp4", small, fps=25, preset="ultrafast")


@pytest.mark.slow
def test_notebook_01_data_cells_stay_under_1_5_gb_on_720p_600_frames(tmp_path):
    _hd_dataset(tmp_path / "data")
    # The real-footage section reads a small set written beforehand (in this process, not the measured one):
    # generating it is a one-off step that decodes the three sample clips; reading it is what 01 repeats.
    from lab.workbench.analysis import ensure_real_footage
    ensure_real_footage(tmp_path / "real", (4, 2, 2))
    params = {"project_dir": str(ROOT), "data_dir": str(tmp_path / "data"), "make_synthetic_if_missing": False,
              "real_footage_dir": str(tmp_path / "real")}
    script = notebook_script(ROOT / "notebooks" / "01_data_exploration.ipynb", params)
    # VmHWM: this process's own peak RSS (ru_maxrss would include the forking pytest process's RSS)
    script += ("\nprint('HD_ITEM_STREAMED', 'real/hd_720p.mp4' in set(energy['item']))"
               "\nhwm = next(l for l in open('/proc/self/status') if l.startswith('VmHWM'))"
               "\nprint('PEAK_RSS_MB', int(hwm.split()[1]) / 1024)\n")
    (tmp_path / "nb01.py").write_text(script)
    env = {**os.environ, "MPLBACKEND": "Agg"}
    proc = subprocess.run([sys.executable, str(tmp_path / "nb01.py")], capture_output=True, text=True, timeout=600,
                          env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    peak = float(proc.stdout.rsplit("PEAK_RSS_MB", 1)[1].split()[0])
    print(json.dumps({"notebook_01_peak_rss_mb": round(peak)}))
    assert "HD_ITEM_STREAMED True" in proc.stdout  # the HD video's difference energy was computed
    assert peak < LIMIT_MB, f"peak RSS {peak:.0f} MB"
