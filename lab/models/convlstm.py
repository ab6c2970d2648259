"""The recurrence, bottom-up: `ConvLSTMCell` (one step) -> `ConvLSTM` (stacked, optionally bidirectional).

Feature maps in, hidden-state maps out; nothing here knows about frames, encoders or classes.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

State = tuple[Tensor, Tensor]  # (h, c), each (B, hidden, H, W)

# Up to this many pixels `ConvLSTM` runs `input_conv` over all T frames as one batched convolution (small maps: fewer,
# larger calls win); above it, one convolution over concat[x_t, h] per step (large maps: the deeper convolution wins).
# The numbers: `make bench` ("convlstm input conv"), docs/results/design.md and docs/results/gpu.md.
BATCHED_INPUT_CONV_MAX_PIXELS = 14 * 14
CUDA_BATCHED_INPUT_CONV_MAX_PIXELS = 28 * 28


def batched_input(x: Tensor, max_pixels: int | None = None) -> bool:
    """Whether `ConvLSTM` runs its input convolution over all T frames of x (B, T, C, H, W) at once (else one
    concat convolution per step). `max_pixels`: an instance's override; None: the rule above."""
    pixels = x.shape[-2] * x.shape[-1]
    if max_pixels is not None:
        return pixels <= max_pixels
    if x.device.type == "cuda":
        bf16 = torch.is_autocast_enabled("cuda") and torch.get_autocast_dtype("cuda") == torch.bfloat16
        return bf16 or pixels <= CUDA_BATCHED_INPUT_CONV_MAX_PIXELS
    return pixels <= BATCHED_INPUT_CONV_MAX_PIXELS


class ConvLSTMCell(nn.Module):
    """One ConvLSTM step (Shi et al. 2015, no peepholes; gates i, f, g, o stacked like `torch.nn.LSTM`).

    x (B, C_in, H, W), state (h, c) or None (zeros) -> (h, c), each (B, hidden, H, W). Odd and even kernel
    sizes keep H and W ("same" padding). With kernel 1 on 1x1 maps it is exactly an `nn.LSTM` step:
    `input_conv.weight = weight_ih`, `hidden_conv.weight = weight_hh`, `input_conv.bias = bias_ih + bias_hh`.
    """

    def __init__(self, in_channels: int, hidden_channels: int, kernel_size: int = 3, bias: bool = True):
        super().__init__()
        self.in_channels, self.hidden_channels = in_channels, hidden_channels
        self.input_conv = nn.Conv2d(in_channels, 4 * hidden_channels, kernel_size, padding="same", bias=bias)
        self.hidden_conv = nn.Conv2d(hidden_channels, 4 * hidden_channels, kernel_size, padding="same", bias=False)
        if bias:  # forget gate starts open, so early training does not wipe the cell state
            with torch.no_grad():
                self.input_conv.bias[hidden_channels:2 * hidden_channels].fill_(1.0)

    def forward(self, x: Tensor, state: State | None = None) -> State:
        return self.step(self.input_conv(x), state)

    def step(self, x_gates: Tensor, state: State | None = None) -> State:
        """One step from precomputed `input_conv(x)` (B, 4*hidden, H, W): lets callers batch it over time."""
        if state is None:  # h = c = 0: hidden_conv(0) is 0 (no bias) and f*c is 0, so skip both
            return self.update(x_gates, None)
        return self.update(x_gates + self.hidden_conv(state[0]), state[1])

    def step_concat(self, x: Tensor, state: State | None = None, weight: Tensor | None = None) -> State:
        """`forward` as ONE convolution over concat[x, h]; `weight`: `concat_weight()`, made once per sequence
        (see `batched_input` for when this is faster)."""
        if state is None:
            return self.update(self.input_conv(x), None)
        weight = self.concat_weight() if weight is None else weight
        return self.update(F.conv2d(torch.cat([x, state[0]], dim=1), weight, self.input_conv.bias,
                                    padding="same"), state[1])

    def concat_weight(self) -> Tensor:
        """(4*hidden, C_in + hidden, k, k): the weight of one convolution over concat[x, h]."""
        return torch.cat([self.input_conv.weight, self.hidden_conv.weight], dim=1)

    @staticmethod
    def update(gates: Tensor, c: Tensor | None) -> State:
        """Gate pre-activations (B, 4*hidden, H, W) and c (None: zeros) -> the new (h, c)."""
        i, f, g, o = gates.chunk(4, dim=1)
        c = torch.sigmoid(i) * torch.tanh(g) if c is None else torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(c), c


class ConvLSTM(nn.Module):
    """Stacked (optionally bidirectional) ConvLSTM over a sequence of feature maps.

    x (B, T, C_in, H, W) (or (T, B, ...) when batch_first=False) -> outputs (B, T, out_channels, H, W) in the
    same order, and the final (h, c) of every cell. `cells[2*l]` runs forward and `cells[2*l+1]` backward
    for layer l; the backward output at step t belongs to input frame t and is concatenated along channels,
    as in `torch.nn.LSTM`. Pass the returned states back in to process a long video in chunks
    (unidirectional only: a backward pass needs the whole sequence). Dropout acts between layers.
    """

    def __init__(
        self,
        in_channels: int,
        hidden_channels: int | Sequence[int],
        kernel_size: int = 3,
        num_layers: int = 1,
        bidirectional: bool = False,
        batch_first: bool = True,
        dropout: float = 0.0,
    ):
        super().__init__()
        hidden = (hidden_channels,) if isinstance(hidden_channels, int) else tuple(hidden_channels)
        hidden = hidden * num_layers if len(hidden) == 1 else hidden
        if len(hidden) != num_layers:
            raise ValueError(f"hidden_channels {list(hidden)}: give one value or one per layer ({num_layers})")
        self.hidden_channels, self.num_layers = hidden, num_layers
        self.num_directions = 2 if bidirectional else 1
        self.batch_first, self.dropout = batch_first, dropout
        self.cells = nn.ModuleList(
            ConvLSTMCell(in_channels if layer == 0 else hidden[layer - 1] * self.num_directions, hidden[layer],
                         kernel_size)
            for layer in range(num_layers) for _ in range(self.num_directions))
        self.out_channels = hidden[-1] * self.num_directions
        self.batched_input_max_pixels: int | None = None  # None: `batched_input`'s measured rule per device

    def forward(self, x: Tensor, state: Sequence[State | None] | None = None) -> tuple[Tensor, list[State]]:
        """x (B, T, C, H, W); state: one (h, c) per cell (ordered like `cells`) or None for zeros."""
        if not self.batch_first:
            x = x.transpose(0, 1)
        states = list(state) if state is not None else [None] * len(self.cells)
        if len(states) != len(self.cells):
            raise ValueError(f"state has {len(states)} entries, this ConvLSTM has {len(self.cells)} cells")
        final: list[State] = []
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(self.num_directions):
                index = layer * self.num_directions + direction
                seq, last = self._run(self.cells[index], x, states[index], reverse=direction == 1,
                                      batched=batched_input(x, self.batched_input_max_pixels))
                outputs.append(seq)
                final.append(last)
            x = torch.cat(outputs, dim=2) if len(outputs) > 1 else outputs[0]  # (B, T, dirs*hidden, H, W)
            if self.dropout > 0 and layer < self.num_layers - 1:
                x = F.dropout(x, self.dropout, self.training)
        return (x if self.batch_first else x.transpose(0, 1)), final

    @staticmethod
    def _run(cell: ConvLSTMCell, x: Tensor, state: State | None, reverse: bool, batched: bool
             ) -> tuple[Tensor, State]:
        """One direction of one layer: x (B, T, C, H, W) -> (B, T, hidden, H, W) and the final (h, c)."""
        steps = range(x.shape[1] - 1, -1, -1) if reverse else range(x.shape[1])
        # unbind: one backward node (a stack); indexing x[:, t] gave each step a zeroed full-size gradient to add
        if batched:
            gates = cell.input_conv(x.flatten(0, 1)).unflatten(0, x.shape[:2]).unbind(1)  # T x (B, 4*hidden, H, W)
        else:
            frames, weight = x.unbind(1), cell.concat_weight()
        outputs: list[Tensor] = [x] * x.shape[1]  # placeholders, each overwritten below
        for t in steps:
            state = cell.step(gates[t], state) if batched else cell.step_concat(frames[t], state, weight)
            outputs[t] = state[0]
        return torch.stack(outputs, dim=1), state
