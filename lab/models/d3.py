"""The D3 score: how unevenly a clip's frame embeddings move from frame to frame, from a frozen encoder.

D3 ("Detection by Difference of Differences", Zheng et al., ICCV 2025, arXiv:2508.00701) embeds every frame with
a frozen encoder, takes second-order temporal differences of the embeddings and scores a clip by their spread
(standard deviation); it needs no training. The paper differences the *distances* between consecutive embeddings
(v_t = |e_(t+1) - e_t|, a_t = v_(t+1) - v_t, score = std(a)) and reports that real videos fluctuate more than
generated ones. Here that is `difference: distance`; the default, `vector`, spreads the norms of the vector second
differences |e_(t+1) - 2 e_t + e_(t-1)| instead, which scored higher on validation on both development sets
(docs/results/d3-shortcuts.md). Which side is fake is not assumed here: `lab.models.classifier.D3Classifier.fit_direction`
decides it on training data, since a manipulation that adds jitter (most of the synthetic set's) moves the
score the other way from a generator that smooths motion.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

EPS = 1e-6  # keeps log(spread) finite for a clip whose embeddings move perfectly evenly (a still clip)


def second_order(embeddings: Tensor, difference: str = "distance") -> Tensor:
    """(B, T, D) frame embeddings -> (B, T - 2) second-order values.

    "distance": a_t = |e_(t+2) - e_(t+1)| - |e_(t+1) - e_t| (the paper's difference of differences);
    "vector": a_t = |e_(t+2) - 2 e_(t+1) + e_t| (the norm of the vector second difference). Needs T >= 3."""
    if embeddings.shape[1] < 3:
        raise ValueError(f"a second-order difference needs at least 3 frames, got {embeddings.shape[1]}")
    if difference == "distance":
        steps = (embeddings[:, 1:] - embeddings[:, :-1]).norm(dim=-1)  # (B, T - 1)
        return steps[:, 1:] - steps[:, :-1]
    if difference == "vector":
        return (embeddings[:, 2:] - 2 * embeddings[:, 1:-1] + embeddings[:, :-2]).norm(dim=-1)
    raise ValueError(f"unknown difference {difference!r}; use distance or vector")


def log_spread(embeddings: Tensor, difference: str = "distance") -> Tensor:
    """(B, T, D) -> (B,) log of the standard deviation (population) of the second-order values: the D3 score on
    a log scale (spreads span orders of magnitude between still and busy clips)."""
    values = second_order(embeddings.float(), difference)
    return torch.log(values.std(dim=1, unbiased=False) + EPS)


class PixelEncoder(nn.Module):
    """A fixed, parameter-free frame embedding: each frame average-pooled to `grid` x `grid` cells.

    (N, 3, H, W) -> (N, 3, grid, grid). The pixel-space stand-in for a pretrained encoder when none is at hand."""

    def __init__(self, grid: int = 8):
        super().__init__()
        self.grid, self.out_channels, self.in_channels, self.stride = grid, 3, 3, None

    def forward(self, x: Tensor) -> Tensor:
        return F.adaptive_avg_pool2d(x, self.grid)
