"""Numeric and resource faults: a NaN loss stops (or is skipped and counted) keeping the last good checkpoint;
an unwritable folder is reported before any training; a full disk during a save keeps the previous file."""
from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import lab.training.loop as loop
from lab.cli.evaluate import test_entry as seed_test
from lab.cli.train import train_entry
from lab.errors import StorageError, TrainingError
from lab.outputs import atomic_write
from lab.runtime.checkpoint import atomic_save, read_checkpoint

from _fixtures import ROOT, TINY_OVERRIDES, tiny_config
from test_bad_input import assert_contract, call

FAST = ("training.epochs=1", "training.checkpoint_every_minutes=0")


def nan_at(monkeypatch, *calls: int) -> None:
    """Fault injection: the model's training forward returns NaN logits on these calls (1-based)."""
    real = loop.build_model
    count = [0]

    def build(cfg):
        model = real(cfg)
        forward = model.forward

        def nan_on_some_calls(clips, with_timeline=False):
            out = forward(clips, with_timeline=with_timeline)
            if model.training:
                count[0] += 1
                if count[0] in calls:
                    nan = float("nan")
                    return (out[0] * nan, out[1] * nan) if with_timeline else out * nan
            return out

        model.forward = nan_on_some_calls  # the instance's forward: weights and state dict stay the model's
        return model

    monkeypatch.setattr(loop, "build_model", build)


def test_nan_loss_stops_with_one_line_naming_epoch_and_step_keeping_the_last_checkpoint(synth_root, tmp_path,
                                                                                         monkeypatch):
    nan_at(monkeypatch, 4)
    cfg = tiny_config(synth_root, *FAST, "training.checkpoint_every_steps=2", "training.batch_size=2")
    with pytest.raises(TrainingError) as info:
        loop.fit(cfg, run_name="r", checkpoint_dir=tmp_path / "ck", log_dir=tmp_path / "logs", progress=False)
    message = str(info.value)
    assert "loss is nan at epoch 1, step 4 of 12" in message and "\n" not in message
    assert f"--resume {tmp_path / 'ck' / 'r' / 'last.pth'}" in message and "nonfinite_loss=skip" in message
    last = read_checkpoint(tmp_path / "ck" / "r" / "last.pth")  # the save after step 2, untouched by the NaN
    assert last["progress"]["batch"] == 2 and all(torch.isfinite(v).all() for v in last["model"].values())


def test_skip_policy_leaves_the_steps_out_and_counts_them(synth_root, tmp_path, monkeypatch, capsys):
    nan_at(monkeypatch, 3, 7)
    cfg = tiny_config(synth_root, *FAST, "training.batch_size=2", "training.nonfinite_loss=skip")
    result = loop.fit(cfg, run_name="r", checkpoint_dir=tmp_path / "ck", log_dir=tmp_path / "logs", progress=False)
    assert result.history["skipped_steps"].tolist() == [2]
    assert "skipped 2 step(s) with a non-finite loss" in capsys.readouterr().out
    ckpt = read_checkpoint(result.last_path)
    assert all(torch.isfinite(v).all() for v in ckpt["model"].values())
    assert ckpt["progress"]["schedule_step"] == 10  # 12 batches, 2 skipped: the LR schedule did not advance on them


def test_resuming_with_a_far_too_high_lr_stops_and_keeps_the_good_checkpoint(synth_root, tmp_path, capsys):
    """No injection: --set training.learning_rate=1e30 on --resume drives the weights to NaN within steps."""
    flags = [f for o in (*TINY_OVERRIDES, *FAST, *(f"data.{s}_dir={synth_root / s}" for s in ("train", "val", "test")))
             for f in ("--set", o)]
    dirs = ["--checkpoint-dir", tmp_path / "ck", "--log-dir", tmp_path / "logs", "--no-progress"]
    assert call(capsys, train_entry, *dirs, "--run-name", "r", *flags)[0] == 0
    last = tmp_path / "ck" / "r" / "last.pth"
    before = last.read_bytes()
    result = call(capsys, train_entry, *dirs, "--resume", last, "--epochs", "2", "--set", "training.learning_rate=1e30")
    assert_contract(result, "at epoch 2, step", "training stopped", "last good checkpoint is kept")
    assert last.read_bytes() == before


# ------------------------------------------------------------------------------------------------ storage


def test_a_full_disk_during_an_atomic_write_keeps_the_previous_file(tmp_path):
    path = atomic_save({"v": torch.zeros(3)}, tmp_path / "last.pth")

    def fills_the_disk(fh):
        fh.write(b"PK" + bytes(1000))
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with pytest.raises(StorageError) as info:
        atomic_write(path, fills_the_disk)
    assert "no space left on the device while writing, the previous file is intact" in str(info.value)
    assert str(path) in str(info.value)
    assert [p.name for p in tmp_path.iterdir()] == ["last.pth"]
    assert torch.equal(torch.load(path, weights_only=True)["v"], torch.zeros(3))


def _unshare_works() -> bool:
    if shutil.which("unshare") is None or sys.platform != "linux":
        return False
    probe = subprocess.run(["unshare", "-rm", "sh", "-c", "mount -t tmpfs -o size=64k none /mnt"], capture_output=True)
    return probe.returncode == 0


needs_mounts = pytest.mark.skipif(not _unshare_works(), reason="needs unshare -rm (private tmpfs mounts)")


def _train_in_namespace(mount: str, synth_root: Path, tmp_path: Path, *extra: str,
                        after: str = "") -> subprocess.CompletedProcess:
    """`mount`, then train.py, then the python code `after` (which still sees the mount), inside a private mount
    namespace; the exit status is train.py's."""
    sets = " ".join(f"--set '{o}'" for o in (*TINY_OVERRIDES, "training.checkpoint_every_minutes=0", *extra,
                                             *(f"data.{s}_dir={synth_root / s}" for s in ("train", "val", "test"))))
    train = (f"'{sys.executable}' train.py --run-name r --checkpoint-dir '{tmp_path}/mnt/ck' "
             f"--log-dir '{tmp_path}/logs' --no-progress {sets}")
    check = f"; '{sys.executable}' -c \"{after}\"" if after else ""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.run(["unshare", "-rm", "sh", "-c", f"{mount} && {{ {train}; rc=$?; }}{check}; exit $rc"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


INSPECT = ("import pathlib, torch; d = pathlib.Path('{run}'); "
           "print('CHECK', torch.load(d / 'last.pth', weights_only=True)['epoch'], len(list(d.glob('.*.tmp'))))")


@pytest.mark.slow
@needs_mounts
def test_a_full_disk_while_training_keeps_the_last_checkpoint_and_says_so(synth_root, tmp_path, tiny_checkpoint):
    """A real size-limited file system: room for epoch 1's best.pth + last.pth, not for a third file."""
    size = tiny_checkpoint.stat().st_size
    (tmp_path / "mnt").mkdir()
    proc = _train_in_namespace(f"mount -t tmpfs -o size={int(size * 2.5)} none '{tmp_path}/mnt'", synth_root,
                               tmp_path, "training.epochs=3", after=INSPECT.format(run=tmp_path / "mnt" / "ck" / "r"))
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "epoch   1" in proc.stdout and "epoch   2" not in proc.stdout
    assert "CHECK 1 0" in proc.stdout  # last.pth still holds epoch 1, and no temp file was left behind
    error = proc.stderr.strip().splitlines()[-1]
    assert error.startswith("error: no space left on the device while writing, the previous file is intact (")
    assert "Traceback" not in proc.stderr


@pytest.mark.slow
@needs_mounts
def test_a_read_only_checkpoint_folder_is_reported_before_training(synth_root, tmp_path):
    (tmp_path / "mnt").mkdir()
    proc = _train_in_namespace(f"mount -t tmpfs -o ro none '{tmp_path}/mnt'", synth_root, tmp_path)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "model:" not in proc.stdout  # nothing was loaded or built: the check came first
    assert proc.stderr.strip().splitlines()[-1].startswith("error: cannot write to the checkpoint folder, Read-only")


def test_unwritable_folders_are_reported_before_any_work(capsys, synth_root, tiny_checkpoint, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    flags = [f for o in (*TINY_OVERRIDES, *(f"data.{s}_dir={synth_root / s}" for s in ("train", "val", "test")))
             for f in ("--set", o)]
    result = call(capsys, train_entry, "--checkpoint-dir", blocker / "ck", "--log-dir", tmp_path / "logs", *flags)
    assert_contract(result, "cannot write to the checkpoint folder", "--checkpoint-dir")
    assert "model:" not in result[1]
    result = call(capsys, train_entry, "--checkpoint-dir", tmp_path / "ck", "--log-dir", blocker / "logs", *flags)
    assert_contract(result, "cannot write to the log folder", "--log-dir")
    # The report folder is checked before scoring: here the data folder does not even exist.
    result = call(capsys, seed_test, "--eval", "--checkpoint", tiny_checkpoint, "--data_dir", tmp_path / "nowhere",
                  "--out", blocker / "rep", "--set", "device=cpu")
    assert_contract(result, "cannot write to the report folder", "--out")
    from lab.cli.demo import run_demo

    with pytest.raises(StorageError, match="cannot write to the report folder"):
        run_demo(data_root=tmp_path / "data", reports_dir=blocker / "reports", checkpoint_dir=tmp_path / "ck2",
                 log_dir=tmp_path / "logs2", progress=False)
    assert not (tmp_path / "data" / "train").exists()  # nothing was generated first


def test_an_op_without_a_deterministic_kernel_becomes_one_line():
    """What torch raises on CUDA under use_deterministic_algorithms(True) (no GPU here: the text is torch's)."""
    from lab.training.faults import deterministic_failure

    raised = RuntimeError("adaptive_avg_pool2d_backward_cuda does not have a deterministic implementation, but you set "
                          "'torch.use_deterministic_algorithms(True)'. You can turn off determinism just for this "
                          "operation, or you can use the 'warn_only=True' option, if that's acceptable for your "
                          "application.")
    error = deterministic_failure(raised)
    assert str(error) == ("adaptive_avg_pool2d_backward_cuda has no deterministic implementation on this device "
                          "(training.deterministic=true): set training.deterministic=false, or run on CPU where every "
                          "op used here is deterministic")
    assert deterministic_failure(RuntimeError("CUDA out of memory")) is None
