"""The detector's top: temporal pooling and the clip classifiers built from a `ModelConfig`.

A clip (B, T, 3, H, W) of normalised frames goes through the input streams and a 2-D CNN encoder frame by
frame, then a ConvLSTM over time (or nothing, for the frame-only baseline), then a small linear head.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from lab.config import ModelConfig
from lab.models.convlstm import ConvLSTM, State
from lab.models.encoders import FrameEncoder, InputStreams, build_encoder

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


def spatial_pool(maps: Tensor, mode: str, num_directions: int = 1) -> Tensor:
    """(B, T, C, h, w) -> (B, T, D): the mean over space, the max (an edit confined to part of the frame is not
    diluted by the rest), or both side by side ("meanmax", D = 2C). Per direction, so a bidirectional layout
    stays [forward | backward] for `LastPooling`."""
    if mode == "mean":
        return maps.mean(dim=(-2, -1))
    if mode == "max":
        return maps.amax(dim=(-2, -1))
    per = maps.unflatten(2, (num_directions, maps.shape[2] // num_directions))  # (B, T, dirs, C/dirs, h, w)
    return torch.cat([per.mean(dim=(-2, -1)), per.amax(dim=(-2, -1))], dim=-1).flatten(2)


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

    Subclasses set `embed_dim` and `head` and implement `forward_encoded` (everything after the per-frame encoder;
    `forward_features` = encode + forward_encoded). All take (B, T, 3, H, W) normalised frames and return
    (B, num_classes) logits.
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
        return self.forward_encoded(self.encode(clip))

    def forward_encoded(self, maps: Tensor) -> ClipFeatures:
        """What `forward_features` does after the encoder: encoder maps (B, T, C_enc, h, w) in. Scoring overlapping
        windows encodes each frame once and calls this per window (`lab.evaluation.shared`)."""
        raise NotImplementedError

    def forward_head(self, embedding: Tensor) -> Tensor:
        """(..., D) -> (..., num_classes): a clip embedding (B, D) or a sequence (B, T, D)."""
        return self.head(self.head_dropout(embedding))

    def forward_timeline(self, clip: Tensor) -> Tensor:
        """Per-timestep logits (B, T, num_classes); with a unidirectional ConvLSTM step t saw frames 0..t."""
        return self.forward_head(self.forward_features(clip).sequence)

    def forward(self, clip: Tensor, with_timeline: bool = False) -> Tensor | tuple[Tensor, Tensor]:
        """(B, num_classes) clip logits; with_timeline: also the per-timestep logits (B, T, num_classes), from
        one pass (training calls the model once, so DistributedDataParallel sees every gradient)."""
        features = self.forward_features(clip)
        logits = self.forward_head(features.embedding)
        return (logits, self.forward_head(features.sequence)) if with_timeline else logits


class ConvLSTMClassifier(ClipClassifier):
    """Encoder per frame -> ConvLSTM over time -> spatial pooling -> temporal pooling -> head."""

    def __init__(self, cfg: ModelConfig):
        super().__init__(cfg)
        lstm = cfg.convlstm
        self.convlstm = ConvLSTM(self.encoder.out_channels, lstm.hidden_channels, lstm.kernel_size,
                                 lstm.num_layers, lstm.bidirectional, batch_first=True, dropout=lstm.dropout)
        width = self.convlstm.out_channels * (2 if cfg.spatial_pooling == "meanmax" else 1)
        self.pooling = POOLINGS[cfg.pooling](width, self.convlstm.num_directions)
        self._make_head(width)

    def forward_features(self, clip: Tensor, state: Sequence[State | None] | None = None) -> ClipFeatures:
        """clip (B, T, 3, H, W); `state` continues from a previous chunk's `ClipFeatures.state`. Chunks equal one
        whole pass only with `input_streams: [rgb]`: a residual stream restarts at zeros in each chunk."""
        return self.forward_encoded(self.encode(clip), state)

    def forward_encoded(self, maps: Tensor, state: Sequence[State | None] | None = None) -> ClipFeatures:
        maps, final = self.convlstm(maps, state)  # (B, T, C_out, h, w)
        sequence = spatial_pool(maps, self.cfg.spatial_pooling, self.convlstm.num_directions)  # (B, T, D)
        embedding, attention = self.pooling(sequence)
        return ClipFeatures(embedding, sequence, attention, maps, final)


class FrameClassifier(ClipClassifier):
    """Frame-only baseline: the same encoder and head, no recurrence; per-frame logits are averaged.

    It answers "does time help?"; `pooling` does not apply (the clip embedding is the mean frame vector,
    whose logits equal the mean per-frame logits when dropout is off).
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__(cfg)
        self._make_head(self.encoder.out_channels * (2 if cfg.spatial_pooling == "meanmax" else 1))

    def forward_encoded(self, maps: Tensor) -> ClipFeatures:
        sequence = spatial_pool(maps, self.cfg.spatial_pooling)  # (B, T, D)
        return ClipFeatures(sequence.mean(dim=1), sequence, None, maps)

    def forward(self, clip: Tensor, with_timeline: bool = False) -> Tensor | tuple[Tensor, Tensor]:
        timeline = self.forward_timeline(clip)  # (B, T, num_classes)
        return (timeline.mean(dim=1), timeline) if with_timeline else timeline.mean(dim=1)


MODELS: dict[str, type[ClipClassifier]] = {"convlstm": ConvLSTMClassifier, "frame": FrameClassifier}


def build_model(cfg: ModelConfig) -> ClipClassifier:
    """The model `cfg.temporal` names, built from the `model` config section."""
    return MODELS[cfg.temporal](cfg)
