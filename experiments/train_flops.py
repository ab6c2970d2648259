"""Where a CPU training step of the seed model spends its time against where its FLOPs are: the "Training FLOP/s"
section of docs/results/compression.md (the time/FLOP shares table and the channels_last comparison). From the
repository root (config/ is read from there):

    python experiments/train_flops.py --side 112 --steps 8 --batch 2
    python experiments/train_flops.py --side 112 --steps 8 --batch 1 --compare-channels-last

Prints the achieved FLOP/s fraction (as the benchmarks' "train flops" case) and torch.profiler's top operators by
self CPU time beside FlopCounterMode's FLOPs per operator; `--compare-channels-last` times both memory formats
instead.
"""
from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.profiler import ProfilerActivity, profile
from torch.utils.flop_counter import FlopCounterMode

# `benchmarks` is the checkout's top-level package (its interleaved timer), not installed with `lab`: this script
# runs from the checkout it lives in.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.compress import MATMUL_SIDE  # noqa: E402
from benchmarks.timing import interleaved  # noqa: E402
from lab.config import load_config  # noqa: E402
from lab.models.classifier import build_model  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], allow_abbrev=False)
    ap.add_argument("--side", type=int, default=112, help="frame side (default 112)")
    ap.add_argument("--steps", type=int, default=16, help="frames per clip, T (default 16)")
    ap.add_argument("--batch", type=int, default=2, help="clips per step (default 2)")
    ap.add_argument("--repeats", type=int, default=3, help="timed rounds; the median is kept (default 3)")
    ap.add_argument("--channels-last", action="store_true", help="the model in channels_last memory format")
    ap.add_argument("--compare-channels-last", action="store_true", help="time both memory formats, interleaved")
    args = ap.parse_args()
    cfg = load_config("config/data_config.yaml", "config/model_config.yaml", overrides=[
        "model.pretrained=false", f"image.height={args.side}", f"image.width={args.side}",
        f"sequence.length={args.steps}", f"sequence.stride={args.steps}"])
    torch.manual_seed(0)
    model = build_model(cfg.model).train()
    if args.channels_last:
        model = model.to(memory_format=torch.channels_last)
    clips = torch.randn(args.batch, args.steps, 3, args.side, args.side)
    labels = torch.arange(args.batch) % 2

    def step() -> None:
        model.zero_grad(set_to_none=True)
        F.cross_entropy(model(clips), labels).backward()

    with FlopCounterMode(display=False) as counter:
        step()
    flops = counter.get_total_flops()
    by_op = {str(k): v for k, v in counter.get_flop_counts()["Global"].items()}
    a, b = torch.randn(MATMUL_SIDE, MATMUL_SIDE), torch.randn(MATMUL_SIDE, MATMUL_SIDE)
    times = {"step": [], "mm": []}
    step()
    torch.mm(a, b)
    for _ in range(args.repeats):
        for name, fn in (("step", step), ("mm", lambda: torch.mm(a, b))):
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    step_s, mm_s = statistics.median(times["step"]), statistics.median(times["mm"])
    mm_flops = 2 * MATMUL_SIDE ** 3 / mm_s
    print(f"step {flops / 1e9:.2f} GFLOP in {step_s * 1e3:.0f} ms = {flops / step_s / 1e9:.1f} GFLOP/s; "
          f"mm {mm_flops / 1e9:.1f} GFLOP/s; fraction {flops / step_s / mm_flops:.3f} "
          f"({torch.get_num_threads()} threads, channels_last={args.channels_last})")
    if args.compare_channels_last:  # the same step, contiguous against channels_last weights, interleaved
        other = copy.deepcopy(model).to(memory_format=torch.channels_last)

        def step_cl() -> None:
            other.zero_grad(set_to_none=True)
            F.cross_entropy(other(clips), labels).backward()

        t = interleaved({"contiguous": step, "channels_last": step_cl}, args.repeats)
        print(f"contiguous {t['contiguous'] * 1e3:.0f} ms, channels_last {t['channels_last'] * 1e3:.0f} ms "
              f"({t['contiguous'] / t['channels_last']:.2f}x)")
        return
    print("FLOPs by op:", {k: f"{v / flops:.1%}" for k, v in sorted(by_op.items(), key=lambda kv: -kv[1])})
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        step()
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=15))


if __name__ == "__main__":
    main()
