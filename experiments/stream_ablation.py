"""Compare input streams on a real-footage development set with a plain training loop: the "Input streams in a
plain loop" and "Tried on the CPU and not kept" tables of docs/results/real-footage.md.

Which input streams let a randomly initialised ConvLSTM see temporal-only edits in real footage? A plain
training loop (no augmentation but flips, time reversal and, with `--h264 P`, H.264 re-encoding; one
random 8-frame window per item per epoch, AdamW + one-cycle), the same model for every stream list, on a
real-footage development set:

    lab synth --real-footage --out data_real
    python experiments/stream_ablation.py --data data_real --streams residual,residual2 residual,residual2,energy \
        --threads 1
    python experiments/stream_ablation.py --data data_real --h264 0.5 --threads 1   # H.264 as augmentation

Prints, per stream list, validation and test ROC-AUC (clips: every window at stride 4; videos: the mean over an
item's windows) and the test AUC of each fake family against all reals. The model is `config/cpu_real.yaml`'s
(resnet18 cut at stride 4, ConvLSTM, spatial mean+max) with `--streams` swapped in. Diagnostic, not `train.py`:
it loads every item into memory at 64x64 and skips the dataset, so many recipes fit in minutes.
"""
from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from sklearn.metrics import roc_auc_score

from lab.config import load_config
from lab.data.perturb import h264_reencode
from lab.data.video import open_item
from lab.models.classifier import build_model

ROOT = Path(__file__).resolve().parents[1]
T, STARTS = 8, (0, 4, 8)


def read_split(folder: Path, size: int) -> tuple[np.ndarray, pd.DataFrame]:
    """Every item of a split resized to size x size, uint8 (N, 16, size, size, 3), and its manifest."""
    manifest = pd.read_csv(folder / "manifest.csv")
    items = [np.stack([cv2.resize(f, (size, size), interpolation=cv2.INTER_AREA)
                       for f in open_item(folder / name).iter_frames()]) for name in manifest["item"]]
    return np.stack(items), manifest


def reencoded(frames: np.ndarray, crf: tuple[int, int]) -> np.ndarray:
    """Each item re-encoded as H.264 at a CRF drawn per item from `crf` (`lab.data.perturb.h264_reencode`), with
    its own fixed generator so the copies do not depend on --seed."""
    rng = np.random.default_rng(123)
    return np.stack([h264_reencode(item, int(rng.integers(crf[0], crf[1] + 1))) for item in frames])


def normalised(frames: np.ndarray, mean: np.ndarray, std: np.ndarray) -> torch.Tensor:
    """uint8 (N, T, H, W, 3) -> normalised float (N, T, 3, H, W)."""
    x = (frames.astype(np.float32) / 255 - mean) / std
    return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 1, 4, 2, 3)))


def scores(net: torch.nn.Module, x: torch.Tensor) -> np.ndarray:
    """(N, windows) P(fake) for the windows starting at STARTS."""
    net.eval()
    with torch.no_grad():
        return torch.cat([torch.stack([net(x[i:i + 16, s:s + T]).softmax(-1)[:, 1] for s in STARTS], 1)
                          for i in range(0, len(x), 16)]).numpy()


def run(streams: tuple[str, ...], data: dict, args: argparse.Namespace) -> dict:
    cfg = load_config(ROOT / "config/data_config.yaml", ROOT / "config/cpu_real.yaml")
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    net = build_model(replace(cfg.model, input_streams=streams))
    x, m = data["train"]
    y = torch.tensor(m["label"].values)
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=1e-4)
    steps = args.epochs * (len(x) // args.batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, args.lr, total_steps=steps, pct_start=min(0.3, 1 / args.epochs))
    start = time.perf_counter()
    for _ in range(args.epochs):
        net.train()
        order = torch.randperm(len(x))
        for i in range(0, len(order) - args.batch + 1, args.batch):
            idx, s = order[i:i + args.batch], int(rng.integers(0, x.shape[1] - T + 1))
            clip = x[idx, s:s + T]
            if args.h264 > 0:  # the item's re-encoded copy instead, with probability --h264
                pick = torch.from_numpy(rng.random(len(idx)) < args.h264)[:, None, None, None, None]
                clip = torch.where(pick, data["train_h264"][0][idx, s:s + T], clip)
            clip = clip.flip(-1) if rng.random() < 0.5 else clip
            clip = clip.flip(1) if rng.random() < 0.5 else clip  # real footage played backwards is still real
            loss = F.cross_entropy(net(clip), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    row = {"streams": ",".join(streams), "h264": args.h264, "seed": args.seed,
           "train_s": round(time.perf_counter() - start)}
    for split in ("val", "test"):
        xs, ms = data[split]
        p, labels = scores(net, xs), ms["label"].values
        row[f"{split}_clip"] = roc_auc_score(np.repeat(labels, len(STARTS)), p.ravel())
        row[f"{split}_video"] = roc_auc_score(labels, p.mean(1))
    p = p.mean(1)  # test videos: each family against all reals, then each format (both classes)
    for column in ("family", "format"):
        values = ms[column].values
        for value in sorted(set(values) - {"real"}):
            keep = (values == value) | (labels == 0) if column == "family" else values == value
            row[value] = roc_auc_score(labels[keep], p[keep])
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], allow_abbrev=False)
    ap.add_argument("--data", type=Path, required=True, help="a `lab synth --real-footage` folder")
    ap.add_argument("--streams", nargs="+", default=["residual,residual2", "residual,residual2,energy"],
                    help="stream lists to compare, each comma-separated (default: the two of the docs table)")
    ap.add_argument("--epochs", type=int, default=8, help="epochs of one random window per item (default 8)")
    ap.add_argument("--lr", type=float, default=1e-3, help="peak learning rate of the one-cycle schedule")
    ap.add_argument("--batch", type=int, default=8, help="items per step")
    ap.add_argument("--size", type=int, default=64, help="frame side every item is resized to (default 64)")
    ap.add_argument("--seed", type=int, default=0, help="seeds the model, the window draws and the flips")
    ap.add_argument("--h264", type=float, default=0.0,
                    help="probability that a training window comes from its item's H.264 copy (0: never); each "
                         "item is re-encoded once, at load, at a CRF drawn from --crf (its own fixed generator); "
                         "the picks use the run's generator, so later windows differ from a run without it")
    ap.add_argument("--crf", type=int, nargs=2, default=[18, 28], help="CRF range of that re-encoding")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = ap.parse_args()
    if not 0 <= args.crf[0] <= args.crf[1] <= 51:
        ap.error(f"--crf {args.crf[0]} {args.crf[1]}: give LO HI with 0 <= LO <= HI <= 51")
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = load_config(ROOT / "config/data_config.yaml", ROOT / "config/cpu_real.yaml")
    mean, std = (np.array(v, np.float32) for v in (cfg.augmentation.normalize.mean, cfg.augmentation.normalize.std))
    data = {}
    for split in ("train", "val", "test"):
        frames, manifest = read_split(args.data / split, args.size)
        data[split] = normalised(frames, mean, std), manifest
        if split == "train" and args.h264 > 0:  # decoded once, re-encoded from the same frames
            data["train_h264"] = normalised(reencoded(frames, tuple(args.crf)), mean, std), manifest
    rows = [run(tuple(s.split(",")), data, args) for s in args.streams]
    print(pd.DataFrame(rows).round(3).to_string(index=False))


if __name__ == "__main__":
    main()
