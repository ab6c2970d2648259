"""Benchmark case: the project's ConvLSTM against the usual PyTorch ConvLSTM (`benchmarks.reference`), which runs
one convolution over concat[x_t, h_{t-1}] per step, with the same weights, forward + backward at the seed model's
feature-map shapes. `interleaved` and `row` are `benchmarks.timing`'s timer and row builder.

Each row also says how close the baseline already runs to this machine's dense matmul FLOP/s (torch.mm of two
MATMUL_SIDE^2 fp32 matrices, timed in the same interleaved rounds; FLOPs from `torch.utils.flop_counter`). Code
that does the same convolutions, if its convolutions reached the speed of that matmul, would be 1 / that fraction
faster; docs/results/bench-cpu.md and docs/results/gpu.md have the figures. On CUDA, TF32 is off for both sides
while this case runs, so the convolutions and the matmul are compared at the same precision.
"""
from __future__ import annotations

import contextlib

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from benchmarks.reference import NaiveConvLSTM
from lab.models.convlstm import ConvLSTM

CASE = "convlstm vs naive"
# (map side, C_in): resnet18's stages feeding the seed model's ConvLSTM at a 224 input; quick: tiny maps.
FULL_MAPS = ((7, 512), (14, 256), (28, 128), (56, 64))
QUICK_MAPS = ((4, 16), (8, 8))
HIDDEN = 64
MATMUL_SIDE = 1024


@contextlib.contextmanager
def _strict_fp32(device: torch.device):
    """On CUDA, TF32 off for convolutions and matmuls alike (cuDNN defaults to TF32 convolutions, torch.mm not)."""
    if device.type != "cuda":
        yield
        return
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


def bench_convlstm_vs_naive(device: torch.device, quick: bool, batch: int, steps: int, repeats: int,
                            interleaved, row) -> list[dict]:
    """One row per map shape: naive vs `ConvLSTM` (one layer), forward + `.sum().backward()` as training does."""
    rows = []
    for side, channels in QUICK_MAPS if quick else FULL_MAPS:
        torch.manual_seed(0)
        ours = ConvLSTM(channels, HIDDEN, kernel_size=3).to(device)
        naive = NaiveConvLSTM.like(ours.cells[0])
        x = torch.randn(batch, steps, channels, side, side, device=device, requires_grad=True)
        with torch.no_grad():
            error = (ours(x)[0] - naive(x)).abs().max().item()

        def step(model: nn.Module, output) -> callable:
            def run() -> None:
                model.zero_grad(set_to_none=True)
                x.grad = None
                output(model(x)).sum().backward()
            return run

        with FlopCounterMode(display=False) as counter, _strict_fp32(device):
            step(naive, lambda y: y)()
        a, b = (torch.randn(MATMUL_SIDE, MATMUL_SIDE, device=device) for _ in range(2))
        with _strict_fp32(device):
            t = interleaved({"naive": step(naive, lambda y: y), "ours": step(ours, lambda y: y[0]),
                             "matmul": lambda: torch.mm(a, b)}, repeats, device)
        fraction = counter.get_total_flops() / t["naive"] / (2 * MATMUL_SIDE ** 3 / t["matmul"])
        setting = (f"{side}x{side} C_in {channels}, hidden {HIDDEN}, kernel 3, B={batch} T={steps}, fwd+bwd; "
                   f"same weights, outputs within {error:.1e}; the baseline runs at {fraction:.3g} of dense "
                   f"matmul FLOP/s: equal-FLOP code at matmul speed would be {1 / fraction:.3g}x faster")
        rows.append(row(CASE, setting, device, "concat conv per step", "lab ConvLSTM", "ms", t["naive"] * 1e3,
                        t["ours"] * 1e3, key="convlstm_vs_naive"))
    return rows
