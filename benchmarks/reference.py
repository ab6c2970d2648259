"""The reference ConvLSTM the benchmarks (and tests/test_model.py) compare the project's layer against: the usual
PyTorch ConvLSTM, one convolution over concat[x_t, h_{t-1}] per step. A baseline only, not a model option."""
from __future__ import annotations

import torch
from torch import Tensor, nn

from lab.models.convlstm import ConvLSTMCell


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
