"""Training loop: checkpoints, history, TensorBoard, schedules, resume, DDP."""
import os
import subprocess
import sys

import pytest
import torch

from lab.runtime.checkpoint import read_checkpoint
from lab.config import SchedulerConfig
from lab.runtime.distributed import DistInfo, DistributedWeightedSampler
from lab.training.loop import fit
from lab.training.schedule import build_scheduler

from _fixtures import ROOT, TINY_OVERRIDES, tiny_config


def test_fit_writes_best_last_history_and_tensorboard(tiny_run):
    h = tiny_run.history
    assert list(h["epoch"]) == [1, 2]
    assert {"train_loss", "train_acc", "val_loss", "val_acc", "val_auc", "lr"} <= set(h.columns)
    assert tiny_run.best_path.is_file() and tiny_run.last_path.is_file()
    assert (tiny_run.best_path.parent.parent / "best.pth").is_file()  # published for the seed's commands
    assert any(tiny_run.log_dir.glob("events.out.tfevents.*"))
    last = read_checkpoint(tiny_run.last_path)
    assert last["epoch"] == 2 and len(last["history"]) == 2 and last["config"]["sequence"]["length"] == 4
    best = read_checkpoint(tiny_run.best_path)
    assert best["epoch"] == tiny_run.best_epoch
    assert best["metrics"]["val_roc_auc"] == pytest.approx(h.set_index("epoch").loc[best["epoch"], "val_auc"])


def _lrs(kind, warmup, epochs=4, steps=5):
    opt = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = build_scheduler(opt, SchedulerConfig(type=kind, warmup_epochs=warmup), epochs, steps, 1.0)
    out = []
    for _ in range(epochs * steps):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


def test_warmup_then_cosine():
    lrs = _lrs("cosine", warmup=1)
    assert lrs[0] < lrs[4] and max(lrs) == pytest.approx(1.0, abs=1e-6)
    peak = lrs.index(max(lrs))
    assert peak == 5 and all(a >= b for a, b in zip(lrs[peak:], lrs[peak + 1:])) and lrs[-1] < 0.05


def test_onecycle_and_constant():
    one = _lrs("onecycle", warmup=1)
    assert one[0] < max(one) and one[-1] < one[len(one) // 2]
    assert set(_lrs("none", warmup=0)) == {1.0}


def test_resume_continues_from_the_next_epoch(synth_root, tmp_path):
    cfg = tiny_config(synth_root, "training.epochs=1")
    first = fit(cfg, run_name="r", checkpoint_dir=tmp_path / "ck", log_dir=tmp_path / "logs", progress=False)
    resumed = fit(cfg.replace("training.epochs=2"), run_name="r", checkpoint_dir=tmp_path / "ck",
                  log_dir=tmp_path / "logs", resume=first.last_path, progress=False)
    assert list(resumed.history["epoch"]) == [1, 2]
    assert resumed.history.iloc[0].to_dict() == first.history.iloc[0].to_dict()
    assert read_checkpoint(resumed.last_path)["epoch"] == 2
    # The schedule follows the new length: warm-up over epoch 1, cosine to zero at the end of epoch 2,
    # never above the base rate (a loaded 1-epoch schedule would climb past it).
    lrs = resumed.history["lr"].tolist()
    assert lrs[1] == pytest.approx(0.0, abs=1e-9) and max(lrs) <= cfg.training.learning_rate + 1e-12


def test_resume_refuses_a_file_without_training_state(synth_root, tmp_path):
    from lab.runtime.checkpoint import save_checkpoint
    from lab.errors import CheckpointError
    from lab.models.classifier import build_model

    cfg = tiny_config(synth_root)
    path = save_checkpoint(build_model(cfg.model), None, 1, tmp_path / "bare.pth", config=cfg)
    with pytest.raises(CheckpointError, match="no training state"):
        fit(cfg, run_name="r", checkpoint_dir=tmp_path, log_dir=tmp_path / "logs", resume=path, progress=False)


def test_distributed_weighted_sampler_splits_one_balanced_draw():
    weights = [1.0] * 10 + [9.0]  # item 10 is the rare class
    ranks = [list(DistributedWeightedSampler(weights, 400, DistInfo(r, 2, r), seed=1)) for r in range(2)]
    assert len(ranks[0]) == len(ranks[1]) == 200
    both = ranks[0] + ranks[1]
    assert 0.35 < both.count(10) / len(both) < 0.65  # 9/19 of the mass


@pytest.mark.slow
def test_torchrun_ddp_two_cpu_processes(synth_root, tmp_path):
    overrides = [*TINY_OVERRIDES, "training.epochs=1", "data.num_workers=2", "training.checkpoint_every_steps=1",
                 *(f"data.{s}_dir={synth_root / s}" for s in ("train", "val", "test"))]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           str(ROOT / "train.py"), "--run-name", "ddp", "--checkpoint-dir", str(tmp_path / "ck"),
           "--log-dir", str(tmp_path / "logs"), "--no-progress"]
    for o in overrides:
        cmd += ["--set", o]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ckpt = read_checkpoint(tmp_path / "ck" / "ddp" / "best.pth")
    assert ckpt["epoch"] == 1
    assert not any(k.startswith("module.") for k in ckpt["model"])  # saved unwrapped, loads anywhere
    assert proc.stdout.count("best epoch") == 1  # rank 0 alone reports
    # Mid-epoch checkpoints under DDP: every rank took part (sums all-reduced), rank 0 wrote them; the run resumes.
    last = tmp_path / "ck" / "ddp" / "last.pth"
    assert read_checkpoint(last)["progress"]["epoch"] == 2
    resume = [*cmd[:cmd.index("--run-name")], "--resume", str(last), "--epochs", "2", "--checkpoint-dir",
              str(tmp_path / "ck"), "--log-dir", str(tmp_path / "logs"), "--no-progress"]
    proc = subprocess.run(resume, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert read_checkpoint(last)["epoch"] == 2


def test_cuda_precision_and_kernel_choices_without_a_gpu(monkeypatch):
    """Emulated bf16 (V100, T4) gets fp16 with a GradScaler; cuDNN autotuning is on for CUDA training unless the
    run must be deterministic."""
    from lab.runtime.device import Precision, use_fast_kernels

    cuda = torch.device("cuda")
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: including_emulation)
    emulated = Precision.choose(cuda, amp=True)
    assert emulated.dtype is torch.float16 and emulated.needs_scaler
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: True)
    assert Precision.choose(cuda, amp=True).dtype is torch.bfloat16
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", False)
    use_fast_kernels(cuda, deterministic=True)
    use_fast_kernels(torch.device("cpu"), deterministic=False)
    assert torch.backends.cudnn.benchmark is False
    use_fast_kernels(cuda, deterministic=False)
    assert torch.backends.cudnn.benchmark is True


@pytest.mark.slow
def test_torchrun_ddp_with_one_frame_per_window(synth_root, tmp_path):
    """T=1: the ConvLSTM's hidden_conv never runs (h starts at zero), so DDP must be told of unused parameters;
    without it the second step fails ("Expected to have finished reduction in the prior iteration")."""
    overrides = [*TINY_OVERRIDES, "sequence.length=1", "sequence.stride=1", "sequence.min_context=1",
                 "sequence.max_windows_per_item=2", "model.input_streams=[rgb]", "training.epochs=1",
                 *(f"data.{s}_dir={synth_root / s}" for s in ("train", "val", "test"))]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           str(ROOT / "train.py"), "--run-name", "t1", "--checkpoint-dir", str(tmp_path / "ck"),
           "--log-dir", str(tmp_path / "logs"), "--no-progress"]
    for o in overrides:
        cmd += ["--set", o]
    proc = subprocess.run(cmd, cwd=ROOT, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert read_checkpoint(tmp_path / "ck" / "t1" / "best.pth")["epoch"] == 1
