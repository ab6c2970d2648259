"""The detector, bottom-up: `ConvLSTMCell` -> `ConvLSTM` -> clip classifiers built from a `ModelConfig`.

A clip (B, T, 3, H, W) of normalised frames goes through the input streams and a 2-D CNN encoder frame by
frame, then a ConvLSTM over time (or nothing, for the frame-only baseline), then a small linear head.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lab.config import ModelConfig
from lab.encoders import FrameEncoder, InputStreams, build_encoder
from lab.summary import summarize  # noqa: F401  (re-exported: callers use lab.model.summarize)

State = tuple[Tensor, Tensor]  # (h, c), each (B, hidden, H, W)

# `ConvLSTM` runs `input_conv` over all T frames as one batched convolution outside the time loop when the
# feature map has at most this many pixels, else step by step inside the loop. Measured on this project's
# shared 2-core CPU, one thread, min of 7 interleaved runs, one layer, B=2, T=16, hidden 64, kernel 3
# (loop time / batched time, >1 means batched is faster; forward+backward and forward only):
#   7x7   C_in 512: 1.40x / 1.45x      14x14 C_in 256: 1.04x / 1.05x
#   28x28 C_in 128: 0.84x / 0.90x      56x56 C_in 64:  0.60x / 0.84x
# (likely cache: the big all-T gate tensor no longer fits, per step it is consumed while hot). Not measured
# on a GPU, where fewer, larger kernels usually win: re-measure there and set an instance's
# `batched_input_max_pixels`.
BATCHED_INPUT_CONV_MAX_PIXELS = 14 * 14


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
            i, _, g, o = x_gates.chunk(4, dim=1)
            c = torch.sigmoid(i) * torch.tanh(g)
        else:
            h, c = state
            i, f, g, o = (x_gates + self.hidden_conv(h)).chunk(4, dim=1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, c


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
        self.batched_input_max_pixels = BATCHED_INPUT_CONV_MAX_PIXELS

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
                                      batched=x.shape[-2] * x.shape[-1] <= self.batched_input_max_pixels)
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
        if batched:
            gates = cell.input_conv(x.flatten(0, 1)).unflatten(0, x.shape[:2])  # (B, T, 4*hidden, H, W)
        outputs: list[Tensor] = [x] * x.shape[1]  # placeholders, each overwritten below
        for t in steps:
            state = cell.step(gates[:, t], state) if batched else cell(x[:, t], state)
            outputs[t] = state[0]
        return torch.stack(outputs, dim=1), state


# ------------------------------------------------------------------------------------------ temporal pooling


class LastPooling(nn.Module):
    """The final state of each direction: sequence (B, T, D) -> (B, D). Bidirectional: the forward half at
    t = T-1 and the backward half at t = 0 (each direction's last step, like `nn.LSTM`'s h_n)."""

    def __init__(self, dim: int, num_directions: int = 1):
        super().__init__()
        self.backward_dim = dim // num_directions if num_directions == 2 else 0

    def forward(self, sequence: Tensor) -> tuple[Tensor, None]:
        if not self.backward_dim:
            return sequence[:, -1], None
        split = sequence.shape[-1] - self.backward_dim
        return torch.cat([sequence[:, -1, :split], sequence[:, 0, split:]], dim=-1), None


class MeanPooling(nn.Module):
    """Average over time: sequence (B, T, D) -> (B, D)."""

    def __init__(self, dim: int, num_directions: int = 1):
        super().__init__()

    def forward(self, sequence: Tensor) -> tuple[Tensor, None]:
        return sequence.mean(dim=1), None


class AttentionPooling(nn.Module):
    """Learned weights over time (additive attention): sequence (B, T, D) -> (B, D) and weights (B, T)."""

    def __init__(self, dim: int, num_directions: int = 1):
        super().__init__()
        self.score = nn.Sequential(nn.Linear(dim, dim), nn.Tanh(), nn.Linear(dim, 1))

    def forward(self, sequence: Tensor) -> tuple[Tensor, Tensor]:
        weights = self.score(sequence).squeeze(-1).softmax(dim=1)  # (B, T), sums to 1 over time
        return torch.einsum("bt,btd->bd", weights, sequence), weights


POOLINGS: dict[str, type[nn.Module]] = {"last": LastPooling, "mean": MeanPooling, "attention": AttentionPooling}


# -------------------------------------------------------------------------------------------- classifiers


@dataclass
class ClipFeatures:
    """What `forward_features` returns: the clip embedding and what visualisation needs."""

    embedding: Tensor  # (B, D) the clip summary that `forward_head` classifies
    sequence: Tensor  # (B, T, D) per-timestep pooled vectors; `forward_head` turns them into a timeline
    attention: Tensor | None  # (B, T) attention weights over time (pooling="attention"), else None
    maps: Tensor  # (B, T, C, h, w) last-layer feature maps (ConvLSTM hidden states), for Grad-CAM
    state: list[State] | None = None  # final ConvLSTM (h, c) per cell, to carry into the next chunk


class ClipClassifier(nn.Module):
    """Shared by every temporal model: input streams + per-frame encoder in, dropout + linear head out.

    Subclasses set `embed_dim` and `head` and implement `forward_features`. All take (B, T, 3, H, W)
    normalised frames and return (B, num_classes) logits.
    """

    embed_dim: int

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.streams = InputStreams(cfg.input_streams)
        self.encoder: FrameEncoder = build_encoder(cfg.backbone, cfg.pretrained, cfg.freeze_backbone,
                                                   cfg.output_stride, self.streams.out_channels)
        self.head_dropout = nn.Dropout(cfg.classifier.dropout)

    def _make_head(self, embed_dim: int) -> None:
        self.embed_dim = embed_dim
        self.head = nn.Linear(embed_dim, self.cfg.classifier.num_classes)

    def encode(self, clip: Tensor) -> Tensor:
        """clip (B, T, 3, H, W) -> encoder feature maps (B, T, C_enc, h, w), all frames in one batch."""
        x = self.streams(clip)  # (B, T, C_in, H, W)
        return self.encoder(x.flatten(0, 1)).unflatten(0, x.shape[:2])

    def forward_features(self, clip: Tensor) -> ClipFeatures:
        raise NotImplementedError

    def forward_head(self, embedding: Tensor) -> Tensor:
        """(..., D) -> (..., num_classes): a clip embedding (B, D) or a sequence (B, T, D)."""
        return self.head(self.head_dropout(embedding))

    def forward_timeline(self, clip: Tensor) -> Tensor:
        """Per-timestep logits (B, T, num_classes); with a unidirectional ConvLSTM step t saw frames 0..t."""
        return self.forward_head(self.forward_features(clip).sequence)

    def forward(self, clip: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(clip).embedding)


class ConvLSTMClassifier(ClipClassifier):
    """Encoder per frame -> ConvLSTM over time -> spatial mean -> temporal pooling -> head."""

    def __init__(self, cfg: ModelConfig):
        super().__init__(cfg)
        lstm = cfg.convlstm
        self.convlstm = ConvLSTM(self.encoder.out_channels, lstm.hidden_channels, lstm.kernel_size,
                                 lstm.num_layers, lstm.bidirectional, batch_first=True, dropout=lstm.dropout)
        self.pooling = POOLINGS[cfg.pooling](self.convlstm.out_channels, self.convlstm.num_directions)
        self._make_head(self.convlstm.out_channels)

    def forward_features(self, clip: Tensor, state: Sequence[State | None] | None = None) -> ClipFeatures:
        """clip (B, T, 3, H, W); `state` continues from a previous chunk's `ClipFeatures.state`."""
        maps, final = self.convlstm(self.encode(clip), state)  # (B, T, C_out, h, w)
        sequence = maps.mean(dim=(-2, -1))  # (B, T, C_out)
        embedding, attention = self.pooling(sequence)
        return ClipFeatures(embedding, sequence, attention, maps, final)


class FrameClassifier(ClipClassifier):
    """Frame-only baseline: the same encoder and head, no recurrence; per-frame logits are averaged.

    It answers "does time help?"; `pooling` does not apply (the clip embedding is the mean frame vector,
    whose logits equal the mean per-frame logits when dropout is off).
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__(cfg)
        self._make_head(self.encoder.out_channels)

    def forward_features(self, clip: Tensor) -> ClipFeatures:
        maps = self.encode(clip)  # (B, T, C_enc, h, w)
        sequence = maps.mean(dim=(-2, -1))  # (B, T, C_enc)
        return ClipFeatures(sequence.mean(dim=1), sequence, None, maps)

    def forward(self, clip: Tensor) -> Tensor:
        return self.forward_timeline(clip).mean(dim=1)  # (B, num_classes)


MODELS: dict[str, type[ClipClassifier]] = {"convlstm": ConvLSTMClassifier, "frame": FrameClassifier}


def build_model(cfg: ModelConfig) -> ClipClassifier:
    """The model `cfg.temporal` names, built from the `model` config section."""
    return MODELS[cfg.temporal](cfg)
