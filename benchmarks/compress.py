"""Benchmark cases for compression and compute efficiency: the INT8 ONNX graph (`lab export --onnx --int8`)
against the fp32 one, and the training step's achieved FLOP/s against this machine's dense matmul FLOP/s.
`interleaved` and `row` are `benchmarks.timing`'s timer and row builder."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from lab.config import load_config
from lab.models.classifier import build_model

CASES = ("int8 onnx", "train flops")
MATMUL_SIDE = 2048  # square fp32 matrices: large enough for the BLAS's peak on a CPU, 48 MiB in all


@dataclass(frozen=True)
class CompressSizes:
    int8_windows: int  # calibration windows
    int8_scopes: tuple[str, ...]  # which convolutions are quantised, one row each
    flops_side: int  # the seed model's training step: frame side, window length, batch, rounds
    flops_steps: int
    flops_batch: int
    flops_repeats: int
    matmul_side: int


FULL = CompressSizes(int8_windows=16, int8_scopes=("encoder", "all"), flops_side=112, flops_steps=16, flops_batch=2,
                     flops_repeats=3, matmul_side=MATMUL_SIDE)
QUICK = CompressSizes(int8_windows=2, int8_scopes=("encoder",), flops_side=32, flops_steps=4, flops_batch=1,
                      flops_repeats=1, matmul_side=512)


def bench_int8(work: Path, calibration_dir: Path, windows: int, repeats: int, interleaved, row,
               scopes: tuple[str, ...] = ("encoder", "all"),
               models: tuple[str, ...] = ("demo model", "seed model")) -> list[dict]:
    """fp32 ONNX vs INT8 ONNX (static QDQ, per-channel int8 weights, calibrated on `windows` windows of
    `calibration_dir`), one clip per call, for the checkpoints and graphs the "onnx runtime" case left in `work`
    (`<name>.pth/.onnx` for each of `models`): INT8 on the encoder's convolutions (the default) and on every
    convolution. The weights are random, so only the speed means something here; the AUC change of a
    trained model is in docs/results/compression.md (experiments/measure_int8.py)."""
    import onnxruntime as ort

    from lab.inference.export import ort_session
    from lab.inference.quantize import Int8Settings, calibration_clips, quantize_int8
    from lab.runtime.checkpoint import load_model

    rows = []
    for name in models:
        model, cfg, _ = load_model(work / f"{name}.pth")
        fp32 = (work / f"{name}.onnx").read_bytes()
        clips = calibration_clips(Int8Settings(calibration_dir, windows), cfg)
        sessions = {"fp32": ort_session(fp32)}
        for convs in scopes:
            sessions[convs] = ort_session(quantize_int8(fp32, clips, convs))
        clip = clips[0]
        probs = {k: torch.from_numpy(s.run(["logits"], {"clips": clip})[0]).softmax(-1)[0, 1].item()
                 for k, s in sessions.items()}
        for convs in scopes:
            t = interleaved({"fp32": lambda: sessions["fp32"].run(None, {"clips": clip}),
                             "int8": lambda c=convs: sessions[c].run(None, {"clips": clip})}, repeats)
            setting = (f"{name}, 1 clip of {cfg.sequence.length}x3x{cfg.image.height}x{cfg.image.width}, INT8 "
                       f"QDQ on the {'encoder' if convs == 'encoder' else 'encoder and ConvLSTM'} convolutions, "
                       f"calibrated on {len(clips)} windows, onnxruntime {ort.__version__}; random weights, "
                       f"|dP(fake)| {abs(probs[convs] - probs['fp32']):.1e} on one window")
            rows.append(row(CASES[0], setting, "cpu", "fp32 onnx", f"int8 onnx ({convs} convs)", "ms",
                            t["fp32"] * 1e3, t["int8"] * 1e3,
                            key="int8_vs_fp32" if name == "seed model" and convs == "encoder" else None))
    return rows


def train_step_flops(model: torch.nn.Module, clips: torch.Tensor, labels: torch.Tensor) -> int:
    """FLOPs of one training step (forward, cross-entropy, backward) as torch.utils.flop_counter counts them:
    matmuls and convolutions (2 per multiply-add), not the elementwise gate arithmetic."""
    model.zero_grad(set_to_none=True)
    with FlopCounterMode(display=False) as counter:
        F.cross_entropy(model(clips), labels).backward()
    return counter.get_total_flops()


def bench_train_flops(side: int, steps: int, batch: int, repeats: int, interleaved, row,
                      matmul_side: int = MATMUL_SIDE, overrides: tuple[str, ...] = ()) -> list[dict]:
    """Achieved FLOP/s of one CPU training step of the seed model (resnet18 + ConvLSTM [64, 128], default streams;
    `overrides` change it) at side x side, T=steps, over the FLOP/s of torch.mm on two fp32 matmul_side^2
    matrices, timed interleaved."""
    cfg = load_config("config/data_config.yaml", "config/model_config.yaml", overrides=[
        "model.pretrained=false", f"image.height={side}", f"image.width={side}", f"sequence.length={steps}",
        f"sequence.stride={steps}", *overrides])
    torch.manual_seed(cfg.seed)
    model = build_model(cfg.model).train()
    clips = torch.randn(batch, steps, 3, side, side)
    labels = torch.arange(batch) % 2
    flops = train_step_flops(model, clips, labels)
    a, b = torch.randn(matmul_side, matmul_side), torch.randn(matmul_side, matmul_side)

    def step() -> None:
        model.zero_grad(set_to_none=True)
        F.cross_entropy(model(clips), labels).backward()

    t = interleaved({"matmul": lambda: torch.mm(a, b), "step": step}, repeats)
    matmul_gflops = 2 * matmul_side ** 3 / t["matmul"] / 1e9
    step_gflops = flops / t["step"] / 1e9
    setting = (f"seed model, batch {batch} x T={steps} at {side}x{side}, fp32, fwd+loss+bwd = {flops / 1e9:.1f} "
               f"GFLOP (FlopCounterMode) in {t['step'] * 1e3:.0f} ms, against torch.mm {matmul_side}^2 fp32; "
               f"{torch.get_num_threads()} threads")
    return [row(CASES[1], setting, "cpu", "dense matmul", "training step", "GFLOP/s", matmul_gflops, step_gflops,
                "b / a", key="train_flops_fraction")]
