"""The benchmarks' harness: the sizes of a full and a quick run, the interleaved timer, the row every case returns,
the machine description, and the demo config and synthetic video several cases build on."""
from __future__ import annotations

import os
import platform
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import cv2
import torch

from lab.cli.demo import DEMO_CONFIGS
from lab.config import Config, load_config
from lab.data.synth import render_video
from lab.data.video import write_video

COLUMNS = ("case", "setting", "device", "a", "b", "unit", "a_value", "b_value", "ratio", "ratio_is", "key")
# ratio_is "speed-up": how many times faster b is than a (a_ms / b_ms, or b_rate / a_rate); "b / a": plain quotient.
# key: the row's name in bench.json's flat `ratios` (None: not a headline ratio). Rows sharing a key (one per
# shape or device) report the worst: the smallest speed-up, or the largest "b / a" (a growth or a cost).
VIDEO_SIDE = 64


@dataclass(frozen=True)
class Sizes:
    repeats: int  # interleaved rounds per comparison; the median is kept
    lstm_batch: int
    lstm_steps: int
    video_frames: int  # the streaming case's video
    memory_frames: tuple[int, int]  # the memory case's two videos (10 s and 60 s at MEMORY_FPS in the full run)
    loader_videos: int  # per class, in the synthetic train split the loader case reads
    train_batch: int
    gpu_side: int  # frame side of the full-size model in the GPU-only forward case
    gpu_steps: int
    ckpt_side: int  # the checkpoint case's seed-model step on CPU (CUDA uses gpu_side)
    ckpt_batch: int
    ckpt_repeats: int
    face_frames: int  # carphone frames the face detectors run on (all 120 in the full run)
    share_side: int  # the shared-encoder case: seed model input side on CPU (CUDA uses gpu_side), ...
    share_steps: int  # ... window length, ...
    share_frames: int  # ... video length ...
    share_repeats: int  # ... and rounds (the seed model at 224 is seconds per video on 2 cores)
    onnx_models: tuple[str, ...]  # the models the onnx case exports (an export is seconds); int8 reuses their graphs


FULL = Sizes(repeats=11, lstm_batch=2, lstm_steps=16, video_frames=96, memory_frames=(250, 1500), loader_videos=32,
             train_batch=8, gpu_side=224, gpu_steps=16, ckpt_side=112, ckpt_batch=8, ckpt_repeats=3, face_frames=120,
             share_side=224, share_steps=16, share_frames=48, share_repeats=3, onnx_models=("demo model", "seed model"))
QUICK = Sizes(repeats=3, lstm_batch=1, lstm_steps=4, video_frames=24, memory_frames=(16, 96), loader_videos=2,
              train_batch=2, gpu_side=64, gpu_steps=4, ckpt_side=32, ckpt_batch=1, ckpt_repeats=1, face_frames=12,
              share_side=32, share_steps=8, share_frames=16, share_repeats=1, onnx_models=("seed model",))


def sync(device: torch.device) -> None:
    """Wait for the device's queued work (CUDA), so a timer reads the work itself."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def interleaved(variants: dict[str, Callable[[], object]], repeats: int,
                device: torch.device = torch.device("cpu")) -> dict[str, float]:
    """Median seconds per call of each variant: a warm-up call each, then `repeats` rounds whose order
    alternates (A B, B A, ...), so neither variant always runs second on a warmed cache."""
    for fn in variants.values():
        fn()
    times: dict[str, list[float]] = {name: [] for name in variants}
    names = list(variants)
    for round_ in range(repeats):
        for name in names if round_ % 2 == 0 else names[::-1]:
            sync(device)
            t0 = time.perf_counter()
            variants[name]()
            sync(device)
            times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(ts) for name, ts in times.items()}


def row(case: str, setting: str, device: torch.device | str, a: str, b: str, unit: str, a_value: float,
        b_value: float, ratio_is: str = "speed-up", key: str | None = None) -> dict:
    """One table row (COLUMNS): the case, its setting, a and b with their values, and the ratio between them."""
    if ratio_is == "speed-up":
        ratio = a_value / b_value if unit in ("ms", "s") else b_value / a_value
    else:
        ratio = b_value / a_value
    return dict(zip(COLUMNS, (case, setting, str(device), a, b, unit, a_value, b_value, ratio, ratio_is, key)))


def demo_config(*overrides: str) -> Config:
    """The demo model and data settings (what `make demo` trains), with ImageNet weights off."""
    return load_config(*DEMO_CONFIGS, overrides=["model.pretrained=false", "device=cpu", *overrides])


def synthetic_video(path: Path, frames: int, seed: int = 0, fps: float = 12.0) -> Path:
    """A synthetic real video of `frames` 64x64 frames, encoded mp4v with OpenCV."""
    return write_video(path, render_video(seed, family=None, frames=frames, height=VIDEO_SIDE, width=VIDEO_SIDE), fps)


def machine_info() -> dict:
    """Versions, CPU count, torch threads and devices: what the figures describe."""
    cuda = torch.cuda.is_available()
    return {"torch": torch.__version__, "python": platform.python_version(), "platform": platform.platform(),
            "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(), "opencv": cv2.__version__,
            "devices": ["cpu"] + ([torch.cuda.get_device_name(0)] if cuda else []),
            "cuda": torch.version.cuda if cuda else None}
