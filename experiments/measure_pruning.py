"""Does magnitude pruning make the seed model faster on this CPU? Eager inference, one clip per call. The "Pruning"
figures of docs/results/compression.md, from the repository root (config/ is read from there):

    python experiments/measure_pruning.py --side 112 --steps 16 --amount 0.5 --repeats 5
    python experiments/measure_pruning.py --side 112 --steps 4 --amount 0.5 --repeats 7

Variants (same architecture, torch.nn.utils.prune, masks made permanent with prune.remove): dense; unstructured L1
pruning of `amount` of every Conv2d's weights; channel-structured L2 pruning of `amount` of every Conv2d's output
channels (zeroed, not removed: the tensors keep their shapes). Timed interleaved, median.
"""
from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

import torch
from torch.nn.utils import prune

# `benchmarks` is the checkout's top-level package (its interleaved timer), not installed with `lab`: this script
# runs from the checkout it lives in.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.timing import interleaved  # noqa: E402
from lab.config import load_config  # noqa: E402
from lab.models.classifier import build_model  # noqa: E402


def pruned(model: torch.nn.Module, amount: float, structured: bool) -> torch.nn.Module:
    model = copy.deepcopy(model)
    for module in model.modules():
        if isinstance(module, torch.nn.Conv2d):
            if structured:
                prune.ln_structured(module, "weight", amount=amount, n=2, dim=0)
            else:
                prune.l1_unstructured(module, "weight", amount=amount)
            prune.remove(module, "weight")
    return model.eval()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], allow_abbrev=False)
    ap.add_argument("--side", type=int, default=112, help="frame side (default 112)")
    ap.add_argument("--steps", type=int, default=16, help="frames per clip, T (default 16)")
    ap.add_argument("--amount", type=float, default=0.5, help="share of weights / channels pruned (default 0.5)")
    ap.add_argument("--repeats", type=int, default=5, help="interleaved rounds; the median is kept (default 5)")
    args = ap.parse_args()
    cfg = load_config("config/data_config.yaml", "config/model_config.yaml", overrides=[
        "model.pretrained=false", f"image.height={args.side}", f"image.width={args.side}",
        f"sequence.length={args.steps}", f"sequence.stride={args.steps}"])
    torch.manual_seed(0)
    dense = build_model(cfg.model).eval()
    models = {"dense": dense, "unstructured": pruned(dense, args.amount, False),
              "channels": pruned(dense, args.amount, True)}
    clip = torch.randn(1, args.steps, 3, args.side, args.side)

    def run(model: torch.nn.Module):
        def call() -> None:
            with torch.no_grad():
                model(clip)
        return call

    zeros = {name: sum(int((m.weight == 0).sum()) for m in model.modules() if isinstance(m, torch.nn.Conv2d))
             / sum(m.weight.numel() for m in model.modules() if isinstance(m, torch.nn.Conv2d))
             for name, model in models.items()}
    t = interleaved({name: run(model) for name, model in models.items()}, args.repeats)
    for name in models:
        print(f"{name:>12}: {t[name] * 1e3:7.0f} ms per clip ({t['dense'] / t[name]:.2f}x dense), "
              f"{zeros[name]:.0%} of conv weights zero")
    print(f"seed model, 1 clip of {args.steps}x3x{args.side}x{args.side}, eager fp32, {torch.get_num_threads()} "
          f"threads, median of {args.repeats} interleaved rounds")


if __name__ == "__main__":
    main()
