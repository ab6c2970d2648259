"""The GPU figures of docs/results/gpu.md, each part alone on the GPU: "Seed model training step", "Does the GPU wait
on data?", "Scoring with a shared encoder", "The ConvLSTM layer against the usual ConvLSTM" and "The layer four
ways, and CUDA graphs". Rows are appended to OUT/gpu.jsonl as they come (a part that fails logs its error and the
next one runs). On a CUDA machine, from the repository root (config/ is read from there):

    python experiments/gpu_bench.py OUT                                          # every part
    python experiments/gpu_bench.py OUT --parts "convlstm variants" "seed step" --no-compile

Parts:
- `convlstm fp32`, `convlstm bf16`: the benchmarks' ConvLSTM case (ours vs one concat convolution per step, same
  weights) at the seed model's shapes, strict fp32 (TF32 off), then under bf16 autocast.
- `convlstm variants`: the layer with its input convolution batched over T or one concat convolution per step,
  eager and captured as CUDA graphs, against the usual ConvLSTM, in fp32 and bf16.
- `seed step`: the seed model's training step (resnet18 + ConvLSTM [64, 128], batch 8 x T=16 at 224x224, fwd +
  loss + bwd + AdamW): fp32 eager, bf16 + channels_last eager, the same compiled; FLOPs from
  `torch.utils.flop_counter`, so each variant's model-FLOP utilisation against the dense matmul rate measured in
  the same rounds.
- `shared encoder`: the benchmarks' shared-encoder case at 224 (infer_vs_naive at strides 8 and 4).
- `frame cache`: the benchmarks' frame-cache case with the training step on the device (loader_vs_step: does the
  GPU wait on data).
Without CUDA it runs on the CPU (use --quick there: the full sizes take hours).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

# `benchmarks` is the checkout's top-level package (its harness and cases), not installed with `lab`: this script
# runs from the checkout it lives in.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks import timing as bench  # noqa: E402
from benchmarks.cache import bench_frame_cache  # noqa: E402
from benchmarks.convlstm import FULL_MAPS, HIDDEN, QUICK_MAPS, _strict_fp32, bench_convlstm_vs_naive  # noqa: E402
from benchmarks.inference import bench_shared_encoder  # noqa: E402
from benchmarks.reference import NaiveConvLSTM  # noqa: E402
from _jsonl import Rows  # noqa: E402  (beside this script)
from lab.config import load_config  # noqa: E402
from lab.models.classifier import build_model  # noqa: E402
from lab.models.convlstm import ConvLSTM  # noqa: E402
from lab.runtime.device import Precision, prepare_model  # noqa: E402

out: Path
rows: Rows
quick = False
compile_step = True
dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
sizes = bench.FULL
side, steps, batch = 224, 16, 8
MM = 8192


def log_rows(name, found, **extra):
    for r in found:
        rows.log(part=name, **extra, **r)


def convlstm(precision):
    def go():
        ctx = torch.autocast("cuda", dtype=torch.bfloat16) if precision == "bf16" else torch.autocast("cuda", enabled=False)
        with ctx:
            found = bench_convlstm_vs_naive(dev, quick, sizes.lstm_batch, sizes.lstm_steps, 9, bench.interleaved,
                                            bench.row)
        log_rows("convlstm_vs_naive", found, precision=precision)
    return go


def convlstm_variants():
    """ConvLSTM vs concat at the seed model's shapes, fwd+bwd, same weights, fp32 (TF32 off) and bf16 autocast:
    ours with the input convolution batched over T or one concat convolution per step, then both layers captured
    as CUDA graphs (`torch.cuda.make_graphed_callables`: forward and backward replayed without the host issuing
    each kernel)."""
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
            rows.log(part="convlstm_variants", precision=precision, shape=f"{side}x{side} C_in {channels}", **errors,
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
    if not compile_step:
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
        rows.log(part="seed_step_first_call", variant=name, seconds=time.perf_counter() - t0)
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
    rows.log(part="matmul_peak", bf16_tflops=peak["bf16"] / 1e12, tf32_tflops=peak["tf32"] / 1e12, side=MM)
    for name in variants:
        achieved = model_flops / t[name]
        rows.log(part="seed_train_step", variant=name, shape=f"B{batch} T{steps} {side}x{side}", ms=t[name] * 1e3,
            clips_per_s=batch / t[name], step_gflop=model_flops / 1e9, tflops=achieved / 1e12,
            mfu_vs_bf16_matmul=achieved / peak["bf16"], mfu_vs_tf32_matmul=achieved / peak["tf32"],
            flops_counted_fp32_vs_bf16=flops.get(name, model_flops) / model_flops)


def shared():
    with tempfile.TemporaryDirectory() as tmp:
        video = bench.synthetic_video(Path(tmp) / "share" / "real" / "video.mp4", sizes.share_frames)
        log_rows("shared_encoder", bench_shared_encoder(dev, sizes.gpu_side, sizes.share_steps, sizes.share_frames,
                                                    sizes.share_repeats + 2, video, bench.interleaved, bench.row))


def cache():
    with tempfile.TemporaryDirectory() as tmp:
        log_rows("frame_cache", bench_frame_cache([dev], quick, Path(tmp), bench.interleaved, bench.row))


PARTS = {"convlstm variants": convlstm_variants, "convlstm fp32": convlstm("fp32"), "convlstm bf16": convlstm("bf16"),
         "seed step": seed_step, "shared encoder": shared, "frame cache": cache}


def main() -> None:
    global out, rows, quick, compile_step, sizes, side, steps, batch, MM
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], allow_abbrev=False)
    ap.add_argument("out", type=Path, help="folder for gpu.jsonl (created; rows are appended)")
    ap.add_argument("--parts", nargs="+", choices=list(PARTS), default=list(PARTS), metavar="PART",
                    help=f"parts to run, in this order (default: all of {', '.join(PARTS)})")
    ap.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run, not a measurement")
    ap.add_argument("--no-compile", action="store_true", help="seed step: leave out the torch.compile variant")
    args = ap.parse_args()
    out, quick, compile_step = args.out, args.quick, not args.no_compile
    rows = Rows(out / "gpu.jsonl")
    if quick:
        sizes, (side, steps, batch), MM = bench.QUICK, (32, 4, 2), 1024
    rows.log(part="machine", **bench.machine_info(), gpu=torch.cuda.get_device_name(0) if dev.type == "cuda" else None)
    for name in args.parts:
        rows.part(name, PARTS[name])


if __name__ == "__main__":
    main()
