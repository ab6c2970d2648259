"""No result overwrites another silently: training into an existing run folder, reports (keyed by run and split),
extracted frames and synthetic data are refused unless --overwrite; resuming a run is not an overwrite. And no
result is left torn: a write that fails keeps the previous file whole and leaves no temp file (`lab.outputs`)."""
from __future__ import annotations

import errno
import json
import os
import shutil

import pytest

from lab.cli.evaluate import test_entry as seed_test
from lab.cli.train import train_entry
from lab.cli.main import main as lab_main

from _fixtures import TINY_OVERRIDES
from test_bad_input import assert_contract, assert_works, call, h264


def flags(synth_root, *extra):
    items = [*TINY_OVERRIDES, "training.epochs=1", *extra,
             *(f"data.{s}_dir={synth_root / s}" for s in ("train", "val", "test"))]
    return [f for o in items for f in ("--set", o)]


def test_training_into_an_existing_run_folder_is_refused_unless_resumed_or_overwritten(capsys, synth_root, tmp_path):
    dirs = ["--checkpoint-dir", tmp_path / "ck", "--log-dir", tmp_path / "logs", "--no-progress", "--run-name", "r"]
    assert_works(call(capsys, train_entry, *dirs, *flags(synth_root)))
    last = tmp_path / "ck" / "r" / "last.pth"
    before = last.read_bytes()
    result = call(capsys, train_entry, *dirs, *flags(synth_root, "training.learning_rate=0.01"))
    assert_contract(result, "run folder already holds a run (best.pth, last.pth, history.csv",
                    str(tmp_path / "ck" / "r"), f"--resume {last}", "--overwrite", "--run-name")
    assert last.read_bytes() == before and "model:" not in result[1]  # refused before any work
    assert_works(call(capsys, train_entry, *dirs[:-2], "--resume", last, "--epochs", "2"))  # continuing is fine
    events = sorted((tmp_path / "logs" / "r").glob("events.out.tfevents.*"))
    assert_works(call(capsys, train_entry, *dirs, "--overwrite", *flags(synth_root)))
    assert all(not e.exists() for e in events)  # the old run's TensorBoard events went with it
    from lab.runtime.checkpoint import read_checkpoint

    assert read_checkpoint(last)["epoch"] == 1


def test_reports_are_keyed_by_run_and_split(capsys, tiny_checkpoint, synth_root, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # reports/ is relative to where the user runs
    other = tmp_path / "OTHER_SET" / "test"
    shutil.copytree(synth_root / "test", other)
    own = ["--eval", "--checkpoint", tiny_checkpoint, "--no-progress", "--set", "device=cpu"]
    assert_works(call(capsys, seed_test, *own))  # the checkpoint's own data.test_dir
    own_metrics = tmp_path / "reports" / "tiny" / "test" / "metrics.json"
    first = own_metrics.read_text()
    assert_works(call(capsys, seed_test, *own, "--data_dir", other))  # the case: another data set
    other_metrics = tmp_path / "reports" / "tiny" / "OTHER_SET-test" / "metrics.json"
    assert json.loads(other_metrics.read_text())["data_dir"] == str(other)
    assert own_metrics.read_text() == first  # untouched

    code, _, err = call(capsys, seed_test, *own)  # the same evaluation again: replaced, and said so
    assert code == 0 and "warning: replacing the earlier report of the same checkpoint and data" in err
    result = call(capsys, seed_test, *own, "--data_dir", other, "--out", own_metrics.parent)
    assert_contract(result, "report folder already holds the report of", str(own_metrics.parent), "--out",
                    "--overwrite")
    assert own_metrics.read_text() == first
    assert_works(call(capsys, seed_test, *own, "--data_dir", other, "--out", own_metrics.parent, "--overwrite"))
    assert json.loads(own_metrics.read_text())["data_dir"] == str(other)


def test_extract_and_synth_refuse_existing_output_unless_overwrite(capsys, tmp_path):
    video = h264(tmp_path / "v.mp4", frames=6)
    assert_works(call(capsys, lab_main, "extract", video, tmp_path / "frames"))
    assert_contract(call(capsys, lab_main, "extract", video, tmp_path / "frames"), "already holds 6 frame images",
                    "--overwrite")
    assert_works(call(capsys, lab_main, "extract", video, tmp_path / "frames", "--overwrite"))
    assert_works(call(capsys, lab_main, "synth", "--out", tmp_path / "d", "--frames", "4"))
    assert_contract(call(capsys, lab_main, "synth", "--out", tmp_path / "d", "--frames", "4"),
                    "already holds train, val, test data", "--overwrite")


@pytest.mark.parametrize("name, expected", [("test", "test"), ("val", "val")])
def test_split_names_of_the_configs_own_splits(synth_root, name, expected):
    from _fixtures import tiny_config
    from lab.evaluation.report import default_report_dir, split_name

    cfg = tiny_config(synth_root)
    assert split_name(synth_root / name, cfg) == expected
    assert default_report_dir("run", synth_root / name, cfg).as_posix() == f"reports/run/{expected}"
    assert split_name("/data/ffpp/test", cfg) == "ffpp-test"


# ----------------------------------------------------------------------------------------- atomic writes


def _text(path, version: int):
    from lab.outputs import write_text

    return write_text(path, f"| version | {version} |\n" * 2000)


def _figure(path, version: int, broken: bool = False):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from lab.outputs import save_figure

    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, version])
    if broken:  # an artist that fails while the figure renders
        ax.add_artist(matplotlib.artist.Artist()).draw = lambda renderer: 1 / 0
    try:
        return save_figure(fig, path)
    finally:
        plt.close(fig)


@pytest.mark.parametrize("write, name", [(_text, "table.md"), (_figure, "roc.png")])
def test_a_write_that_fails_keeps_the_previous_file_and_no_temp_file(tmp_path, monkeypatch, write, name):
    from lab.errors import StorageError

    path = tmp_path / name
    write(path, 1)
    before = path.read_bytes()

    def disk_full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with monkeypatch.context() as patched:
        patched.setattr(os, "fsync", disk_full)  # the new bytes are written, then the disk is full
        with pytest.raises(StorageError, match="no space left on the device while writing, the previous file is intact"):
            write(path, 2)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == [name]
    write(path, 3)
    assert path.read_bytes() != before  # a write that succeeds replaces it


def test_a_figure_that_fails_to_render_keeps_the_previous_file(tmp_path):
    path = _figure(tmp_path / "curve.png", 1)
    before = path.read_bytes()
    with pytest.raises(ZeroDivisionError):
        _figure(path, 2, broken=True)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["curve.png"]


def test_a_writer_that_needs_a_file_name_is_atomic_too(tmp_path):
    from lab.outputs import atomic_path

    path = tmp_path / "clip.mp4"
    path.write_bytes(b"previous")
    with pytest.raises(RuntimeError, match="encoder failed"):
        with atomic_path(path) as tmp:
            tmp.write_bytes(b"half of a new")
            raise RuntimeError("encoder failed")
    assert path.read_bytes() == b"previous"
    assert [p.name for p in tmp_path.iterdir()] == ["clip.mp4"]
    with atomic_path(path) as tmp:
        tmp.write_bytes(b"new")
    assert path.read_bytes() == b"new" and [p.name for p in tmp_path.iterdir()] == ["clip.mp4"]
