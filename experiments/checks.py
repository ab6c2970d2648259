"""The CUDA path checks of docs/results/gpu.md ("The CUDA training path end to end", and the seed step rows of "Seed
model training step"), at the seed model's size. Each part is independent; results are appended to
OUT/checks.jsonl as they come. On a CUDA machine, from the repository root (config/ is read from there):

    python experiments/checks.py OUT eager     # benchmark rows on the device, the seed step fp32 / bf16 / channels_last
    python experiments/checks.py OUT compile   # the seed step compiled, then the training loop end to end
    python experiments/checks.py OUT fit       # the training loop end to end alone (device jitter, compiled validation)

`--quick` shrinks everything to a smoke run (it also runs on a CPU).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

# `benchmarks` is the checkout's top-level package (its harness and cases), not installed with `lab`: this script
# runs from the checkout it lives in.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks import basic, timing as bench  # noqa: E402
from _jsonl import Rows  # noqa: E402  (beside this script)
from lab.config import load_config  # noqa: E402
from lab.models.classifier import build_model  # noqa: E402
from lab.runtime.device import Precision, prepare_model  # noqa: E402

out: Path
rows: Rows
phase = "eager"
quick = False
dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
sizes = bench.FULL
side, steps, batch = 224, 16, 8


def bench_rows():
    for fn in (basic.bench_gpu_forward, basic.bench_convlstm_input, basic.bench_train_step):
        if fn is basic.bench_gpu_forward and dev.type != "cuda":
            continue
        for r in fn(dev, sizes):
            rows.log(part="bench", **{k: (round(v, 3) if isinstance(v, float) else str(v)) for k, v in r.items()})


def seed_train_step(variants):
    """Seed model (resnet18 + ConvLSTM [64, 128]), batch x T at side^2: fwd + loss + bwd + AdamW step."""
    cfg = load_config("config/data_config.yaml", "config/model_config.yaml", overrides=[
        "model.pretrained=false", f"image.height={side}", f"image.width={side}", f"sequence.length={steps}", f"sequence.stride={steps // 2}"])
    clips = torch.randn(batch, steps, 3, side, side, device=dev)
    labels = torch.arange(batch, device=dev) % 2
    fns = {}
    for name, (amp, cl, comp) in variants.items():
        torch.manual_seed(0)
        model = prepare_model(build_model(cfg.model), dev, channels_last=cl, compile=comp).train()
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
        prec = Precision.choose(dev, amp)

        def step(model=model, opt=opt, prec=prec, cl=cl):
            x = clips
            opt.zero_grad(set_to_none=True)
            with prec.autocast():
                loss = F.cross_entropy(model(x), labels)
            loss.backward()
            opt.step()
        t0 = time.perf_counter()
        step()
        bench.sync(dev)
        first = time.perf_counter() - t0
        if dev.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
        step()
        bench.sync(dev)
        peak = torch.cuda.max_memory_allocated() / 2**30 if dev.type == "cuda" else float("nan")
        rows.log(part="seed_step_first_call", variant=name, first_call_s=round(first, 2), peak_gib=round(peak, 2))
        fns[name] = step
    t = bench.interleaved(fns, 3 if quick else 9, dev)
    for name, s in t.items():
        rows.log(part="seed_train_step", variant=name, shape=f"B{batch} T{steps} {side}x{side}", ms=round(s * 1e3, 1),
            clips_per_s=round(batch / s, 1), phase=phase, speedup_vs_first=round(t[next(iter(t))] / s, 2))


def seed_fit_end_to_end():
    """The real loop on CUDA: seed config at side^2, AMP + channels_last + compile, 2 epochs on a small synthetic
    set, then load_model + evaluate_split + predict on the device."""
    from lab.data.synth import SynthSpec, generate
    from lab.evaluation.evaluate import evaluate_split
    from lab.inference.infer import predict
    from lab.runtime.checkpoint import load_model
    from lab.training.loop import fit

    root = out / "synth224"
    frames = max(steps + 8, 24)
    generate(root, SynthSpec(train=8, val=4, test=4, frames=frames, height=side, width=side), overwrite=True)
    cfg = load_config("config/data_config.yaml", "config/model_config.yaml", overrides=[
        *(f"data.{s}_dir={root / s}" for s in ("train", "val", "test")), "model.pretrained=false",
        f"image.height={side}", f"image.width={side}", f"sequence.length={steps}", f"sequence.stride={steps // 2}", "training.epochs=2",
        "training.scheduler.warmup_epochs=1", f"training.compile={str(not quick).lower()}", "data.num_workers=4",
        f"device={dev.type}"])
    t0 = time.perf_counter()
    res = fit(cfg, run_name="seed224", checkpoint_dir=out / "ck_seed", log_dir=out / "logs_seed", progress=False,
              overwrite=True)
    rows.log(part="seed_fit", seconds=round(time.perf_counter() - t0, 1), best_epoch=res.best_epoch,
        history=res.history.round(4).to_dict(orient="records"))
    model, cfg2, ck = load_model(res.best_path, device=dev)
    conv = next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d))
    rows.log(part="seed_load", channels_last=conv.weight.is_contiguous(memory_format=torch.channels_last),
        cudnn_benchmark=torch.backends.cudnn.benchmark)
    ev = evaluate_split(model, cfg2, root / "test", dev, threshold=ck["threshold"], precision=Precision.choose(dev, True),
                        progress=False)
    rows.log(part="seed_eval", clip_auc=ev.metrics["clip"]["roc_auc"], n=len(ev.videos))
    video = next((root / "test").rglob("*.mp4"))
    pred = predict(video, model, cfg2, threshold=ck["threshold"], device=dev, precision=Precision.choose(dev, True))
    rows.log(part="seed_predict", video=video.name, prob_fake=round(pred.prob_fake, 4), label=pred.label, windows=len(pred.windows))


def main() -> None:
    global out, rows, phase, quick, sizes, side, steps, batch
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], allow_abbrev=False)
    ap.add_argument("out", type=Path, help="folder for checks.jsonl (created; rows are appended)")
    ap.add_argument("phase", choices=("eager", "compile", "fit"),
                    help="eager: benchmark rows and the seed step's precisions; compile: the seed step compiled, then "
                         "the training loop end to end; fit: the training loop end to end alone")
    ap.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run, not a measurement")
    args = ap.parse_args()
    out, phase, quick = args.out, args.phase, args.quick
    rows = Rows(out / "checks.jsonl")
    if quick:
        sizes, (side, steps, batch) = bench.QUICK, (32, 4, 2)
    rows.log(part="machine", phase=phase, **bench.machine_info())
    if phase == "eager":
        rows.part("bench_rows", bench_rows)
        rows.part("seed_train_step", lambda: seed_train_step({"fp32": (False, False, False), "bf16": (True, False, False),
                                                         "bf16+channels_last": (True, True, False)}))
    elif phase == "fit":  # alone: the training loop's CUDA path (jitter on the device, compiled validation)
        rows.part("seed_fit_end_to_end", seed_fit_end_to_end)
    else:  # the ratio is side by side in one process
        rows.part("seed_train_step", lambda: seed_train_step({"bf16+channels_last": (True, True, False),
                                                         "bf16+channels_last+compile": (True, True, not quick)}))
        rows.part("seed_fit_end_to_end", seed_fit_end_to_end)


if __name__ == "__main__":
    main()
