"""Benchmark cases for scoring: overlapping windows sharing encoder maps (`predict` and `lab eval`), and the ONNX export
(`lab export --onnx`) run by onnxruntime against eager PyTorch. Both models have random weights: speed does
not depend on them. `interleaved` and `row` are `benchmarks.timing`'s timer and row builder."""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from lab.config import load_config
from lab.data.dataset import build_dataset
from lab.inference.infer import predict
from lab.models.classifier import build_model
from lab.runtime.device import Precision, prepare_model
from lab.scoring.windows import score_dataset

CASES = ("shared encoder", "onnx runtime")


def bench_shared_encoder(device: torch.device, side: int, steps: int, frames: int, repeats: int, video: Path,
                         interleaved, row) -> list[dict]:
    """Scoring a `frames`-frame video with the seed model (resnet18 + ConvLSTM [64, 128], default streams) at
    side x side: each frame encoded once for all its windows (`predict`) vs the whole model re-run per window, at
    strides T/2 and T/4; then split evaluation (`score_dataset`, as `lab eval` runs it) of the same video at stride
    T/2, shared against a DataLoader running the whole model per window (fewer rounds: it is the slowest pair)."""
    cfg = load_config("config/data_config.yaml", "config/model_config.yaml", overrides=[
        "model.pretrained=false", f"image.height={side}", f"image.width={side}", f"sequence.length={steps}",
        f"sequence.stride={steps}"])
    torch.manual_seed(cfg.seed)
    model = prepare_model(build_model(cfg.model), device, channels_last=cfg.training.channels_last, compile=False).eval()
    precision = Precision.choose(device, cfg.training.amp)
    rows = []
    for stride in (steps // 2, steps // 4):
        run_cfg = cfg.replace(f"sequence.stride={stride}")
        scored = {}

        def score(share: bool) -> Callable[[], None]:
            def run() -> None:
                scored[share] = predict(video, model, run_cfg, device=device, precision=precision, share_encoder=share)
            return run

        t = interleaved({"per window": score(False), "shared": score(True)}, repeats, device)
        diff = max(abs(a["prob_fake"] - b["prob_fake"]) for a, b in zip(scored[True].windows, scored[False].windows))
        setting = (f"seed model, {frames} frames, T={steps} stride {stride} "
                   f"({len(scored[True].windows)} windows) at {side}x{side}, {precision}; max |dp| {diff:.1e}")
        rows.append(row(CASES[0], setting, device, "whole model per window", "encoder once per frame", "ms",
                        t["per window"] * 1e3, t["shared"] * 1e3,
                        key=f"infer_vs_naive_stride{stride}" if device.type == "cpu" else None))
    run_cfg = cfg.replace(f"sequence.stride={steps // 2}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "no fake items": true and expected for a one-video split
        ds = build_dataset(video.parent.parent, run_cfg.sequence, cfg.image, cfg.augmentation, train=False)
    probs = {}

    def evaluate(share: bool) -> Callable[[], None]:
        def run() -> None:
            probs[share] = score_dataset(model, ds, device, precision, batch_size=cfg.inference.batch_size,
                                         share_encoder=share, progress=False).probs
        return run

    t = interleaved({"per window": evaluate(False), "shared": evaluate(True)}, max(1, repeats - 2), device)
    setting = (f"seed model, evaluating a split of one {frames}-frame video, T={steps} stride {steps // 2} "
               f"({len(ds)} windows) at {side}x{side}, {precision}; max |dp| "
               f"{np.abs(probs[True] - probs[False]).max():.1e}")
    rows.append(row(CASES[0], setting, device, "DataLoader, whole model per window", "lab eval, encoder once per frame",
                    "ms", t["per window"] * 1e3, t["shared"] * 1e3))
    return rows


def bench_onnx(side: int, steps: int, repeats: int, work: Path, demo_cfg, interleaved, row,
               models: tuple[str, ...] = ("demo model", "seed model")) -> list[dict]:
    """CPU inference of the exported ONNX graph (`lab export --onnx`, onnxruntime) against eager PyTorch, for the
    demo model and the seed model at side x side, T=steps (random weights: speed does not depend on them), one
    clip per call; `models` picks among the two."""
    import onnxruntime as ort

    from lab.inference.export import export_onnx, ort_session
    from lab.runtime.checkpoint import load_model, save_checkpoint

    rows = []
    cases = {"demo model": demo_cfg,
             "seed model": load_config("config/data_config.yaml", "config/model_config.yaml", overrides=[
                 "model.pretrained=false", f"image.height={side}", f"image.width={side}", f"sequence.length={steps}",
                 f"sequence.stride={steps}"])}
    for name, cfg in ((name, cases[name]) for name in models):
        torch.manual_seed(cfg.seed)
        path = save_checkpoint(build_model(cfg.model).eval(), None, 0, work / f"{name}.pth", config=cfg)
        exported = export_onnx(path, work / f"{name}.onnx", overwrite=True)
        model = load_model(path)[0]
        session = ort_session(exported.path)
        clip = torch.randn(1, *exported.input_shape[1:])

        def eager() -> None:
            with torch.no_grad():
                model(clip, with_timeline=True)

        t = interleaved({"eager": eager, "onnx": lambda: session.run(None, {"clips": clip.numpy()})}, repeats)
        setting = (f"{name}, 1 clip of {cfg.sequence.length}x3x{cfg.image.height}x{cfg.image.width}, fp32, "
                   f"onnxruntime {ort.__version__}; max |d logit| {exported.max_abs_diff:.1e}")
        rows.append(row(CASES[1], setting, "cpu", "eager PyTorch", "onnxruntime", "ms", t["eager"] * 1e3,
                        t["onnx"] * 1e3, key="onnx_vs_eager" if name == "seed model" else None))
    return rows
