"""`lab bench`: the fast paths against their baselines, measured side by side in one run and reported as ratios.

Each comparison runs its two variants interleaved (one warm-up call each, then rounds A B, B A, ...) and keeps
the median, so drift on a shared machine falls on both alike. Absolute numbers describe this machine; read
the ratios. Speed targets live here, never in timed unit tests. `quick=True` is a smoke run, not a measurement.
"""
from __future__ import annotations

import copy
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections import deque
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import cv2
import pandas as pd
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from lab.config import Config, load_config
from lab.data.dataset import FrameSequenceDataset, build_dataset
from lab.cli.bench_cache import CASE as CACHE_CASE, bench_frame_cache
from lab.cli.bench_checkpoint import bench_checkpoint_write
from lab.cli.bench_compress import (CASES as COMPRESS_CASES, FULL as COMPRESS_FULL, QUICK as COMPRESS_QUICK,
                                    bench_int8, bench_train_flops)
from lab.cli.bench_convlstm import CASE as CONVLSTM_CASE, bench_convlstm_vs_naive
from lab.cli.bench_faces import CASE as FACE_CASE, bench_face_detectors
from lab.cli.bench_inference import CASES as INFERENCE_CASES, bench_onnx, bench_shared_encoder
from lab.cli.demo import DEMO_CONFIGS
from lab.runtime.device import Precision, prepare_model
from lab.evaluation.evaluate import score_loader
from lab.inference.infer import predict
from lab.models.classifier import build_model
from lab.models.convlstm import ConvLSTM
from lab.data.synth import SynthSpec, generate, render_video
from lab.data.transforms import build_transform
from lab.data.video import write_video

COLUMNS = ("case", "setting", "device", "a", "b", "unit", "a_value", "b_value", "ratio", "ratio_is", "key")
# ratio_is "speed-up": how many times faster b is than a (a_ms / b_ms, or b_rate / a_rate); "b / a": plain quotient.
# key: the row's name in bench.json's flat `ratios` (None: not a headline ratio). Rows sharing a key (one per
# shape or device) report the worst: the smallest speed-up, or the largest "b / a" (a growth or a cost).
CASES = ("convlstm input conv", "video prediction", "prediction memory", "training loader", "training step",
         "gpu forward", "checkpoint write", "face detector", "shared encoder", "onnx runtime", "int8 onnx",
         "train flops", "frame cache", CONVLSTM_CASE)
assert CASES[8:10] == INFERENCE_CASES and CASES[7] == FACE_CASE and CASES[10:12] == COMPRESS_CASES
assert CASES[12] == CACHE_CASE
# (map side, C_in) fed to the ConvLSTM: resnet18's stage widths where a 224 input (7, 14, 28) or the demo's
# 32 input (4) ends at that size, as in the measurements quoted in lab/model.py.
LSTM_MAPS = ((4, 128), (7, 512), (14, 256), (28, 128))
LSTM_HIDDEN = 64
VIDEO_SIDE = 64
MEMORY_FPS = 25  # the memory case's videos: 10 s and 60 s of 25 fps (full run)


@dataclass(frozen=True)
class Sizes:
    repeats: int  # interleaved rounds per comparison; the median is kept
    lstm_batch: int
    lstm_steps: int
    video_frames: int  # the streaming case's video
    memory_frames: tuple[int, int]  # the memory case's two videos (10 s and 60 s at MEMORY_FPS in the full run)
    loader_videos: int  # per class, in the synthetic train split the loader case reads
    train_batch: int
    gpu_side: int  # frame side of the full-size model in the GPU-only forward case
    gpu_steps: int
    ckpt_side: int  # the checkpoint case's seed-model step on CPU (CUDA uses gpu_side)
    ckpt_batch: int
    ckpt_repeats: int
    face_frames: int  # carphone frames the face detectors run on (all 120 in the full run)
    share_side: int  # the shared-encoder case: seed model input side on CPU (CUDA uses gpu_side), ...
    share_steps: int  # ... window length, ...
    share_frames: int  # ... video length ...
    share_repeats: int  # ... and rounds (the seed model at 224 is seconds per video on 2 cores)


FULL = Sizes(repeats=11, lstm_batch=2, lstm_steps=16, video_frames=96, memory_frames=(250, 1500), loader_videos=32,
             train_batch=8, gpu_side=224, gpu_steps=16, ckpt_side=112, ckpt_batch=8, ckpt_repeats=3, face_frames=120,
             share_side=224, share_steps=16, share_frames=48, share_repeats=3)
QUICK = Sizes(repeats=3, lstm_batch=1, lstm_steps=4, video_frames=24, memory_frames=(16, 96), loader_videos=2,
              train_batch=2, gpu_side=64, gpu_steps=4, ckpt_side=32, ckpt_batch=1, ckpt_repeats=1, face_frames=12,
              share_side=32, share_steps=8, share_frames=16, share_repeats=1)


# ------------------------------------------------------------------------------------------------ timing


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def interleaved(variants: dict[str, Callable[[], object]], repeats: int,
                device: torch.device = torch.device("cpu")) -> dict[str, float]:
    """Median seconds per call of each variant: a warm-up call each, then `repeats` rounds whose order
    alternates (A B, B A, ...), so neither variant always runs second on a warmed cache."""
    for fn in variants.values():
        fn()
    times: dict[str, list[float]] = {name: [] for name in variants}
    names = list(variants)
    for round_ in range(repeats):
        for name in names if round_ % 2 == 0 else names[::-1]:
            _sync(device)
            t0 = time.perf_counter()
            variants[name]()
            _sync(device)
            times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(ts) for name, ts in times.items()}


def _row(case: str, setting: str, device: torch.device | str, a: str, b: str, unit: str, a_value: float,
         b_value: float, ratio_is: str = "speed-up", key: str | None = None) -> dict:
    if ratio_is == "speed-up":
        ratio = a_value / b_value if unit in ("ms", "s") else b_value / a_value
    else:
        ratio = b_value / a_value
    return dict(zip(COLUMNS, (case, setting, str(device), a, b, unit, a_value, b_value, ratio, ratio_is, key)))


def headline_ratios(table: pd.DataFrame) -> dict[str, float]:
    """bench.json's flat `ratios`: one number per row key, the worst of the rows that share it (see COLUMNS)."""
    out: dict[str, float] = {}
    for key, rows in table.dropna(subset=["key"]).groupby("key", sort=False):
        out[str(key)] = float(rows["ratio"].min() if (rows["ratio_is"] == "speed-up").all() else rows["ratio"].max())
    return out


def _demo_config(*overrides: str) -> Config:
    """The demo model and data settings (what `make demo` trains), with ImageNet weights off."""
    return load_config(*DEMO_CONFIGS, overrides=["model.pretrained=false", "device=cpu", *overrides])


# ------------------------------------------------------------------------------------------------- cases


def bench_convlstm_input(device: torch.device, sizes: Sizes) -> list[dict]:
    """1. `ConvLSTM.input_conv` over all T frames at once vs inside the time loop, forward + backward."""
    rows = []
    for side, channels in LSTM_MAPS:
        torch.manual_seed(0)
        lstm = ConvLSTM(channels, LSTM_HIDDEN, kernel_size=3).to(device)
        x = torch.randn(sizes.lstm_batch, sizes.lstm_steps, channels, side, side, device=device, requires_grad=True)

        def step(max_pixels: int) -> Callable[[], None]:
            def run() -> None:
                lstm.batched_input_max_pixels = max_pixels  # 0: always the loop; maxsize: always batched
                lstm.zero_grad(set_to_none=True)
                x.grad = None
                lstm(x)[0].sum().backward()
            return run

        t = interleaved({"loop": step(0), "batched": step(sys.maxsize)}, sizes.repeats, device)
        setting = (f"{side}x{side} C_in {channels}, hidden {LSTM_HIDDEN}, B={sizes.lstm_batch} "
                   f"T={sizes.lstm_steps}, fwd+bwd")
        rows.append(_row(CASES[0], setting, device, "step by step in the loop", "batched over T", "ms",
                         t["loop"] * 1e3, t["batched"] * 1e3))
    return rows


def synthetic_video(path: Path, frames: int, seed: int = 0, fps: float = 12.0) -> Path:
    """A synthetic real video of `frames` 64x64 frames, encoded mp4v with OpenCV."""
    return write_video(path, render_video(seed, family=None, frames=frames, height=VIDEO_SIDE, width=VIDEO_SIDE), fps)


STREAM_OVERRIDES = ("sequence.length=8", "sequence.stride=2")  # heavy overlap: each frame is in 4 windows
MEMORY_OVERRIDES = ("sequence.length=8", "sequence.stride=4")  # each frame in 2 windows: a 60 s video stays cheap


def bench_streaming(device: torch.device, sizes: Sizes, video: Path) -> list[dict]:
    """2. `predict` (each frame decoded and transformed once, shared by its windows) vs a loader that decodes
    and transforms every window on its own; `video` lies alone under a folder's real/."""
    cfg = _demo_config(*STREAM_OVERRIDES)
    torch.manual_seed(cfg.seed)
    model = build_model(cfg.model).to(device).eval()
    transform = build_transform(cfg.image, cfg.augmentation, train=False)
    windows = {}

    def streaming() -> None:
        # share_encoder=False: this case measures sharing decoded frames; sharing encoder maps is case 8
        windows["streaming"] = len(predict(video, model, cfg, device=device, share_encoder=False).windows)

    def per_window() -> None:
        with warnings.catch_warnings():  # "no fake items": true and expected for a one-video root
            warnings.simplefilter("ignore")
            ds = FrameSequenceDataset(video.parent.parent, cfg.sequence.length, cfg.sequence.stride, transform)
        loader = DataLoader(ds, batch_size=cfg.inference.batch_size, shuffle=False)
        windows["per window"] = len(score_loader(model, loader, device, progress=False).probs)

    t = interleaved({"per window": per_window, "streaming": streaming}, sizes.repeats, device)
    if windows["per window"] != windows["streaming"]:
        raise RuntimeError(f"the two paths scored different windows: {windows}")
    setting = (f"{sizes.video_frames} frames {VIDEO_SIDE}x{VIDEO_SIDE} mp4v, T={cfg.sequence.length} stride "
               f"{cfg.sequence.stride} ({windows['streaming']} windows, batch {cfg.inference.batch_size}), "
               f"{cfg.image.height}x{cfg.image.width} model input, untrained demo model")
    n = sizes.video_frames
    return [_row(CASES[1], setting, device, "per-window loader", "streaming predict", "frames/s",
                 n / t["per window"], n / t["streaming"])]


def memory_probe(short: str, long: str) -> dict[str, float]:
    """Peak memory of `predict` on a short then a long video, meant for a fresh process (`bench_memory`).

    rss_*: ru_maxrss (the process's peak resident set, MiB) after each video; traced_*: tracemalloc's peak
    during each call (Python objects and numpy buffers such as decoded frames; torch's CPU allocator is not
    traced, which is why the RSS pair is there too).
    """
    import resource
    import tracemalloc

    torch.set_num_threads(1)  # it measures memory; one thread spares a loaded 2-core machine the spinning
    cfg = _demo_config(*MEMORY_OVERRIDES)
    torch.manual_seed(cfg.seed)
    model = build_model(cfg.model).eval()
    per_mib = 2 ** 20 if sys.platform == "darwin" else 2 ** 10  # ru_maxrss: bytes on macOS, KiB on Linux

    def rss() -> float:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / per_mib

    predict(short, model, cfg)  # warm-up: lazy initialisation (codecs, kernels) is not growth
    out = {"rss_warm": rss()}
    for name, path in (("short", short), ("long", long)):
        predict(path, model, cfg)
        out[f"rss_{name}"] = rss()
    for name, path in (("short", short), ("long", long)):
        tracemalloc.start()
        predict(path, model, cfg)
        out[f"traced_{name}"] = tracemalloc.get_traced_memory()[1] / 2 ** 20
        tracemalloc.stop()
    return out


def bench_memory(sizes: Sizes, short: Path, long: Path) -> list[dict]:
    """2b. Does prediction's memory grow with the video's length (10 s against 60 s of 25 fps video in the full
    run, key rss_60s_vs_10s)? Measured in a fresh process, so the peaks of the other cases do not hide it."""
    code = f"import json, lab.cli.bench as b; print(json.dumps(b.memory_probe({str(short)!r}, {str(long)!r})))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"memory probe failed:\n{proc.stderr}")
    m = json.loads(proc.stdout.strip().splitlines()[-1])
    n_short, n_long = sizes.memory_frames
    a, b = (f"{n} frames ({n / MEMORY_FPS:.3g} s)" for n in (n_short, n_long))
    return [
        _row(CASES[2], f"tracemalloc peak during one predict call (Python objects + numpy frame buffers): "
                       f"{(m['traced_long'] - m['traced_short']) * 2 ** 20 / (n_long - n_short):.0f} bytes per "
                       "extra frame", "cpu", a, b, "MiB", m["traced_short"], m["traced_long"], "b / a"),
        _row(CASES[2], f"ru_maxrss of a fresh process after the short, then the long video: "
                       f"{m['rss_long'] - m['rss_short']:+.1f} MiB (most of it is the imported libraries)", "cpu",
             a, b, "MiB", m["rss_short"], m["rss_long"], "b / a", key="rss_60s_vs_10s"),
    ]


def bench_loader(sizes: Sizes, root: Path) -> list[dict]:
    """3. Training-transform DataLoader throughput, 0 vs 2 worker processes (persistent, as in training)."""
    cfg = _demo_config()
    generate(root, SynthSpec(train=sizes.loader_videos, val=0, test=0), overwrite=True)
    ds = build_dataset(root / "train", cfg.sequence, cfg.image, cfg.augmentation, train=True)
    loaders = {n: DataLoader(ds, batch_size=cfg.training.batch_size, shuffle=True, num_workers=n,
                             persistent_workers=n > 0) for n in (0, 2)}
    t = interleaved({f"{n} workers": lambda n=n: deque(loaders[n], maxlen=0) for n in loaders}, sizes.repeats)
    del loaders  # stops the worker processes
    setting = (f"{len(ds)} windows/epoch of T={cfg.sequence.length} from {len(ds.items)} synthetic "
               f"{VIDEO_SIDE}x{VIDEO_SIDE} items (mp4/jpg/png), train transform to "
               f"{cfg.image.height}x{cfg.image.width}, batch {cfg.training.batch_size}, full epochs")
    return [_row(CASES[3], setting, "cpu", "num_workers 0", "num_workers 2", "windows/s",
                 len(ds) / t["0 workers"], len(ds) / t["2 workers"])]


def bench_train_step(device: torch.device, sizes: Sizes) -> list[dict]:
    """4. One training step of the demo model (forward + loss + backward, no optimizer step), ConvLSTM vs the
    frame-only baseline: the cost of modelling time. Precision and memory format as `lab.training.loop` uses them."""
    cfg = _demo_config()
    precision = Precision.choose(device, cfg.training.amp)
    torch.manual_seed(cfg.seed)
    clips = torch.randn(sizes.train_batch, cfg.sequence.length, 3, cfg.image.height, cfg.image.width, device=device)
    labels = torch.arange(sizes.train_batch, device=device) % 2
    models = {name: prepare_model(build_model(cfg.replace(f"model.temporal={name}").model), device,
                                  channels_last=cfg.training.channels_last, compile=False).train()
              for name in ("frame", "convlstm")}

    def step(name: str) -> Callable[[], None]:
        def run() -> None:
            models[name].zero_grad(set_to_none=True)
            with precision.autocast():
                loss = F.cross_entropy(models[name](clips), labels)
            loss.backward()
        return run

    t = interleaved({name: step(name) for name in models}, sizes.repeats, device)
    setting = (f"demo model, batch {sizes.train_batch} x T={cfg.sequence.length} at "
               f"{cfg.image.height}x{cfg.image.width}, {precision}, fwd+loss+bwd (b / a = cost of time modelling)")
    return [_row(CASES[4], setting, device, "frame-only", "ConvLSTM", "ms", t["frame"] * 1e3,
                 t["convlstm"] * 1e3, "b / a")]


def bench_gpu_forward(device: torch.device, sizes: Sizes) -> list[dict]:
    """5. CUDA only: the full-size seed model's forward pass, autocast vs fp32 and channels_last vs contiguous."""
    side, steps = sizes.gpu_side, sizes.gpu_steps
    cfg = load_config(DEMO_CONFIGS[0], "config/model_config.yaml", overrides=[
        "model.pretrained=false", f"image.height={side}", f"image.width={side}", f"sequence.length={steps}"])
    torch.manual_seed(cfg.seed)
    contiguous = prepare_model(build_model(cfg.model), device, channels_last=False, compile=False).eval()
    channels_last = prepare_model(copy.deepcopy(contiguous), device, channels_last=True, compile=False).eval()
    clips = torch.randn(8, steps, 3, side, side, device=device)
    fp32, amp = Precision(device.type, None), Precision.choose(device, amp=True)

    def forward(model: torch.nn.Module, precision: Precision) -> Callable[[], None]:
        def run() -> None:
            with torch.no_grad(), precision.autocast():
                model(clips)
        return run

    where = (f"{cfg.model.backbone} + ConvLSTM {list(cfg.model.convlstm.hidden_channels)}, batch 8 x T={steps} "
             f"at {side}x{side}, forward")
    t = interleaved({"fp32": forward(contiguous, fp32), "amp": forward(contiguous, amp)}, sizes.repeats, device)
    u = interleaved({"contiguous": forward(contiguous, amp), "channels_last": forward(channels_last, amp)},
                    sizes.repeats, device)
    # "fp32" is PyTorch's default: cuDNN runs the convolutions in TF32 (torch.backends.cudnn.allow_tf32).
    tf32 = " (TF32 convolutions)" if torch.backends.cudnn.allow_tf32 else ""
    return [_row(CASES[5], f"{where}, contiguous", device, f"fp32{tf32}", f"autocast {amp}", "ms",
                 t["fp32"] * 1e3, t["amp"] * 1e3),
            _row(CASES[5], f"{where}, autocast {amp}", device, "contiguous", "channels_last", "ms",
                 u["contiguous"] * 1e3, u["channels_last"] * 1e3)]


# ------------------------------------------------------------------------------------------------ driver


def machine_info() -> dict:
    cuda = torch.cuda.is_available()
    return {"torch": torch.__version__, "python": platform.python_version(), "platform": platform.platform(),
            "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(), "opencv": cv2.__version__,
            "devices": ["cpu"] + ([torch.cuda.get_device_name(0)] if cuda else []),
            "cuda": torch.version.cuda if cuda else None}


def run_bench(quick: bool = False, out_dir: str | Path = "reports/bench") -> pd.DataFrame:
    """Run every case (the CUDA variants too when a GPU is present), write `bench.md` and `bench.json` to
    `out_dir`, and return the table (one row per comparison, columns `COLUMNS`)."""
    sizes = QUICK if quick else FULL
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    started = time.perf_counter()
    rows: list[dict] = []

    def run(label: str, fn: Callable[[], list[dict]]) -> None:
        t0 = time.perf_counter()
        rows.extend(fn())
        print(f"[bench] {label}: {time.perf_counter() - t0:.1f}s", file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory(prefix="lab-bench-") as tmp:
        work = Path(tmp)
        short = synthetic_video(work / "one" / "real" / "video.mp4", sizes.video_frames)
        ten, sixty = (synthetic_video(work / f"memory{n}" / "real" / "video.mp4", n, fps=MEMORY_FPS)
                      for n in sizes.memory_frames)
        for device in devices:
            run(f"{CASES[0]} ({device})", lambda: bench_convlstm_input(device, sizes))
            run(f"{CASES[1]} ({device})", lambda: bench_streaming(device, sizes, short))
            run(f"{CONVLSTM_CASE} ({device})", lambda: bench_convlstm_vs_naive(
                device, quick, sizes.lstm_batch, sizes.lstm_steps, min(sizes.repeats, 5), interleaved, _row))
            # (5 rounds: at 56x56 one forward+backward is seconds on 2 cores)
        run(CASES[2], lambda: bench_memory(sizes, ten, sixty))
        run(CASES[3], lambda: bench_loader(sizes, work / "synth"))
        for device in devices:
            run(f"{CASES[4]} ({device})", lambda: bench_train_step(device, sizes))
        if torch.cuda.is_available():
            run(CASES[5], lambda: bench_gpu_forward(devices[-1], sizes))
        for device in devices:
            side = sizes.gpu_side if device.type == "cuda" else sizes.ckpt_side
            run(f"{CASES[6]} ({device})", lambda: bench_checkpoint_write(
                device, side, sizes.gpu_steps, sizes.ckpt_batch, sizes.ckpt_repeats, interleaved, _row))
        run(CASES[7], lambda: bench_face_detectors(sizes.face_frames, max(3, sizes.repeats // 3), interleaved, _row))
        share = synthetic_video(work / "share" / "real" / "video.mp4", sizes.share_frames)
        for device in devices:
            run(f"{CASES[8]} ({device})", lambda: bench_shared_encoder(
                device, sizes.gpu_side if device.type == "cuda" else sizes.share_side, sizes.share_steps,
                sizes.share_frames, sizes.share_repeats, share, interleaved, _row))
        run(CASES[9], lambda: bench_onnx(sizes.ckpt_side, sizes.gpu_steps, sizes.repeats, work, _demo_config(),
                                         interleaved, _row))
        small = COMPRESS_QUICK if quick else COMPRESS_FULL  # case 10 reuses case 9's graphs, case 3's data
        run(CASES[10], lambda: bench_int8(work, work / "synth" / "train", small.int8_windows, sizes.repeats,
                                          interleaved, _row, small.int8_scopes))
        run(CASES[11], lambda: bench_train_flops(small.flops_side, small.flops_steps, small.flops_batch,
                                                 small.flops_repeats, interleaved, _row, small.matmul_side))
        run(CACHE_CASE, lambda: bench_frame_cache(devices, quick, work, interleaved, _row))
    table = pd.DataFrame(rows, columns=list(COLUMNS))
    meta = {"machine": machine_info(), "quick": quick, "sizes": asdict(sizes), "seconds": time.perf_counter() - started,
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "method": f"interleaved rounds (A B, B A, ...) after one warm-up call each, median of {sizes.repeats}; "
                      "torch threads left at the default"}
    write_report(table, meta, out_dir)
    return table


def format_table(table: pd.DataFrame) -> str:
    """The table as aligned text, numbers to 4 significant digits and ratios with an x."""
    shown = table.assign(a_value=table["a_value"].map("{:.4g}".format), b_value=table["b_value"].map("{:.4g}".format),
                         ratio=table["ratio"].map("{:.2f}x".format))
    return shown.drop(columns="setting").to_string(index=False) + "\n\nsettings:\n" + "\n".join(
        f"  {i}. {row.case} ({row.device}): {row.setting}" for i, row in enumerate(table.itertuples(), start=1))


def write_report(table: pd.DataFrame, meta: dict, out_dir: str | Path) -> Path:
    """`bench.json` (machine, sizes and rows) and `bench.md` (the same, readable) in `out_dir`."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ratios = headline_ratios(table)
    (out / "bench.json").write_text(json.dumps({**meta, "ratios": ratios, "rows": table.to_dict("records")},
                                               indent=2) + "\n")
    m = meta["machine"]
    lines = ["# `lab bench`", "",
             f"{meta['date']}, {'quick (smoke sizes)' if meta['quick'] else 'full'} run, {meta['seconds']:.0f}s. "
             f"torch {m['torch']}, {m['cpu_count']} CPUs ({m['torch_threads']} torch threads), "
             f"devices: {', '.join(m['devices'])}. Python {m['python']}, OpenCV {m['opencv']}, {m['platform']}.", "",
             f"Method: {meta['method']}. Ratio `speed-up` = how many times faster b is than a; `b / a` = the plain "
             "quotient (for the training step: the cost of the ConvLSTM over the frame-only model; for memory: "
             "the growth from the short to the long video).", "",
             "| case | device | a | b | unit | a value | b value | ratio | ratio is | setting |",
             "|---|---|---|---|---|---:|---:|---:|---|---|"]
    lines += [f"| {r.case} | {r.device} | {r.a} | {r.b} | {r.unit} | {r.a_value:.4g} | {r.b_value:.4g} | "
              f"{r.ratio:.2f}x | {r.ratio_is} | {r.setting} |" for r in table.itertuples()]
    if ratios:
        lines += ["", "Headline ratios (bench.json `ratios`; the worst row where several share a key):", "",
                  "| key | ratio |", "|---|---:|"] + [f"| `{k}` | {v:.2f}x |" for k, v in ratios.items()]
    (out / "bench.md").write_text("\n".join(lines) + "\n")
    return out / "bench.md"
