"""A one-line model summary: parameter counts and forward FLOPs per clip (`torch.utils.flop_counter`)."""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """(total, trainable) parameter counts."""
    params = list(model.parameters())
    return sum(p.numel() for p in params), sum(p.numel() for p in params if p.requires_grad)


def count_flops(model: nn.Module, input_shape: Sequence[int]) -> int:
    """Forward FLOPs (a multiply-add counts 2) for one zero input of `input_shape`, in eval mode so that
    BatchNorm running statistics are left untouched. Runs a real forward on the model's device."""
    param = next(model.parameters(), None)
    x = torch.zeros(tuple(input_shape), device=param.device if param is not None else "cpu")
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(x)
    finally:
        model.train(was_training)
    return counter.get_total_flops()


def _human(n: float, sep: str = "") -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= scale:
            return f"{n / scale:.2f}{sep}{unit}"
    return f"{n:.0f}{sep}"


def summarize(model: nn.Module, input_shape: Sequence[int]) -> str:
    """One line: class, parameters total/trainable, FLOPs per clip.

    `input_shape` is (B, T, C, H, W) (FLOPs are divided by B) or one clip's (T, C, H, W).
    e.g. "ConvLSTMClassifier: 13.39M params (13.39M trainable), 61.43 GFLOPs per clip 16x3x224x224"
    """
    shape = tuple(input_shape) if len(input_shape) == 5 else (1, *input_shape)
    total, trainable = count_parameters(model)
    flops = count_flops(model, shape) / shape[0]
    clip = "x".join(map(str, shape[1:]))
    return f"{type(model).__name__}: {_human(total)} params ({_human(trainable)} trainable), " \
           f"{_human(flops, ' ')}FLOPs per clip {clip}"
