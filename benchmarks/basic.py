"""The benchmarks' first cases: the ConvLSTM's input convolution batched over T, streaming prediction, prediction
memory on a short and a long video, the training loader's workers, the ConvLSTM's cost over a frame-only model,
and the GPU forward's precision and memory format. Each returns rows built by `benchmarks.timing.row`."""
from __future__ import annotations

import copy
import json
import subprocess
import sys
import warnings
from collections import deque
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from benchmarks.timing import VIDEO_SIDE, Sizes, demo_config, interleaved, row
from lab.cli.demo import DEMO_CONFIGS
from lab.config import load_config
from lab.data.dataset import FrameSequenceDataset, build_dataset
from lab.data.synth import SynthSpec, generate
from lab.data.transforms import build_transform
from lab.inference.infer import predict
from lab.models.classifier import build_model
from lab.models.convlstm import ConvLSTM
from lab.runtime.device import Precision, prepare_model
from lab.scoring.windows import score_loader

CASES = ("convlstm input conv", "video prediction", "prediction memory", "training loader", "training step",
         "gpu forward")
# (map side, C_in) fed to the ConvLSTM: resnet18's stage widths where a 224 input (7, 14, 28) or the demo's
# 32 input (4) ends at that size.
LSTM_MAPS = ((4, 128), (7, 512), (14, 256), (28, 128))
LSTM_HIDDEN = 64
MEMORY_FPS = 25  # the memory case's videos: 10 s and 60 s of 25 fps (full run)



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
        rows.append(row(CASES[0], setting, device, "step by step in the loop", "batched over T", "ms",
                         t["loop"] * 1e3, t["batched"] * 1e3))
    return rows


STREAM_OVERRIDES = ("sequence.length=8", "sequence.stride=2")  # heavy overlap: each frame is in 4 windows
MEMORY_OVERRIDES = ("sequence.length=8", "sequence.stride=4")  # each frame in 2 windows: a 60 s video stays cheap


def bench_streaming(device: torch.device, sizes: Sizes, video: Path) -> list[dict]:
    """2. `predict` (each frame decoded and transformed once, shared by its windows) vs a loader that decodes
    and transforms every window on its own; `video` lies alone under a folder's real/."""
    cfg = demo_config(*STREAM_OVERRIDES)
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
    return [row(CASES[1], setting, device, "per-window loader", "streaming predict", "frames/s",
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
    cfg = demo_config(*MEMORY_OVERRIDES)
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
    code = f"import json, benchmarks.basic as b; print(json.dumps(b.memory_probe({str(short)!r}, {str(long)!r})))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False,
                          cwd=Path(__file__).resolve().parents[1])
    if proc.returncode != 0:
        raise RuntimeError(f"memory probe failed:\n{proc.stderr}")
    m = json.loads(proc.stdout.strip().splitlines()[-1])
    n_short, n_long = sizes.memory_frames
    a, b = (f"{n} frames ({n / MEMORY_FPS:.3g} s)" for n in (n_short, n_long))
    return [
        row(CASES[2], f"tracemalloc peak during one predict call (Python objects + numpy frame buffers): "
                       f"{(m['traced_long'] - m['traced_short']) * 2 ** 20 / (n_long - n_short):.0f} bytes per "
                       "extra frame", "cpu", a, b, "MiB", m["traced_short"], m["traced_long"], "b / a"),
        row(CASES[2], f"ru_maxrss of a fresh process after the short, then the long video: "
                       f"{m['rss_long'] - m['rss_short']:+.1f} MiB (most of it is the imported libraries)", "cpu",
             a, b, "MiB", m["rss_short"], m["rss_long"], "b / a", key="rss_60s_vs_10s"),
    ]


def bench_loader(sizes: Sizes, root: Path) -> list[dict]:
    """3. Training-transform DataLoader throughput, 0 vs 2 worker processes (persistent, as in training)."""
    cfg = demo_config()
    generate(root, SynthSpec(train=sizes.loader_videos, val=0, test=0), overwrite=True)
    ds = build_dataset(root / "train", cfg.sequence, cfg.image, cfg.augmentation, train=True)
    loaders = {n: DataLoader(ds, batch_size=cfg.training.batch_size, shuffle=True, num_workers=n,
                             persistent_workers=n > 0) for n in (0, 2)}
    t = interleaved({f"{n} workers": lambda n=n: deque(loaders[n], maxlen=0) for n in loaders}, sizes.repeats)
    del loaders  # stops the worker processes
    setting = (f"{len(ds)} windows/epoch of T={cfg.sequence.length} from {len(ds.items)} synthetic "
               f"{VIDEO_SIDE}x{VIDEO_SIDE} items (mp4/jpg/png), train transform to "
               f"{cfg.image.height}x{cfg.image.width}, batch {cfg.training.batch_size}, full epochs")
    return [row(CASES[3], setting, "cpu", "num_workers 0", "num_workers 2", "windows/s",
                 len(ds) / t["0 workers"], len(ds) / t["2 workers"])]


def bench_train_step(device: torch.device, sizes: Sizes) -> list[dict]:
    """4. One training step of the demo model (forward + loss + backward, no optimizer step), ConvLSTM vs the
    frame-only baseline: the cost of modelling time. Precision and memory format as `lab.training.loop` uses them."""
    cfg = demo_config()
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
    return [row(CASES[4], setting, device, "frame-only", "ConvLSTM", "ms", t["frame"] * 1e3,
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
    return [row(CASES[5], f"{where}, contiguous", device, f"fp32{tf32}", f"autocast {amp}", "ms",
                 t["fp32"] * 1e3, t["amp"] * 1e3),
            row(CASES[5], f"{where}, autocast {amp}", device, "contiguous", "channels_last", "ms",
                 u["contiguous"] * 1e3, u["channels_last"] * 1e3)]


