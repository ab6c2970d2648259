"""`lab train` for a model with nothing to train (`training_free = True`, e.g. `model.temporal: d3`).

No optimisation runs. The model's one-feature head is fitted on the training split's windows (which side of the
score is fake, and how steeply: `fit_direction`), the decision threshold is chosen on validation as for any
model, and best.pth / last.pth are written like a trained run's (self-describing, loadable by `load_model`, one
history row at epoch 0), so evaluation, prediction, the notebooks and leave-one-out use it like any model.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import pandas as pd
import torch
from torch.utils.data import DataLoader
from torch.utils.tensorboard import SummaryWriter
from tqdm.auto import tqdm

from lab.config import Config
from lab.data.dataset import build_dataset, resolve_num_workers
from lab.errors import ConfigError, DataError
from lab.evaluation.calibration import decide
from lab.evaluation.metrics import binary_metrics, both_classes
from lab.models.classifier import MODELS, build_model
from lab.models.summary import summarize
from lab.outputs import atomic_copy, claim_run_folders, write_text
from lab.runtime.checkpoint import save_checkpoint
from lab.runtime.device import resolve_device
from lab.scoring.windows import score_loader


@torch.no_grad()
def embed_windows(model, loader: DataLoader, device: torch.device, progress: bool = False) -> tuple[torch.Tensor,
                                                                                                     torch.Tensor]:
    """Every window's clip embedding (N, D) (for D3: its log spread, D = 1) and label (N,), in dataset order."""
    embeddings, labels = [], []
    for clips, y in tqdm(loader, desc="embedding", leave=False, disable=not progress):
        embeddings.append(model.forward_features(clips.to(device)).embedding.float().cpu())
        labels.append(y)
    return torch.cat(embeddings), torch.cat(labels)


def fit_training_free(cfg: Config, *, run_name: str, checkpoint_dir: str | Path, log_dir: str | Path,
                      resume: str | Path | None = None, publish_best: str | Path | None = None,
                      progress: bool = True, overwrite: bool = False) -> dict:
    """Fit the head of `cfg`'s training-free model on data.train_dir, choose the threshold on data.val_dir and
    write the run's checkpoints. Returns what `lab.training.loop.TrainResult` holds, as a dict."""
    if resume is not None:
        raise ConfigError(f"model.temporal={cfg.model.temporal} trains nothing, so there is nothing to resume",
                          "--resume", "run lab train again without --resume (it takes seconds)")
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise ConfigError(f"model.temporal={cfg.model.temporal} is fitted in one pass by one process", "torchrun",
                          "run lab train without torchrun")
    t0 = time.perf_counter()
    device = resolve_device(cfg.device)
    run_ckpt_dir, run_log_dir = Path(checkpoint_dir) / run_name, Path(log_dir) / run_name
    claim_run_folders(run_ckpt_dir, run_log_dir, resume=None, overwrite=overwrite)
    torch.manual_seed(cfg.seed)  # a random-init frozen backbone is a function of the seed
    model = build_model(cfg.model).to(device).eval()
    workers = resolve_num_workers(cfg.data.num_workers)
    splits = {}
    held_out = cfg.data.held_out_families  # leave-one-family-out: never fitted on, never selected on
    for name, folder in (("train", cfg.data.train_dir), ("val", cfg.data.val_dir)):
        ds = build_dataset(folder, cfg.sequence, cfg.image, cfg.augmentation, False,
                           cache=cfg.data.cache, held_out_families=held_out)  # no augmentation
        absent = [family for family in held_out if name == "train" and family not in ds.held_out]
        if absent:
            raise DataError(f"held-out family {absent[0]!r} names no fake item of the training split",
                            "data.held_out_families", "name families of the training split's fakes (its manifest's "
                            "family column, or the item name before '__')")
        if not both_classes(ds.labels):
            raise DataError(f"fitting model.temporal={cfg.model.temporal} needs real and fake items in the {name} "
                            "split", folder, "put items under real/ and fake/ of both splits")
        splits[name] = DataLoader(ds, batch_size=cfg.inference.batch_size, shuffle=False, num_workers=workers)
    shape = (1, cfg.sequence.length, cfg.image.channels, cfg.image.height, cfg.image.width)
    tqdm.write(f"model: {summarize(model, shape)} | device {device} | training-free: no optimisation, the head is "
               f"fitted on {len(splits['train'].dataset)} train windows, the threshold on {len(splits['val'].dataset)} "
               "val windows")

    spreads, labels = embed_windows(model, splits["train"], device, progress)
    try:
        fitted = model.fit_direction(spreads[:, 0], labels)
    except ValueError as exc:
        raise DataError(str(exc), cfg.data.train_dir, "check that the training split holds varied real and "
                        "fake videos") from None
    scored = score_loader(model, splits["val"], device, progress=False)
    tcfg = cfg.training  # the same temperature and threshold rule as a trained model's checkpoint
    decision, calibration, threshold = decide(scored.labels, scored.logits, tcfg.threshold, tcfg.target_fpr,
                                              tcfg.temperature_scaling)
    val = binary_metrics(scored.labels, scored.probs, threshold)
    row = {"epoch": 0, "train_loss": float("nan"), "train_acc": float("nan"), "val_loss": scored.loss,
           "val_acc": val["accuracy"], "val_auc": val["roc_auc"], "lr": 0.0, "skipped_steps": 0,
           "seconds": time.perf_counter() - t0, "threshold": threshold,
           **{f"fit_{k}": v for k, v in fitted.items()}}
    side = "more" if fitted["direction"] > 0 else "less"
    tqdm.write(f"fitted on train: {side} second-order spread = fake (train ROC-AUC of the raw spread "
               f"{fitted['train_auc']:.4f}) | val AUC {val['roc_auc']:.4f} | threshold {threshold:.3f} | "
               f"{row['seconds']:.1f}s")

    metrics = {f"val_{k}": v for k, v in val.items()}
    best_path, last_path = run_ckpt_dir / "best.pth", run_ckpt_dir / "last.pth"
    extra = dict(history=[row], run_name=run_name, training_free=fitted, decision=decision.to_dict(),
                 calibration=calibration.to_dict())
    save_checkpoint(model, None, 0, best_path, config=cfg, metrics=metrics, threshold=threshold, **extra)
    atomic_copy(best_path, last_path)
    if publish_best is not None:
        atomic_copy(best_path, publish_best)
    history = pd.DataFrame([row])
    write_text(run_ckpt_dir / "history.csv", history.to_csv(index=False))
    with SummaryWriter(str(run_log_dir)) as writer:
        for key in ("val_auc", "val_acc", "val_loss", "threshold"):
            writer.add_scalar(key.replace("_", "/", 1), row[key], 0)
    return dict(history=history, best_path=best_path, last_path=last_path, best_epoch=0, best_metrics=metrics,
                threshold=threshold, log_dir=run_log_dir, decision=decision)


def is_training_free(cfg: Config) -> bool:
    """Whether `cfg`'s model has nothing to optimise (its class says `training_free = True`)."""
    return bool(getattr(MODELS[cfg.model.temporal], "training_free", False))

