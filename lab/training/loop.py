"""The training loop: AdamW, warm-up + cosine/OneCycle, AMP on CUDA, clipping, TensorBoard, early stopping.

One plain loop, readable top to bottom. It selects the model on validation ROC-AUC only, picks the
decision threshold on validation, writes `best.pth` / `last.pth` (self-describing, atomic) and returns
the history as a table. Under torchrun it trains with DistributedDataParallel (rank 0 logs and saves).
A run killed at any point resumes exactly from its last checkpoint (`lab.training.state`), mid-epoch ones
included; a NaN/Inf loss stops it or is skipped (`lab.training.faults`).
"""
from __future__ import annotations

import math
import os
import random
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import DataLoader, RandomSampler, Subset
from torch.utils.tensorboard import SummaryWriter
from tqdm.auto import tqdm

from lab.config import Config, flatten, to_dict
from lab.data.dataset import build_dataset, make_weighted_sampler, resolve_num_workers
from lab.data.sampling import EpochSampler, SeededSamples, step_seed
from lab.data.transforms import DeviceJitter, jitter_on_device
from lab.outputs import atomic_copy, claim_run_folders, remove_stale_temps, write_text
from lab.runtime.checkpoint import rng_state, save_checkpoint
from lab.runtime.device import Precision, prepare_model, resolve_device, use_fast_kernels
from lab.runtime.distributed import (DistInfo, DistributedWeightedSampler, broadcast_buffers, broadcast_flag,
                                     init_distributed, shutdown)
from lab.errors import DataError
from lab.evaluation.calibration import decide
from lab.evaluation.metrics import binary_metrics, both_classes
from lab.models.classifier import build_model
from lab.models.summary import summarize
from lab.scoring.decision import Decision
from lab.scoring.windows import score_loader
from lab.training.faults import NonFiniteGuard, deterministic_failure
from lab.training.schedule import build_scheduler
from lab.training.state import CheckpointClock, Progress, RunState, restore_run, stale_state_note
from lab.training.training_free import fit_training_free, is_training_free


@dataclass(frozen=True)
class TrainResult:
    history: pd.DataFrame  # one row per epoch
    best_path: Path
    last_path: Path
    best_epoch: int
    best_metrics: dict[str, float]
    threshold: float  # the best checkpoint's cut on uncalibrated scores (its plain `threshold` key)
    log_dir: Path
    decision: Decision | None = None  # the best checkpoint's temperature and threshold rule


def set_seed(seed: int, deterministic: bool = False) -> None:
    """Seed every RNG; `deterministic` also makes CUDA deterministic: cuDNN picks deterministic kernels,
    cuBLAS gets a fixed workspace, and an op without a deterministic version is an error, not a warning."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # read when cuBLAS starts
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False


def training_loss(model: nn.Module, clips: torch.Tensor, labels: torch.Tensor, loss_fn: nn.Module,
                  step_weight: float, first_step: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(clip logits (B, 2), loss to minimise, clip loss): the loss is the cross-entropy of the clip output plus
    `step_weight` times the mean cross-entropy of the per-timestep outputs from `first_step` on, each against
    the clip's label (the auxiliary term makes the per-frame scores that prediction reports trained outputs).
    The clip loss alone is what the history logs as train_loss, comparable with val_loss."""
    if step_weight <= 0:
        logits = model(clips)
        clip_loss = loss_fn(logits.float(), labels)
        return logits, clip_loss, clip_loss
    logits, steps = model(clips, with_timeline=True)  # (B, 2), (B, T, 2); one call, so DDP syncs it all
    steps = steps[:, first_step:].float()
    step_loss = loss_fn(steps.flatten(0, 1), labels.repeat_interleave(steps.shape[1]))
    clip_loss = loss_fn(logits.float(), labels)
    return logits, clip_loss + step_weight * step_loss, clip_loss


def _loaders(cfg: Config, info: DistInfo, device: torch.device, jitter_in_loader: bool = True):
    held_out = cfg.data.held_out_families  # leave-one-family-out: those fakes stay out of training and selection
    train_ds = build_dataset(cfg.data.train_dir, cfg.sequence, cfg.image, cfg.augmentation, True,
                             cache=cfg.data.cache, held_out_families=held_out,
                             jitter_in_loader=jitter_in_loader)
    val_ds = build_dataset(cfg.data.val_dir, cfg.sequence, cfg.image, cfg.augmentation, False,
                           cache=cfg.data.cache, held_out_families=held_out)
    absent = [family for family in held_out if family not in train_ds.held_out]
    if absent:
        raise DataError(f"held-out family {absent[0]!r} names no fake item of the training split",
                        "data.held_out_families", "name families of the training split's fakes (its manifest's "
                        "family column, or the item name before '__')")
    if not both_classes(train_ds.labels) or not both_classes(val_ds.labels):
        raise DataError("training needs real and fake items in both the training and the validation split",
                        f"{cfg.data.train_dir}, {cfg.data.val_dir}",
                        "put items under real/ and fake/ of both, or point data.train_dir / data.val_dir elsewhere")
    n = len(train_ds)
    if cfg.training.balanced_sampling and info.enabled:
        labels = np.asarray(train_ds.labels)
        weights = 1.0 / np.bincount(labels, minlength=2)[labels]
        sampler = DistributedWeightedSampler(weights, n, info, seed=cfg.seed)
    elif cfg.training.balanced_sampling:
        sampler = make_weighted_sampler(train_ds.labels, num_samples=n)
    else:
        sampler = torch.utils.data.DistributedSampler(train_ds, seed=cfg.seed) if info.enabled else None
    workers = resolve_num_workers(cfg.data.num_workers)
    common = dict(batch_size=cfg.training.batch_size, num_workers=workers,
                  pin_memory=device.type == "cuda", persistent_workers=workers > 0)
    if len(val_ds) < info.world_size:
        raise DataError(f"{len(val_ds)} validation windows is fewer than the {info.world_size} training processes",
                        cfg.data.val_dir, "add validation items or start fewer processes")
    sampler = EpochSampler(sampler if sampler is not None else RandomSampler(train_ds), cfg.seed, info.rank,
                           info.world_size if info.enabled else 1)
    train_loader = DataLoader(SeededSamples(train_ds), sampler=sampler,
                              drop_last=len(sampler) > cfg.training.batch_size, **common)
    # Validation: rank r scores windows r, r+W, ...; gathering in rank order and re-sorting restores order.
    val_part = Subset(val_ds, range(info.rank, len(val_ds), info.world_size)) if info.enabled else val_ds
    val_loader = DataLoader(val_part, shuffle=False, **common)
    return train_loader, val_loader, val_ds


def _state(scheduler, scaler, state: RunState, progress: Progress, run_name: str) -> dict:
    """What every checkpoint of `fit` carries to resume from it, besides weights and config."""
    return dict(scheduler=scheduler.state_dict(), scaler=scaler.state_dict() if scaler else None,
                history=state.history, best=state.best, rng=rng_state(), run_name=run_name,
                progress=progress.to_dict())


def _backward_and_step(loss, optimizer, scheduler, scaler, params, grad_clip: float, finite) -> bool:
    """Backward, clipping, optimizer step and LR-schedule step. `finite(value, what)` vets the loss and the
    gradient norm (NonFiniteGuard.ok: it raises, or returns False to skip the step). Returns False for a
    skipped step; the schedule advances only when the optimizer stepped (fp16 overflow skips it too)."""
    if not finite(loss, "loss"):
        return False
    if scaler is not None:
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
    else:
        loss.backward()
    norm = nn.utils.clip_grad_norm_(params, grad_clip if grad_clip > 0 else math.inf)  # inf: measure only
    if scaler is None and not finite(norm, "gradient norm"):  # under fp16 the scaler handles overflow
        optimizer.zero_grad(set_to_none=True)
        return False
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
    return True


def _save_mid_epoch(cfg, model, optimizer, scheduler, scaler, state: RunState, progress: Progress, path: Path,
                    run_name: str, info: DistInfo) -> None:
    """last.pth at a batch boundary inside an epoch. All ranks call it: the epoch's sums are summed first."""
    sums = progress.sums.clone()
    if info.enabled:
        torch.distributed.all_reduce(sums)
        if not info.is_main:
            return
    last_row = {k: v for k, v in (state.history[-1] if state.history else {}).items() if k != "epoch"}
    # Weights between two validations have no threshold of their own: keep the last validated epoch's.
    threshold = last_row.get("threshold", state.best["threshold"])
    tcfg = cfg.training
    decision = Decision(last_row.get("threshold_calibrated", threshold),
                        tcfg.threshold if last_row else "unvalidated", last_row.get("temperature", 1.0),
                        bool(last_row) and tcfg.temperature_scaling and last_row.get("temperature", 1.0) != 1.0,
                        tcfg.target_fpr if tcfg.threshold == "target_fpr" else None)
    save_checkpoint(model, optimizer, progress.epoch - 1, path, config=cfg, metrics=last_row, threshold=threshold,
                    decision=decision.to_dict(), **_state(scheduler, scaler, state, replace(progress, sums=sums), run_name))




def fit(
    cfg: Config,
    *,
    run_name: str = "run",
    checkpoint_dir: str | Path = "checkpoints",
    log_dir: str | Path = "logs",
    resume: str | Path | None = None,
    publish_best: str | Path | None = None,
    progress: bool = True,
    overwrite: bool = False,
) -> TrainResult:
    """Train `cfg`'s model on data.train_dir, select on data.val_dir. Returns the epoch history.

    A new run refuses a run folder that already holds a run unless `overwrite` (which clears it first);
    `resume` continues the run of that checkpoint, mid-epoch if it was saved there. A model with nothing to
    train (`model.temporal: d3`) is fitted instead (`lab.training.training_free`): no optimisation runs."""
    if is_training_free(cfg):
        return TrainResult(**fit_training_free(cfg, run_name=run_name, checkpoint_dir=checkpoint_dir,
                                               log_dir=log_dir, resume=resume, publish_best=publish_best,
                                               progress=progress, overwrite=overwrite))
    device = resolve_device(cfg.device)
    info = init_distributed(device.type)
    if info.enabled and device.type == "cuda":
        device = torch.device("cuda", info.local_rank)
    set_seed(cfg.seed + info.rank, cfg.training.deterministic)
    use_fast_kernels(device, cfg.training.deterministic)
    tcfg = cfg.training
    run_ckpt_dir, run_log_dir = Path(checkpoint_dir) / run_name, Path(log_dir) / run_name
    best_path, last_path = run_ckpt_dir / "best.pth", run_ckpt_dir / "last.pth"
    if info.is_main:  # before any data is read: an unwritable folder or an occupied run fails now
        claim_run_folders(run_ckpt_dir, run_log_dir, resume=resume, overwrite=overwrite)
        stale_state_note(run_ckpt_dir, remove_stale_temps(run_ckpt_dir))

    # colour jitter and normalisation in the loader, or on the device after each batch arrives (decided once)
    device_jitter = DeviceJitter(cfg.augmentation) if jitter_on_device(cfg.augmentation, device) else None
    train_loader, val_loader, val_ds = _loaders(cfg, info, device, jitter_in_loader=device_jitter is None)
    steps_per_epoch = len(train_loader)
    model = build_model(cfg.model)
    if info.is_main:
        shape = (1, cfg.sequence.length, cfg.image.channels, cfg.image.height, cfg.image.width)
        held_out = train_loader.dataset.dataset.held_out  # SeededSamples -> FrameSequenceDataset
        jitters = device_jitter is not None and device_jitter.jitter is not None
        jitter = " | colour jitter on the device" if jitters else ""
        tqdm.write(f"model: {summarize(model, shape)} | device {device}{jitter} | {len(train_loader.dataset)} train / "
                   f"{len(val_ds)} val windows" + "".join(f" | held out: {family} ({n} train fakes)"
                                                          for family, n in held_out.items()))
    model = prepare_model(model, device, channels_last=tcfg.channels_last, compile=tcfg.compile)
    if info.enabled:
        # One frame per window: the ConvLSTM's hidden_conv never runs (h starts at zero), so its weights get no
        # gradient and DDP must be told, or its second step fails waiting for them.
        model = nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None,
                                                    find_unused_parameters=cfg.sequence.length == 1)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=tcfg.learning_rate, weight_decay=tcfg.weight_decay)
    scheduler = build_scheduler(optimizer, tcfg.scheduler, tcfg.epochs, steps_per_epoch, tcfg.learning_rate)
    precision = Precision.choose(device, tcfg.amp)
    scaler = torch.amp.GradScaler("cuda") if precision.needs_scaler else None
    loss_fn = nn.CrossEntropyLoss(label_smoothing=tcfg.label_smoothing)

    state = RunState(progress=Progress(steps_per_epoch=steps_per_epoch))
    if resume is not None:
        # The schedule is rebuilt for the (possibly changed) epoch count and put at the saved step, not loaded:
        # a saved scheduler would keep the old run's length and overshoot or fail when --epochs changes.
        state = restore_run(resume, model, optimizer, scheduler, scaler, steps_per_epoch)
        if state.progress.batch and info.is_main:
            tqdm.write(f"resuming epoch {state.progress.epoch} at step {state.progress.batch + 1} of {steps_per_epoch}")
    at = state.progress
    clock = CheckpointClock(tcfg.checkpoint_every_steps, tcfg.checkpoint_every_minutes)
    guard = NonFiniteGuard(tcfg.nonfinite_loss, info, device, last_path, steps_per_epoch)

    # purge_step hides events a previous run left at the steps this run writes again (re-runs, resumes).
    writer = SummaryWriter(str(run_log_dir), purge_step=at.epoch) if info.is_main else None
    try:
        for epoch in range(at.epoch, tcfg.epochs + 1):
            t0 = time.perf_counter()
            resumed = at.epoch == epoch and at.batch > 0
            train_loader.sampler.set_epoch(epoch, start=at.batch * tcfg.batch_size if resumed else 0)
            model.train()
            sums = torch.zeros(3, device=device)  # loss*n, correct, n
            if resumed and info.is_main:  # rank 0 carries the saved sums of all ranks
                sums += at.sums.to(device)
            at = at if resumed else Progress(epoch, 0, at.steps, at.schedule_step, steps_per_epoch)
            bar = tqdm(train_loader, desc=f"epoch {epoch}/{tcfg.epochs}", leave=False,
                       disable=not (progress and info.is_main), initial=at.batch, total=steps_per_epoch)
            for clips, labels in bar:
                torch.manual_seed(step_seed(cfg.seed, info.rank, at.steps))  # dropout etc.: a function of the step
                clips = clips.to(device, non_blocking=True)
                labels = labels.to(device, non_blocking=True)
                if device_jitter is not None:
                    clips = device_jitter(clips)
                with precision.autocast():
                    logits, loss, clip_loss = training_loss(model, clips, labels, loss_fn, tcfg.step_loss_weight,
                                                            cfg.sequence.first_scored_step)
                optimizer.zero_grad(set_to_none=True)
                finite = _backward_and_step(loss, optimizer, scheduler, scaler, params, tcfg.grad_clip,
                                            lambda value, what: guard.ok(value, epoch, at.batch + 1, what))
                if finite:
                    n = labels.numel()
                    sums += torch.stack([clip_loss.detach() * n, (logits.argmax(1) == labels).sum().float(),
                                         torch.full((), float(n), device=device)])  # a fill, no host copy
                at = Progress(epoch, at.batch + 1, at.steps + 1, scheduler.last_epoch, steps_per_epoch, sums,
                              at.skipped + (not finite))
                due = clock.due(at.steps) and at.batch < steps_per_epoch
                if broadcast_flag(due, info, device) if clock.timed else due:
                    guard.check_weights(params, epoch, at.batch)
                    _save_mid_epoch(cfg, model, optimizer, scheduler, scaler, state, at, last_path, run_name, info)
                    clock.reset()
            guard.check_weights(params, epoch, at.batch)
            if info.enabled:
                torch.distributed.all_reduce(sums)
                broadcast_buffers(model, info)  # validate (and save) with rank 0's BatchNorm statistics everywhere
            train_loss, train_acc = (sums[0] / sums[2]).item(), (sums[1] / sums[2]).item()

            scored = score_loader(model, val_loader, device, precision, info=info, progress=False)
            val_metrics = binary_metrics(scored.labels, scored.probs, 0.5)
            row = {"epoch": epoch, "train_loss": train_loss, "train_acc": train_acc,
                   "val_loss": scored.loss, "val_acc": val_metrics["accuracy"], "val_auc": val_metrics["roc_auc"],
                   "lr": optimizer.param_groups[0]["lr"], "skipped_steps": at.skipped,
                   "seconds": time.perf_counter() - t0}
            history, best = state.history, state.best
            # Every checkpoint carries the temperature and threshold chosen on validation for its own weights.
            # `threshold` is that cut on the uncalibrated scores (the checkpoint's plain `threshold` key).
            decision, calibration, threshold = decide(scored.labels, scored.logits, tcfg.threshold, tcfg.target_fpr,
                                                      tcfg.temperature_scaling)
            row.update(threshold=threshold, threshold_calibrated=decision.threshold,
                       temperature=decision.temperature, val_ece=calibration.ece_raw,
                       val_ece_calibrated=calibration.ece_calibrated)
            chosen = {"decision": decision.to_dict(), "calibration": calibration.to_dict()}
            if calibration.note and info.is_main:
                tqdm.write(f"note: epoch {epoch}: {calibration.note}")
            history.append(row)
            improved = row["val_auc"] > best["auc"] + tcfg.early_stopping.min_delta
            if improved:
                best = state.best = {"auc": row["val_auc"], "epoch": epoch, "bad_epochs": 0, "threshold": threshold,
                                     "metrics": {f"val_{k}": v for k, v in binary_metrics(scored.labels, scored.probs,
                                                                                          threshold).items()},
                                     **chosen}
            else:
                best["bad_epochs"] += 1
            stop = best["bad_epochs"] >= tcfg.early_stopping.patience
            at = at.next_epoch()
            if info.is_main:
                for key, value in row.items():
                    if key != "epoch":
                        writer.add_scalar(key.replace("_", "/", 1), value, epoch)
                extra = _state(scheduler, scaler, state, at, run_name)
                if improved:
                    save_checkpoint(model, optimizer, epoch, best_path, config=cfg, metrics=best["metrics"],
                                    threshold=best["threshold"], **chosen, **extra)
                save_checkpoint(model, optimizer, epoch, last_path, config=cfg,
                                metrics={k: v for k, v in row.items() if k != "epoch"}, threshold=threshold,
                                **chosen, **extra)
                clock.reset()
                tqdm.write(f"epoch {epoch:3d} | train loss {train_loss:.4f} acc {train_acc:.3f} | val loss "
                           f"{row['val_loss']:.4f} acc {row['val_acc']:.3f} auc {row['val_auc']:.4f} | "
                           f"lr {row['lr']:.2e} | {row['seconds']:.1f}s" + (" *" if improved else "")
                           + (f" | skipped {row['skipped_steps']} non-finite steps" if row["skipped_steps"] else ""))
            if broadcast_flag(stop, info, device):
                if info.is_main:
                    tqdm.write(f"early stopping: val AUC has not improved by {tcfg.early_stopping.min_delta} "
                               f"for {tcfg.early_stopping.patience} epochs (best {best['auc']:.4f} at epoch "
                               f"{best['epoch']})")
                break
        if info.is_main:
            writer.add_hparams(_hparams(cfg), {"hparam/best_val_auc": state.best["auc"],
                                               "hparam/best_epoch": state.best["epoch"]}, run_name="hparams")
            if publish_best is not None and best_path.is_file():
                atomic_copy(best_path, publish_best)
            write_text(run_ckpt_dir / "history.csv", pd.DataFrame(state.history).to_csv(index=False))
            if guard.skipped_total:
                tqdm.write(f"skipped {guard.skipped_total} step(s) with a non-finite loss or gradient "
                           "(training.nonfinite_loss=skip)")
    except RuntimeError as exc:
        translated = deterministic_failure(exc)
        if translated is None:
            raise
        raise translated from exc
    finally:
        if writer is not None:
            writer.close()
        shutdown(info)
    best = state.best
    decision = Decision.from_dict(best["decision"]) if best.get("decision") else Decision(best["threshold"], "legacy")
    return TrainResult(pd.DataFrame(state.history), best_path, last_path, best["epoch"], best["metrics"],
                       best["threshold"], run_log_dir, decision)


def _hparams(cfg: Config) -> dict[str, float | str | bool]:
    """Every config key as a TensorBoard hparam (lists become strings)."""
    return {k: v if isinstance(v, (int, float, str, bool)) else str(v) for k, v in flatten(to_dict(cfg)).items()}
