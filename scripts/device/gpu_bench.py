"""usage: [PARTS=a,b] gpu_bench.py OUTDIR [quick]: issue 14's GPU figures, each part alone on the GPU; rows are appended to
OUTDIR/gpu.jsonl as they come (a part that fails logs its error and the next one runs).

1. `lab bench`'s ConvLSTM case (ours vs one concat convolution per step, same weights) at the seed model's
   shapes: strict fp32 (TF32 off), then under bf16 autocast.
2. The seed model's training step (resnet18 + ConvLSTM [64, 128], batch 8 x T=16 at 224x224, fwd + loss + bwd +
   AdamW): fp32 eager, bf16 + channels_last eager, the same compiled; FLOPs from `torch.utils.flop_counter`, so
   each variant's model-FLOP utilisation against the dense matmul rate measured in the same rounds.
3. `lab bench`'s shared-encoder case at 224 on CUDA (infer_vs_naive at strides 8 and 4).
4. `lab bench`'s frame-cache case with the CUDA training step (loader_vs_step: does the GPU wait on data).
"""
import json
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from benchmarks import timing as bench
from benchmarks.cache import bench_frame_cache
from benchmarks.convlstm import bench_convlstm_vs_naive
from benchmarks.inference import bench_shared_encoder
from lab.config import load_config
from lab.models.classifier import build_model
from lab.runtime.device import Precision, prepare_model

out = Path(sys.argv[1])
quick = len(sys.argv) > 2
dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
sizes = bench.QUICK if quick else bench.FULL
side, steps, batch = (32, 4, 2) if quick else (224, 16, 8)
MM = 1024 if quick else 8192


def log(**row):
    row = {k: (round(v, 4) if isinstance(v, float) else v if isinstance(v, (int, bool, type(None))) else str(v))
           for k, v in row.items()}
    print(json.dumps(row), flush=True)
    with open(out / "gpu.jsonl", "a") as f:
        f.write(json.dumps(row) + "\n")


def part(name, fn):
    t0 = time.perf_counter()
    try:
        fn()
        log(part=name, ok=True, seconds=time.perf_counter() - t0)
    except Exception as e:
        traceback.print_exc()
        log(part=name, ok=False, error=f"{type(e).__name__}: {e}"[:400], seconds=time.perf_counter() - t0)


def rows(name, found, **extra):
    for r in found:
        log(part=name, **extra, **r)


def convlstm(precision):
    def go():
        ctx = torch.autocast("cuda", dtype=torch.bfloat16) if precision == "bf16" else torch.autocast("cuda", enabled=False)
        with ctx:
            found = bench_convlstm_vs_naive(dev, quick, sizes.lstm_batch, sizes.lstm_steps, 9, bench.interleaved,
                                            bench.row)
        rows("convlstm_vs_naive", found, precision=precision)
    return go


def convlstm_variants():
    """ConvLSTM vs concat at the seed model's shapes, fwd+bwd, same weights, fp32 (TF32 off) and bf16 autocast:
    ours with the input convolution batched over T or one concat convolution per step, then both layers captured
    as CUDA graphs (`torch.cuda.make_graphed_callables`: forward and backward replayed without the host issuing
    each kernel). An earlier run also tried the gate arithmetic through torch.compile; it hit dynamo's
    recompile limit after the first shape, so only 7x7 fp32 measured it (slower; not kept)."""
    from benchmarks.convlstm import FULL_MAPS, HIDDEN, QUICK_MAPS, _strict_fp32
    from benchmarks.reference import NaiveConvLSTM
    from lab.models.convlstm import ConvLSTM

    class Out(torch.nn.Module):  # a graphed callable returns tensors: ours' hidden states only
        def __init__(self, lstm):
            super().__init__()
            self.lstm = lstm

        def forward(self, x):
            y = self.lstm(x)
            return y[0] if isinstance(y, tuple) else y

    for precision in ("fp32", "bf16"):
        for side, channels in QUICK_MAPS if quick else FULL_MAPS:
            torch.manual_seed(0)
            lstm = ConvLSTM(channels, HIDDEN, kernel_size=3).to(dev)
            naive = Out(NaiveConvLSTM.like(lstm.cells[0]))
            concat, batched = Out(lstm), Out(lstm)
            x = torch.randn(sizes.lstm_batch, sizes.lstm_steps, channels, side, side, device=dev, requires_grad=True)
            ctx = (torch.autocast("cuda", dtype=torch.bfloat16, cache_enabled=False) if precision == "bf16"
                   else _strict_fp32(dev))

            def step(model, max_pixels=None):
                def run():
                    if max_pixels is not None:
                        lstm.batched_input_max_pixels = max_pixels
                    model.zero_grad(set_to_none=True)
                    x.grad = None
                    model(x).float().sum().backward()
                return run

            with ctx:
                fns = {"naive": step(naive), "concat": step(concat, 0), "batched": step(batched, 10 ** 9)}
                if dev.type == "cuda":
                    lstm.batched_input_max_pixels = 10 ** 9
                    fns["batched graphed"] = step(torch.cuda.make_graphed_callables(Out(lstm), (x,)))
                    fns["naive graphed"] = step(torch.cuda.make_graphed_callables(
                        Out(NaiveConvLSTM.like(lstm.cells[0])), (x,)))
                    lstm.batched_input_max_pixels = 0
                    fns["concat graphed"] = step(torch.cuda.make_graphed_callables(Out(lstm), (x,)))
                errors = {}
                with torch.no_grad():
                    ref = naive(x).float()
                    for path, max_pixels in (("concat", 0), ("batched", 10 ** 9)):
                        lstm.batched_input_max_pixels = max_pixels
                        errors[f"{path}_maxerr"] = (concat(x).float() - ref).abs().max().item()
                t = bench.interleaved(fns, 9, dev)
            log(part="convlstm_variants", precision=precision, shape=f"{side}x{side} C_in {channels}", **errors,
                **{f"{k}_ms": v * 1e3 for k, v in t.items()},
                **{f"{k}_vs_naive": t["naive"] / v for k, v in t.items() if k != "naive"},
                **({"batched_graphed_vs_naive_graphed": t["naive graphed"] / t["batched graphed"],
                    "concat_graphed_vs_naive_graphed": t["naive graphed"] / t["concat graphed"]}
                   if "naive graphed" in t else {}))


def seed_step():
    cfg = load_config("config/data_config.yaml", "config/model_config.yaml", overrides=[
        "model.pretrained=false", f"image.height={side}", f"image.width={side}", f"sequence.length={steps}",
        f"sequence.stride={steps // 2}"])
    clips = torch.randn(batch, steps, 3, side, side, device=dev)
    labels = torch.arange(batch, device=dev) % 2
    variants = {"fp32 eager (cuDNN TF32 convs, torch default)": (False, False, False),
                "bf16 + channels_last eager": (True, True, False),
                "bf16 + channels_last + compile": (True, True, True)}
    if os.environ.get("NO_COMPILE") == "1":
        variants.pop("bf16 + channels_last + compile")
    fns, flops = {}, {}
    for name, (amp, cl, comp) in variants.items():
        torch.manual_seed(0)
        model = prepare_model(build_model(cfg.model), dev, channels_last=cl, compile=comp).train()
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
        prec = Precision.choose(dev, amp)

        def step(model=model, opt=opt, prec=prec):
            opt.zero_grad(set_to_none=True)
            with prec.autocast():
                loss = F.cross_entropy(model(clips), labels)
            loss.backward()
            opt.step()
        if not comp:
            with FlopCounterMode(display=False) as counter:
                step()
            flops[name] = counter.get_total_flops()
        t0 = time.perf_counter()
        step()
        bench.sync(dev)
        log(part="seed_step_first_call", variant=name, seconds=time.perf_counter() - t0)
        fns[name] = step
    a32, b32 = (torch.randn(MM, MM, device=dev) for _ in range(2))
    a16, b16 = a32.bfloat16(), b32.bfloat16()

    def mm_tf32():
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.mm(a32, b32)
        torch.backends.cuda.matmul.allow_tf32 = False
    fns["matmul bf16"] = lambda: torch.mm(a16, b16)
    fns["matmul tf32"] = mm_tf32
    t = bench.interleaved(fns, 3 if quick else 11, dev)
    model_flops = flops[next(iter(flops))]
    peak = {p: 2 * MM ** 3 / t[f"matmul {p}"] for p in ("bf16", "tf32")}
    log(part="matmul_peak", bf16_tflops=peak["bf16"] / 1e12, tf32_tflops=peak["tf32"] / 1e12, side=MM)
    for name in variants:
        achieved = model_flops / t[name]
        log(part="seed_train_step", variant=name, shape=f"B{batch} T{steps} {side}x{side}", ms=t[name] * 1e3,
            clips_per_s=batch / t[name], step_gflop=model_flops / 1e9, tflops=achieved / 1e12,
            mfu_vs_bf16_matmul=achieved / peak["bf16"], mfu_vs_tf32_matmul=achieved / peak["tf32"],
            flops_counted_fp32_vs_bf16=flops.get(name, model_flops) / model_flops)


def shared():
    with tempfile.TemporaryDirectory() as tmp:
        video = bench.synthetic_video(Path(tmp) / "share" / "real" / "video.mp4", sizes.share_frames)
        rows("shared_encoder", bench_shared_encoder(dev, sizes.gpu_side, sizes.share_steps, sizes.share_frames,
                                                    sizes.share_repeats + 2, video, bench.interleaved, bench.row))


def cache():
    with tempfile.TemporaryDirectory() as tmp:
        rows("frame_cache", bench_frame_cache([dev], quick, Path(tmp), bench.interleaved, bench.row))


PARTS = {"convlstm variants": convlstm_variants, "convlstm fp32": convlstm("fp32"), "convlstm bf16": convlstm("bf16"), "seed step": seed_step,
         "shared encoder": shared, "frame cache": cache}
chosen = os.environ.get("PARTS", ",".join(PARTS)).split(",")  # e.g. PARTS="frame cache"
log(part="machine", **bench.machine_info(), gpu=torch.cuda.get_device_name(0) if dev.type == "cuda" else None)
for name in chosen:
    part(name, PARTS[name])
