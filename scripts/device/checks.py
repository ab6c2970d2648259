"""GPU path checks at the seed model's size. usage: checks.py OUTDIR [quick]
Each part is independent; results are appended to OUTDIR/checks.jsonl as they come."""
import json
import sys
import time
import traceback
from pathlib import Path

import torch
import torch.nn.functional as F

from benchmarks import timing as bench
from lab.config import load_config
from lab.models.classifier import build_model
from lab.runtime.device import Precision, prepare_model

out = Path(sys.argv[1])
phase = sys.argv[2]  # eager | compile | fit
quick = len(sys.argv) > 3
dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
sizes = bench.QUICK if quick else bench.FULL
side, steps, batch = (32, 4, 2) if quick else (224, 16, 8)


def log(**row):
    print(json.dumps(row), flush=True)
    with open(out / "checks.jsonl", "a") as f:
        f.write(json.dumps(row) + "\n")


def part(name, fn):
    t0 = time.perf_counter()
    try:
        fn()
        log(part=name, ok=True, seconds=round(time.perf_counter() - t0, 1))
    except Exception as e:
        traceback.print_exc()
        log(part=name, ok=False, error=f"{type(e).__name__}: {e}"[:400], seconds=round(time.perf_counter() - t0, 1))


def bench_rows():
    for fn in (bench.bench_gpu_forward, bench.bench_convlstm_input, bench.bench_train_step):
        if fn is bench.bench_gpu_forward and dev.type != "cuda":
            continue
        for r in fn(dev, sizes):
            log(part="bench", **{k: (round(v, 3) if isinstance(v, float) else str(v)) for k, v in r.items()})


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
        log(part="seed_step_first_call", variant=name, first_call_s=round(first, 2), peak_gib=round(peak, 2))
        fns[name] = step
    t = bench.interleaved(fns, 3 if quick else 9, dev)
    for name, s in t.items():
        log(part="seed_train_step", variant=name, shape=f"B{batch} T{steps} {side}x{side}", ms=round(s * 1e3, 1),
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
    log(part="seed_fit", seconds=round(time.perf_counter() - t0, 1), best_epoch=res.best_epoch,
        history=res.history.round(4).to_dict(orient="records"))
    model, cfg2, ck = load_model(res.best_path, device=dev)
    conv = next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d))
    log(part="seed_load", channels_last=conv.weight.is_contiguous(memory_format=torch.channels_last),
        cudnn_benchmark=torch.backends.cudnn.benchmark)
    ev = evaluate_split(model, cfg2, root / "test", dev, threshold=ck["threshold"], precision=Precision.choose(dev, True),
                        progress=False)
    log(part="seed_eval", clip_auc=ev.metrics["clip"]["roc_auc"], n=len(ev.videos))
    video = next((root / "test").rglob("*.mp4"))
    pred = predict(video, model, cfg2, threshold=ck["threshold"], device=dev, precision=Precision.choose(dev, True))
    log(part="seed_predict", video=video.name, prob_fake=round(pred.prob_fake, 4), label=pred.label, windows=len(pred.windows))


log(part="machine", phase=phase, **bench.machine_info())
if phase == "eager":
    part("bench_rows", bench_rows)
    part("seed_train_step", lambda: seed_train_step({"fp32": (False, False, False), "bf16": (True, False, False),
                                                     "bf16+channels_last": (True, True, False)}))
elif phase == "fit":  # alone: the training loop's CUDA path (jitter on the device, compiled validation)
    part("seed_fit_end_to_end", seed_fit_end_to_end)
else:  # runs beside the sweep: the ratio is side by side in one process, but the GPU and CPUs are shared
    part("seed_train_step", lambda: seed_train_step({"bf16+channels_last": (True, True, False),
                                                     "bf16+channels_last+compile": (True, True, not quick)}))
    part("seed_fit_end_to_end", seed_fit_end_to_end)
