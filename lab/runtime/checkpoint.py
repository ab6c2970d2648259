"""Self-describing checkpoints: weights + full config + epoch + metrics + threshold + class names.

Written atomically (`lab.outputs.atomic_write`: temp file in the same folder, fsync, rename, fsync of the folder)
so a crash, a kill or a full disk during a save never leaves a torn file: the previous file stays whole. Read with
`torch.load(weights_only=True)`: only tensors and plain containers, never pickled code.
Loading a checkpoint rebuilds its model with no other input (`load_model`).
"""
from __future__ import annotations

import pickle
import random
import re
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from lab._version import __version__
from lab.config import Config, from_dict
from lab.errors import CheckpointError, LabError
from lab.outputs import atomic_write
from lab.runtime.device import prepare_model

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
    """`torch.save(obj)` into `path` through the one atomic writer."""
    return atomic_write(path, lambda fh: torch.save(obj, fh))


def rng_state() -> dict[str, Any]:
    """Every RNG a training step touches, in weights_only-safe types (tensors, tuples, ints)."""
    name, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": (name, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(cached)),
        "python": random.getstate(),
    }
    if torch.cuda.is_available():  # one state per visible device, keyed by its index
        state["cuda_by_device"] = {str(i): torch.cuda.get_rng_state(i) for i in range(torch.cuda.device_count())}
    return state


def set_rng_state(state: dict[str, Any]) -> list[int]:
    """Restore every RNG `rng_state` saved. CUDA states go to the devices that exist here, one by one; returns
    the saved device indices that have no device here now (a run resumed on fewer GPUs)."""
    torch.set_rng_state(state["torch"])
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    saved = state.get("cuda_by_device") or {str(i): s for i, s in enumerate(state.get("cuda") or ())}  # old: a list
    present = torch.cuda.device_count() if torch.cuda.is_available() else 0
    for index, cuda_state in saved.items():
        if int(index) < present:
            torch.cuda.set_rng_state(cuda_state, int(index))
    return sorted(int(i) for i in saved if int(i) >= present)


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
    if path.is_dir():
        raise CheckpointError("checkpoint path is a folder", path, "pass a .pth file, e.g. checkpoints/<run>/best.pth")
    if not path.is_file():
        raise CheckpointError("checkpoint not found", path,
                              "train one first (make demo or train.py) or pass --checkpoint PATH")
    if path.stat().st_size == 0:
        raise CheckpointError("checkpoint is an empty file", path, "re-train, or resume from another checkpoint")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        code = re.search(r"GLOBAL ([\w.]+)", str(exc))
        if code is None:  # not a refusal of code: a torn or foreign file
            lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
            reason = next((line for line in lines if line.startswith(("Unsupported", "invalid"))), lines[0][:80])
            raise CheckpointError(f"checkpoint is truncated or corrupt, {reason}", path,
                                  "re-train, or resume from another checkpoint (last.pth or best.pth)") from None
        raise CheckpointError(f"checkpoint refused: it refers to Python code ({code.group(1)}), which could run "
                              "when loaded, so weights_only loading stopped before running anything", path,
                              "use a checkpoint written by convlstm-lab, or re-save the weights as a plain "
                              "state dict from code you trust") from None
    except (RuntimeError, zipfile.BadZipFile, EOFError, ValueError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"checkpoint is truncated or corrupt, {reason[:120].rstrip('.')}", path,
                              "re-train, or resume from another checkpoint (last.pth or best.pth)") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        found = ckpt.get("format") if isinstance(ckpt, dict) else type(ckpt).__name__
        raise CheckpointError(f"not a convlstm-lab checkpoint, format {found!r}", path,
                              "pass a checkpoint written by convlstm-lab training or save_checkpoint")
    return ckpt


def checkpoint_config(ckpt: dict[str, Any], path: str | Path = "<checkpoint>") -> Config:
    if ckpt.get("config") is None:
        raise CheckpointError("checkpoint holds no config, so its model cannot be rebuilt", path,
                              "save it with save_checkpoint(..., config=cfg)")
    try:
        return from_dict(ckpt["config"])
    except LabError as exc:
        raise CheckpointError(f"checkpoint holds a config this version cannot read, {exc}", path,
                              "load it with the convlstm-lab version that wrote it") from None


def state_dict_difference(expected: dict[str, torch.Tensor], found: dict[str, Any]) -> str:
    """What differs between a model's state dict and a checkpoint's: missing, unexpected and reshaped keys."""
    missing = [k for k in expected if k not in found]
    unexpected = [k for k in found if k not in expected]
    reshaped = [f"{k} {list(found[k].shape)} in the file, {list(v.shape)} here" for k, v in expected.items()
                if k in found and hasattr(found[k], "shape") and tuple(found[k].shape) != tuple(v.shape)]
    parts = []
    for label, keys in (("missing from the file", missing), ("not in this model", unexpected),
                        ("of another shape", reshaped)):
        if keys:
            parts.append(f"{len(keys)} key(s) {label}, e.g. {'; '.join(keys[:2])}")
    return ", ".join(parts) or "no key differs"


def load_checkpoint(
    path: str | Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
) -> dict[str, Any]:
    """Load weights (and optimizer state) into existing objects; returns the whole checkpoint dict."""
    ckpt = read_checkpoint(path)
    net = unwrap(model)
    try:
        net.load_state_dict(ckpt["model"])
    except RuntimeError:
        raise CheckpointError(f"checkpoint was built for another architecture, "
                              f"{state_dict_difference(net.state_dict(), ckpt['model'])}", path,
                              "load it with its own config (drop --set model.* overrides) or pass a matching "
                              "checkpoint") from None
    if optimizer is not None and ckpt.get("optimizer") is not None:
        optimizer.load_state_dict(ckpt["optimizer"])
    return ckpt


def load_model(
    path: str | Path,
    device: str | torch.device = "cpu",
    overrides: tuple[str, ...] | list[str] = (),
) -> tuple[nn.Module, Config, dict[str, Any]]:
    """Rebuild the checkpoint's model from its own config (plus run-time overrides), in eval mode; on CUDA in
    channels_last memory format when its config trained that way (`training.channels_last`)."""
    from lab.models.classifier import build_model  # model imports torchvision; keep this module light

    ckpt = read_checkpoint(path)
    cfg = checkpoint_config(ckpt, path)
    if overrides:
        cfg = cfg.replace(*overrides)
    # Weights come from the checkpoint: never fetch pretrained backbone weights to be overwritten.
    model = build_model(cfg.replace("model.pretrained=false").model)
    load_checkpoint(path, model)
    model = prepare_model(model, torch.device(device), channels_last=cfg.training.channels_last, compile=False)
    return model.eval(), cfg, ckpt
