"""Streaming scoring: one pass over a whole video, the ConvLSTM state carried from chunk to chunk.

Window scoring (`lab.inference.infer`) restarts the ConvLSTM at zeros in every window of `sequence.length` frames.
Streaming instead runs the unidirectional ConvLSTM once over all frames, `chunk` frames at a time, handing each
chunk's final (h, c) to the next, so the state at frame t has seen frames 0..t, not just the window's last T.
The input streams see the previous chunk's last frames too (a residual stream needs frame t-1), so the chunks
give exactly what one pass over the whole video gives. Memory holds one chunk of frames and maps and the state.

Out comes the per-step head's P(fake) at every frame: the model's per-timestep output (trained by the auxiliary
loss, `training.step_loss_weight`, on windows of T frames). A state that has run far longer than T is outside
what training showed the model, so streaming scores are a different quantity from window scores: use them to
look at a long video in one pass, and the window scores to compare with evaluation.
"""
from __future__ import annotations

import contextlib
from typing import Iterator

import torch

from lab.errors import ConfigError
from lab.models.classifier import ConvLSTMClassifier
from lab.runtime.device import Precision


def check_streamable(net: torch.nn.Module) -> None:
    """Raise ConfigError unless `net` (unwrapped) is a unidirectional ConvLSTM classifier."""
    if not isinstance(net, ConvLSTMClassifier):
        raise ConfigError(f"streaming carries a ConvLSTM's state across the video; this model "
                          f"({type(net).__name__}) has none", "model.temporal",
                          "score windows instead (drop --streaming / streaming=True)")
    if net.convlstm.num_directions != 1:
        raise ConfigError("streaming needs a unidirectional ConvLSTM: a bidirectional one reads each window "
                          "backwards from its end, which a stream never reaches", "model.convlstm.bidirectional",
                          "score windows instead (drop --streaming / streaming=True)")


@torch.no_grad()
def stream_step_logits(net: ConvLSTMClassifier, frames: Iterator[torch.Tensor], device: torch.device,
                       precision: Precision | None = None, chunk: int = 16) -> Iterator[torch.Tensor]:
    """Normalised (3, H, W) frames in, per-frame logits out: one (k, num_classes) float32 tensor per chunk of
    k <= `chunk` frames, with the ConvLSTM state carried between chunks (`check_streamable` first)."""
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1, got {chunk}")
    context = net.streams.context
    history: list[torch.Tensor] = []  # the last `context` frames before the chunk, for the input streams
    state = None
    pending: list[torch.Tensor] = []

    def flush() -> torch.Tensor:
        nonlocal history, state
        seq = torch.stack(history + pending)[None].to(device)  # (1, ctx + k, 3, H, W)
        with precision.autocast() if precision is not None else contextlib.nullcontext():
            channels = net.streams(seq)[:, len(history):]  # (1, k, C_in, H, W), with the frames before the chunk
            maps = net.encoder(channels.flatten(0, 1)).unflatten(0, channels.shape[:2])  # (1, k, C_enc, h, w)
            feats = net.forward_encoded(maps, state)
            logits = net.forward_head(feats.sequence)[0].float()  # (k, num_classes)
        state = feats.state
        history = (history + pending)[-context:] if context else []
        pending.clear()
        return logits

    for frame in frames:
        pending.append(frame)
        if len(pending) == chunk:
            yield flush()
    if pending:
        yield flush()
