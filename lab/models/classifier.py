"""The detector's top: temporal pooling and the clip classifiers built from a `ModelConfig`.

A clip (B, T, 3, H, W) of normalised frames goes through the input streams and a 2-D CNN encoder frame by
frame, then a ConvLSTM over time (or nothing, for the frame-only baseline), then a small linear head.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import torch
from torch import Tensor, nn

from lab.config import ModelConfig
from lab.models.convlstm import ConvLSTM, State
from lab.models.d3 import PixelEncoder, log_spread
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
                                                   cfg.output_stride, self.streams.out_channels,
                                                   cfg.trainable_stages)
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
        windows encodes each frame once and calls this per window (`lab.scoring.shared`)."""
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


class D3Classifier(ClipClassifier):
    """The training-free D3 baseline (`lab.models.d3`): frozen per-frame embeddings -> the log spread of their
    second-order differences -> a fixed one-feature logistic head.

    Nothing here trains (no trainable parameters). The head's buffers (`direction`, `scale`, `center`) are set by
    `fit_direction` from training windows, which `lab train` does instead of optimising; until then the
    head passes the log spread through as the fake logit (`fitted` is False). Reads the RGB frames only
    (`model.input_streams` does not apply); the frame embedding is the frozen backbone's feature map at
    `model.output_stride`, flattened, or with `model.d3.embedding: pixels` a fixed average-pooled grid. The
    timeline repeats the window's score at every step: D3 scores a window, not a frame.
    """

    training_free = True  # `lab.training.loop.fit` fits it (`lab.training.training_free`) instead of training it

    def __init__(self, cfg: ModelConfig):
        nn.Module.__init__(self)  # not ClipClassifier's: no input streams beyond RGB, no backbone for "pixels"
        self.cfg = replace(cfg, input_streams=("rgb",), freeze_backbone=True, trainable_stages=None)
        self.streams = InputStreams(("rgb",))
        self.encoder = PixelEncoder(cfg.d3.pixel_grid) if cfg.d3.embedding == "pixels" else \
            build_encoder(cfg.backbone, cfg.pretrained, True, cfg.output_stride, 3)
        self.head_dropout = nn.Identity()
        self.embed_dim = 1
        self.register_buffer("fitted", torch.zeros((), dtype=torch.bool))
        self.register_buffer("scale", torch.ones(()))  # signed: > 0 means more spread = more likely fake
        self.register_buffer("center", torch.zeros(()))  # log spread where P(fake) = 0.5

    def forward_encoded(self, maps: Tensor) -> ClipFeatures:
        spread = log_spread(maps.flatten(2), self.cfg.d3.difference)[:, None]  # (B, 1)
        sequence = spread[:, None].expand(-1, maps.shape[1], -1)  # (B, T, 1): one score per window
        return ClipFeatures(spread, sequence, None, maps)

    def forward_head(self, embedding: Tensor) -> Tensor:
        """(..., 1) log spreads -> (..., 2) logits [0, scale * (spread - center)]: softmax gives P(fake)."""
        fake = self.scale * (embedding - self.center)
        return torch.cat([torch.zeros_like(fake), fake], dim=-1)

    @torch.no_grad()
    def fit_direction(self, log_spreads: Tensor, labels: Tensor) -> dict[str, float]:
        """Fit the head on training windows: a one-feature logistic regression of the label on the log spread,
        whose slope's sign is the direction (which side is fake) and whose size calibrates it. Returns what
        was fitted: direction (+1: more spread is fake), scale, center, and the raw score's ROC-AUC there."""
        from sklearn.linear_model import LogisticRegression
        from sklearn.metrics import roc_auc_score

        x = log_spreads.detach().double().cpu().numpy().reshape(-1, 1)
        y = labels.detach().cpu().numpy().astype(int)
        if len(set(y.tolist())) != 2:
            raise ValueError("fitting the D3 direction needs real and fake windows")
        if float(x.std()) == 0.0:
            raise ValueError("every window has the same D3 spread, so no direction can be fitted")
        regression = LogisticRegression(C=1e4, max_iter=1000).fit(x, y)
        slope, intercept = float(regression.coef_[0, 0]), float(regression.intercept_[0])
        if slope == 0.0:
            raise ValueError("the D3 spread carries no information about the label on these windows")
        self.scale.fill_(slope)
        self.center.fill_(-intercept / slope)
        self.fitted.fill_(True)
        return {"direction": 1.0 if slope > 0 else -1.0, "scale": slope, "center": -intercept / slope,
                "train_auc": float(roc_auc_score(y, x[:, 0])), "n_windows": float(len(y))}


MODELS: dict[str, type[ClipClassifier]] = {"convlstm": ConvLSTMClassifier, "frame": FrameClassifier,
                                           "d3": D3Classifier}


def build_model(cfg: ModelConfig) -> ClipClassifier:
    """The model `cfg.temporal` names, built from the `model` config section."""
    return MODELS[cfg.temporal](cfg)
