"""The training loop: AdamW, warm-up + cosine/OneCycle, AMP on CUDA, clipping, TensorBoard, early stopping.

One plain loop, readable top to bottom. It selects the model on validation ROC-AUC only, picks the
decision threshold on validation, writes `best.pth` / `last.pth` (self-describing, atomic) and returns
the history as a table. Under torchrun it trains with DistributedDataParallel (rank 0 logs and saves).
"""
from __future__ import annotations

import math
import random
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import DataLoader, Subset, WeightedRandomSampler
from torch.utils.tensorboard import SummaryWriter
from tqdm.auto import tqdm

from lab.runtime.checkpoint import atomic_copy, load_checkpoint, rng_state, save_checkpoint, set_rng_state
from lab.config import Config, SchedulerConfig, flatten, to_dict
from lab.data.dataset import build_dataset, make_weighted_sampler
from lab.runtime.device import Precision, prepare_model, resolve_device
from lab.runtime.distributed import DistInfo, DistributedWeightedSampler, broadcast_flag, init_distributed, shutdown
from lab.errors import CheckpointError, DataError
from lab.evaluation.evaluate import score_loader
from lab.evaluation.metrics import binary_metrics, both_classes, choose_threshold
from lab.models.classifier import build_model
from lab.models.summary import summarize


@dataclass(frozen=True)
class TrainResult:
    history: pd.DataFrame  # one row per epoch
    best_path: Path
    last_path: Path
    best_epoch: int
    best_metrics: dict[str, float]
    threshold: float
    log_dir: Path


def set_seed(seed: int, deterministic: bool = False) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False


def build_scheduler(optimizer, cfg: SchedulerConfig, epochs: int, steps_per_epoch: int, lr: float):
    """Per-step LR schedule: linear warm-up epochs, then cosine decay / OneCycle / constant."""
    total = max(epochs * steps_per_epoch, 1)
    warm = min(cfg.warmup_epochs * steps_per_epoch, total - 1)
    sched = torch.optim.lr_scheduler
    if cfg.type == "onecycle":
        return sched.OneCycleLR(optimizer, max_lr=lr, total_steps=total,
                                pct_start=warm / total if warm > 0 else 0.3)
    main = (sched.CosineAnnealingLR(optimizer, T_max=max(total - warm, 1)) if cfg.type == "cosine"
            else sched.LambdaLR(optimizer, lambda _: 1.0))
    if warm <= 0:
        return main
    warmup = sched.LinearLR(optimizer, start_factor=1.0 / (warm + 1), total_iters=warm)
    return sched.SequentialLR(optimizer, [warmup, main], milestones=[warm])


def training_loss(model: nn.Module, clips: torch.Tensor, labels: torch.Tensor, loss_fn: nn.Module,
                  step_weight: float, first_step: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(clip logits (B, 2), loss): cross-entropy of the clip output, plus `step_weight` times the mean
    cross-entropy of the per-timestep outputs from `first_step` on, each against the clip's label. The
    auxiliary term makes the per-frame scores that prediction reports trained outputs."""
    if step_weight <= 0:
        logits = model(clips)
        return logits, loss_fn(logits.float(), labels)
    logits, steps = model(clips, with_timeline=True)  # (B, 2), (B, T, 2); one call, so DDP syncs it all
    steps = steps[:, first_step:].float()
    step_loss = loss_fn(steps.flatten(0, 1), labels.repeat_interleave(steps.shape[1]))
    return logits, loss_fn(logits.float(), labels) + step_weight * step_loss


def _loaders(cfg: Config, info: DistInfo, device: torch.device):
    train_ds = build_dataset(cfg.data.train_dir, cfg.sequence, cfg.image, cfg.augmentation, train=True)
    val_ds = build_dataset(cfg.data.val_dir, cfg.sequence, cfg.image, cfg.augmentation, train=False)
    if not both_classes(train_ds.labels) or not both_classes(val_ds.labels):
        raise DataError(f"training needs real and fake items in both '{cfg.data.train_dir}' and "
                        f"'{cfg.data.val_dir}' (data.train_dir / data.val_dir)")
    n = len(train_ds)
    if cfg.training.balanced_sampling and info.enabled:
        labels = np.asarray(train_ds.labels)
        weights = 1.0 / np.bincount(labels, minlength=2)[labels]
        sampler = DistributedWeightedSampler(weights, n, info, seed=cfg.seed)
    elif cfg.training.balanced_sampling:
        sampler = make_weighted_sampler(train_ds.labels, num_samples=n)
    else:
        sampler = torch.utils.data.DistributedSampler(train_ds, seed=cfg.seed) if info.enabled else None
    common = dict(batch_size=cfg.training.batch_size, num_workers=cfg.data.num_workers,
                  pin_memory=device.type == "cuda", persistent_workers=cfg.data.num_workers > 0)
    if len(val_ds) < info.world_size:
        raise DataError(f"'{cfg.data.val_dir}' has {len(val_ds)} validation windows, fewer than the "
                        f"{info.world_size} training processes")
    per_rank = len(sampler) if sampler is not None else n
    train_loader = DataLoader(train_ds, sampler=sampler, shuffle=sampler is None,
                              drop_last=per_rank > cfg.training.batch_size, **common)
    # Validation: rank r scores windows r, r+W, ...; gathering in rank order and re-sorting restores order.
    val_part = Subset(val_ds, range(info.rank, len(val_ds), info.world_size)) if info.enabled else val_ds
    val_loader = DataLoader(val_part, shuffle=False, **common)
    return train_loader, val_loader, val_ds


def _restore(path, model, optimizer, scaler) -> tuple[list[dict], dict, int]:
    """Load a last.pth/best.pth written by `fit` into the objects; returns (history, best, next epoch)."""
    ckpt = load_checkpoint(path, model, optimizer)
    missing = [k for k in ("optimizer", "history", "best", "rng") if ckpt.get(k) is None]
    if missing:
        raise CheckpointError(f"checkpoint '{path}' has no training state ({', '.join(missing)} missing): "
                              "--resume needs a last.pth/best.pth written by training; start a new run instead")
    if scaler is not None and ckpt.get("scaler"):
        scaler.load_state_dict(ckpt["scaler"])
    set_rng_state(ckpt["rng"])
    return list(ckpt["history"]), dict(ckpt["best"]), int(ckpt["epoch"]) + 1


def _reseed_epoch(loader: DataLoader, seed: int, epoch: int) -> None:
    """Make each epoch's sampling a function of (seed, epoch) so --resume replays it exactly."""
    sampler = loader.sampler
    if isinstance(sampler, WeightedRandomSampler):
        sampler.generator = torch.Generator().manual_seed(seed + epoch)
    elif hasattr(sampler, "set_epoch"):
        sampler.set_epoch(epoch)
    loader.generator = torch.Generator().manual_seed(seed + 7919 * epoch)


def fit(
    cfg: Config,
    *,
    run_name: str = "run",
    checkpoint_dir: str | Path = "checkpoints",
    log_dir: str | Path = "logs",
    resume: str | Path | None = None,
    publish_best: str | Path | None = None,
    progress: bool = True,
) -> TrainResult:
    """Train `cfg`'s model on data.train_dir, select on data.val_dir. Returns the epoch history."""
    device = resolve_device(cfg.device)
    info = init_distributed(device.type)
    if info.enabled and device.type == "cuda":
        device = torch.device("cuda", info.local_rank)
    set_seed(cfg.seed + info.rank, cfg.training.deterministic)
    tcfg = cfg.training
    run_ckpt_dir, run_log_dir = Path(checkpoint_dir) / run_name, Path(log_dir) / run_name
    best_path, last_path = run_ckpt_dir / "best.pth", run_ckpt_dir / "last.pth"

    train_loader, val_loader, val_ds = _loaders(cfg, info, device)
    model = build_model(cfg.model)
    if info.is_main:
        shape = (1, cfg.sequence.length, cfg.image.channels, cfg.image.height, cfg.image.width)
        tqdm.write(f"model: {summarize(model, shape)} | device {device} | {len(train_loader.dataset)} train / "
                   f"{len(val_ds)} val windows")
    model = prepare_model(model, device, channels_last=tcfg.channels_last, compile=tcfg.compile)
    if info.enabled:
        model = nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=tcfg.learning_rate, weight_decay=tcfg.weight_decay)
    scheduler = build_scheduler(optimizer, tcfg.scheduler, tcfg.epochs, len(train_loader), tcfg.learning_rate)
    precision = Precision.choose(device, tcfg.amp)
    scaler = torch.amp.GradScaler("cuda") if precision.needs_scaler else None
    loss_fn = nn.CrossEntropyLoss(label_smoothing=tcfg.label_smoothing)

    history: list[dict] = []
    best = {"auc": -math.inf, "epoch": 0, "bad_epochs": 0, "metrics": {}, "threshold": 0.5}
    start_epoch = 1
    if resume is not None:
        history, best, start_epoch = _restore(resume, model, optimizer, scaler)
        # The schedule is rebuilt for the (possibly changed) epoch count and fast-forwarded, not loaded:
        # a saved scheduler would keep the old run's length and overshoot or fail when --epochs changes.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "scheduler.step() before optimizer.step()"
            for _ in range((start_epoch - 1) * len(train_loader)):
                scheduler.step()
        if info.rank:  # checkpoints hold rank 0's RNG; give other ranks their own streams again
            set_seed(cfg.seed + info.rank + 1009 * start_epoch, tcfg.deterministic)

    # purge_step hides events a previous run left at the steps this run writes again (re-runs, resumes).
    writer = SummaryWriter(str(run_log_dir), purge_step=start_epoch) if info.is_main else None
    try:
        for epoch in range(start_epoch, tcfg.epochs + 1):
            t0 = time.perf_counter()
            _reseed_epoch(train_loader, cfg.seed, epoch)
            model.train()
            sums = torch.zeros(3, device=device)  # loss*n, correct, n
            bar = tqdm(train_loader, desc=f"epoch {epoch}/{tcfg.epochs}", leave=False,
                       disable=not (progress and info.is_main))
            for clips, labels in bar:
                clips = clips.to(device, non_blocking=True)
                labels = labels.to(device, non_blocking=True)
                with precision.autocast():
                    logits, loss = training_loss(model, clips, labels, loss_fn, tcfg.step_loss_weight,
                                                 cfg.sequence.first_scored_step)
                optimizer.zero_grad(set_to_none=True)
                if scaler is not None:
                    scaler.scale(loss).backward()
                    scaler.unscale_(optimizer)
                else:
                    loss.backward()
                if tcfg.grad_clip > 0:
                    nn.utils.clip_grad_norm_(params, tcfg.grad_clip)
                if scaler is not None:
                    scale = scaler.get_scale()
                    scaler.step(optimizer)
                    scaler.update()
                    stepped = scaler.get_scale() >= scale  # a lowered scale means fp16 overflow: step skipped
                else:
                    optimizer.step()
                    stepped = True
                if stepped:
                    scheduler.step()
                n = labels.numel()
                sums += torch.stack([loss.detach() * n, (logits.argmax(1) == labels).sum().float(),
                                     torch.tensor(float(n), device=device)])
            if info.enabled:
                torch.distributed.all_reduce(sums)
            train_loss, train_acc = (sums[0] / sums[2]).item(), (sums[1] / sums[2]).item()

            scored = score_loader(model, val_loader, device, precision, info=info, progress=False)
            val_metrics = binary_metrics(scored.labels, scored.probs, 0.5)
            row = {"epoch": epoch, "train_loss": train_loss, "train_acc": train_acc,
                   "val_loss": scored.loss, "val_acc": val_metrics["accuracy"], "val_auc": val_metrics["roc_auc"],
                   "lr": optimizer.param_groups[0]["lr"], "seconds": time.perf_counter() - t0}
            history.append(row)
            # Every checkpoint carries the threshold chosen on validation for its own weights.
            threshold = choose_threshold(scored.labels, scored.probs)
            improved = row["val_auc"] > best["auc"] + tcfg.early_stopping.min_delta
            if improved:
                best = {"auc": row["val_auc"], "epoch": epoch, "bad_epochs": 0, "threshold": threshold,
                        "metrics": {f"val_{k}": v for k, v in binary_metrics(scored.labels, scored.probs,
                                                                              threshold).items()}}
            else:
                best["bad_epochs"] += 1
            stop = best["bad_epochs"] >= tcfg.early_stopping.patience
            if info.is_main:
                for key, value in row.items():
                    if key != "epoch":
                        writer.add_scalar(key.replace("_", "/", 1), value, epoch)
                extra = dict(scheduler=scheduler.state_dict(), scaler=scaler.state_dict() if scaler else None,
                             history=history, best=best, rng=rng_state(), run_name=run_name)
                if improved:
                    save_checkpoint(model, optimizer, epoch, best_path, config=cfg, metrics=best["metrics"],
                                    threshold=best["threshold"], **extra)
                save_checkpoint(model, optimizer, epoch, last_path, config=cfg,
                                metrics={k: v for k, v in row.items() if k != "epoch"}, threshold=threshold, **extra)
                tqdm.write(f"epoch {epoch:3d} | train loss {train_loss:.4f} acc {train_acc:.3f} | val loss "
                           f"{row['val_loss']:.4f} acc {row['val_acc']:.3f} auc {row['val_auc']:.4f} | "
                           f"lr {row['lr']:.2e} | {row['seconds']:.1f}s" + (" *" if improved else ""))
            if broadcast_flag(stop, info, device):
                if info.is_main:
                    tqdm.write(f"early stopping: val AUC has not improved by {tcfg.early_stopping.min_delta} "
                               f"for {tcfg.early_stopping.patience} epochs (best {best['auc']:.4f} at epoch "
                               f"{best['epoch']})")
                break
        if info.is_main:
            writer.add_hparams(_hparams(cfg), {"hparam/best_val_auc": best["auc"], "hparam/best_epoch": best["epoch"]},
                               run_name="hparams")
            if publish_best is not None and best_path.is_file():
                atomic_copy(best_path, publish_best)
            pd.DataFrame(history).to_csv(run_ckpt_dir / "history.csv", index=False)
    finally:
        if writer is not None:
            writer.close()
        shutdown(info)
    return TrainResult(pd.DataFrame(history), best_path, last_path, best["epoch"], best["metrics"],
                       best["threshold"], run_log_dir)


def _hparams(cfg: Config) -> dict[str, float | str | bool]:
    """Every config key as a TensorBoard hparam (lists become strings)."""
    return {k: v if isinstance(v, (int, float, str, bool)) else str(v) for k, v in flatten(to_dict(cfg)).items()}
