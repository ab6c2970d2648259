"""Benchmark case: what a mid-epoch checkpoint costs next to a training step of the seed model.

The seed model (config/model_config.yaml, ImageNet weights off): resnet18 + ConvLSTM [64, 128], T=16, batch 8.
A step is forward + loss + backward + clipping + AdamW, as `fit` runs it; a write is `save_checkpoint` of
that model, its optimizer and the resume state, atomically with fsync, as `fit` writes last.pth mid-epoch.
The checkpoint's size does not depend on the frame size, the step's cost does: CPU runs use `side` 112
(a 224 step takes ~50 s on 2 cores), CUDA runs 224.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import torch
import torch.nn.functional as F

from lab.config import load_config
from lab.models.classifier import build_model
from lab.runtime.checkpoint import rng_state, save_checkpoint
from lab.runtime.device import Precision, prepare_model

CASE = "checkpoint write"


def bench_checkpoint_write(device: torch.device, side: int, length: int, batch: int, repeats: int, interleaved,
                           row) -> list[dict]:
    cfg = load_config("config/data_config.yaml", "config/model_config.yaml", overrides=[
        "model.pretrained=false", f"image.height={side}", f"image.width={side}", f"sequence.length={length}",
        f"sequence.stride={min(length, 8)}"])
    torch.manual_seed(cfg.seed)
    model = prepare_model(build_model(cfg.model), device, channels_last=cfg.training.channels_last, compile=False)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.training.learning_rate,
                                  weight_decay=cfg.training.weight_decay)
    precision = Precision.choose(device, cfg.training.amp)
    clips = torch.randn(batch, length, 3, side, side, device=device)
    labels = torch.arange(batch, device=device) % 2
    progress = {"epoch": 1, "batch": 1, "steps": 1, "schedule_step": 1, "steps_per_epoch": 100, "skipped": 0,
                "sums": torch.zeros(3)}

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        with precision.autocast():
            loss = F.cross_entropy(model(clips).float(), labels)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.training.grad_clip)
        optimizer.step()

    with tempfile.TemporaryDirectory(prefix="lab-bench-ckpt-") as tmp:
        path = Path(tmp) / "last.pth"

        def write() -> None:
            save_checkpoint(model, optimizer, 0, path, config=cfg, rng=rng_state(), progress=progress, history=[],
                            best={"auc": 0.5, "epoch": 0, "bad_epochs": 0, "metrics": {}, "threshold": 0.5})

        t = interleaved({"step": step, "write": write}, repeats, device)
        size = path.stat().st_size / 2 ** 20
    params = sum(p.numel() for p in model.parameters()) / 1e6
    setting = (f"seed model ({cfg.model.backbone} + ConvLSTM {list(cfg.model.convlstm.hidden_channels)}, "
               f"{params:.1f}M params), batch {batch} x T={length} at {side}x{side}, {precision}; checkpoint "
               f"{size:.0f} MiB (weights + AdamW moments), atomic + fsync. b / a = one write in steps: every N steps "
               "costs (b / a) / N of the step time")
    return [row(CASE, setting, device, "training step", "mid-epoch checkpoint write", "ms", t["step"] * 1e3,
                t["write"] * 1e3, "b / a")]
