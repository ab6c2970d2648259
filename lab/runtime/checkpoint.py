"""Self-describing checkpoints: weights + full config + epoch + metrics + threshold + class names.

Written atomically (temp file in the same folder, fsync, rename) so a crash never leaves a torn file,
and read with `torch.load(weights_only=True)`: only tensors and plain containers, never pickled code.
Loading a checkpoint rebuilds its model with no other input (`load_model`).
"""
from __future__ import annotations

import os
import pickle
import random
import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from lab._version import __version__
from lab.config import Config, from_dict
from lab.errors import CheckpointError, LabError

FORMAT = "convlstm-lab/1"
CLASS_NAMES = ("real", "fake")


def unwrap(model: nn.Module) -> nn.Module:
    """The plain module under DistributedDataParallel and/or torch.compile wrappers."""
    while True:
        if hasattr(model, "_orig_mod"):
            model = model._orig_mod
        elif isinstance(model, nn.parallel.DistributedDataParallel):
            model = model.module
        else:
            return model


def atomic_save(obj: Any, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; a checkpoint should be as readable as any file
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save(obj, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_copy(src: str | Path, dst: str | Path) -> Path:
    """Copy a file so that `dst` is either the old file or the whole new one, never a torn copy."""
    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dst.name}.", suffix=".tmp", dir=dst.parent)
    os.close(fd)
    try:
        shutil.copyfile(src, tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        shutil.copymode(src, tmp)
        os.replace(tmp, dst)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return dst


def rng_state() -> dict[str, Any]:
    """Every RNG a training step touches, in weights_only-safe types (tensors, tuples, ints)."""
    name, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": (name, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(cached)),
        "python": random.getstate(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None,
    epoch: int,
    path: str | Path,
    *,
    config: Config | None = None,
    metrics: dict[str, float] | None = None,
    threshold: float = 0.5,
    **extra: Any,
) -> Path:
    """Write a self-describing checkpoint atomically. `extra` holds resume state (scheduler, rng, ...).

    `config` defaults to the model's own section (`model.cfg`) inside an otherwise default Config, so the
    seed's `save_checkpoint(model, optimizer, epoch, path)` still writes a file `load_model` can rebuild.
    """
    if config is None:
        model_cfg = getattr(unwrap(model), "cfg", None)
        config = Config(model=model_cfg) if model_cfg is not None else None
    payload = {
        "format": FORMAT,
        "lab_version": __version__,
        "torch_version": str(torch.__version__),  # TorchVersion is not weights_only-loadable
        "model": unwrap(model).state_dict(),
        "config": config.to_dict() if config is not None else None,
        "epoch": int(epoch),
        "metrics": {k: float(v) for k, v in (metrics or {}).items()},
        "threshold": float(threshold),
        "class_names": list(CLASS_NAMES),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        **extra,
    }
    return atomic_save(payload, path)


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """The raw checkpoint dict, loaded with weights_only=True; clear errors for missing/corrupt files."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint '{path}' not found: train one first (make demo or train.py) "
                              "or pass --checkpoint PATH")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, pickle.UnpicklingError, zipfile.BadZipFile, EOFError, ValueError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"checkpoint '{path}' is unreadable or corrupt ({reason[:160]}): "
                              "re-train or pass another file") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise CheckpointError(f"checkpoint '{path}' is not a convlstm-lab checkpoint (format "
                              f"{ckpt.get('format') if isinstance(ckpt, dict) else type(ckpt).__name__!r})")
    return ckpt


def checkpoint_config(ckpt: dict[str, Any], path: str | Path = "<checkpoint>") -> Config:
    if ckpt.get("config") is None:
        raise CheckpointError(f"checkpoint '{path}' holds no config, so its model cannot be rebuilt: "
                              "save it with save_checkpoint(..., config=cfg)")
    try:
        return from_dict(ckpt["config"])
    except LabError as exc:
        raise CheckpointError(f"checkpoint '{path}' holds a config this version cannot read: {exc}") from None


def load_checkpoint(
    path: str | Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
) -> dict[str, Any]:
    """Load weights (and optimizer state) into existing objects; returns the whole checkpoint dict."""
    ckpt = read_checkpoint(path)
    try:
        unwrap(model).load_state_dict(ckpt["model"])
    except RuntimeError as exc:
        raise CheckpointError(f"checkpoint '{path}' does not fit this model: "
                              f"{str(exc).splitlines()[0][:200]}") from None
    if optimizer is not None and ckpt.get("optimizer") is not None:
        optimizer.load_state_dict(ckpt["optimizer"])
    return ckpt


def load_model(
    path: str | Path,
    device: str | torch.device = "cpu",
    overrides: tuple[str, ...] | list[str] = (),
) -> tuple[nn.Module, Config, dict[str, Any]]:
    """Rebuild the checkpoint's model from its own config (plus run-time overrides), in eval mode."""
    from lab.models.classifier import build_model  # model imports torchvision; keep this module light

    ckpt = read_checkpoint(path)
    cfg = checkpoint_config(ckpt, path)
    if overrides:
        cfg = cfg.replace(*overrides)
    # Weights come from the checkpoint: never fetch pretrained backbone weights to be overwritten.
    model = build_model(cfg.replace("model.pretrained=false").model)
    load_checkpoint(path, model)
    return model.to(device).eval(), cfg, ckpt
