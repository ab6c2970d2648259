"""`lab bench` case: the project's ConvLSTM against the usual PyTorch ConvLSTM, which runs one convolution over
concat[x_t, h_{t-1}] per step, with the same weights, forward + backward at the seed model's feature-map shapes.
`interleaved` and `row` are lab.cli.bench_timing's timer and row builder.

Each row also says how close the baseline already runs to this machine's dense matmul FLOP/s (torch.mm of two
MATMUL_SIDE^2 fp32 matrices, timed in the same interleaved rounds; FLOPs from `torch.utils.flop_counter`). Code
that does the same convolutions, if its convolutions reached the speed of that matmul, would be 1 / that fraction
faster; README "Benchmarks" has the figures. On CUDA, TF32 is off for both sides while this case runs, so the
convolutions and the matmul are compared at the same precision.
"""
from __future__ import annotations

import contextlib

import torch
from torch import Tensor, nn
from torch.utils.flop_counter import FlopCounterMode

from lab.models.convlstm import ConvLSTM, ConvLSTMCell

CASE = "convlstm vs naive"
# (map side, C_in): resnet18's stages feeding the seed model's ConvLSTM at a 224 input; quick: tiny maps.
FULL_MAPS = ((7, 512), (14, 256), (28, 128), (56, 64))
QUICK_MAPS = ((4, 16), (8, 8))
HIDDEN = 64
MATMUL_SIDE = 1024


class NaiveConvLSTM(nn.Module):
    """The common PyTorch ConvLSTM, the baseline only (not a model option): per step one convolution over
    concat[x_t, h_{t-1}], h and c starting at zeros. x (B, T, C_in, H, W) -> hidden states (B, T, hidden, H, W)."""

    def __init__(self, in_channels: int, hidden_channels: int, kernel_size: int = 3):
        super().__init__()
        self.hidden_channels = hidden_channels
        self.conv = nn.Conv2d(in_channels + hidden_channels, 4 * hidden_channels, kernel_size, padding="same")

    @classmethod
    def like(cls, cell: ConvLSTMCell) -> NaiveConvLSTM:
        """The same function as `cell`: weight = cat[input_conv.weight, hidden_conv.weight], bias = input_conv's."""
        naive = cls(cell.in_channels, cell.hidden_channels, cell.input_conv.kernel_size[0])
        with torch.no_grad():
            naive.conv.weight.copy_(torch.cat([cell.input_conv.weight, cell.hidden_conv.weight], dim=1))
            naive.conv.bias.copy_(cell.input_conv.bias)
        return naive.to(cell.input_conv.weight.device)

    def forward(self, x: Tensor) -> Tensor:
        b, steps, _, height, width = x.shape
        h = c = x.new_zeros(b, self.hidden_channels, height, width)
        outputs = []
        for t in range(steps):
            i, f, g, o = self.conv(torch.cat([x[:, t], h], dim=1)).chunk(4, dim=1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
            outputs.append(h)
        return torch.stack(outputs, dim=1)


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
