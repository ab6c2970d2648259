"""Device resolution and the GPU fast path: autocast dtype, GradScaler, channels_last, torch.compile."""
from __future__ import annotations

import contextlib
import sys
from dataclasses import dataclass

import torch

from lab.errors import ConfigError


def resolve_device(name: str) -> torch.device:
    """`auto` picks CUDA, then MPS, then CPU. An explicit accelerator that is missing falls back to
    CPU with a one-line notice on stderr (the seed's config says `cuda`; laptops and CI have none)."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"unknown device {name!r}", "device", "use cpu, cuda, cuda:N, mps or auto") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        print(f"notice: device '{name}' requested but CUDA is not available; running on cpu "
              "(set device=cpu or device=auto to silence this)", file=sys.stderr)
        return torch.device("cpu")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise ConfigError(f"{name!r} does not exist, this machine has {torch.cuda.device_count()} CUDA device(s)",
                          "device", "pick an index below that, or use cuda or auto")
    if device.type == "mps" and not torch.backends.mps.is_available():
        print(f"notice: device '{name}' requested but MPS is not available; running on cpu", file=sys.stderr)
        return torch.device("cpu")
    return device


@dataclass(frozen=True)
class Precision:
    """How a step runs on `device`: autocast dtype (None = fp32) and whether fp16 needs a GradScaler."""

    device_type: str
    dtype: torch.dtype | None

    @classmethod
    def choose(cls, device: torch.device, amp: bool) -> "Precision":
        if not amp or device.type != "cuda":
            return cls(device.type, None)
        # Native bf16 only (Ampere and later): V100 / T4 emulate it slowly and get fp16 with a GradScaler.
        native = torch.cuda.is_bf16_supported(including_emulation=False)
        return cls("cuda", torch.bfloat16 if native else torch.float16)

    @property
    def needs_scaler(self) -> bool:
        return self.dtype is torch.float16

    def autocast(self):
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device_type, dtype=self.dtype)

    def __str__(self) -> str:
        return "fp32" if self.dtype is None else str(self.dtype).replace("torch.", "")


def use_fast_kernels(device: torch.device, deterministic: bool) -> None:
    """On CUDA, let cuDNN time its convolution algorithms once per input shape and keep the fastest
    (`cudnn.benchmark`): training shapes are fixed. Not under `training.deterministic`, which needs cuDNN's
    deterministic algorithms instead."""
    if device.type == "cuda" and not deterministic:
        torch.backends.cudnn.benchmark = True


def prepare_model(model: torch.nn.Module, device: torch.device, *, channels_last: bool, compile: bool):
    """Move to device; on CUDA optionally use channels_last memory format and torch.compile."""
    model = model.to(device)
    if device.type == "cuda" and channels_last:
        model = model.to(memory_format=torch.channels_last)
    if device.type == "cuda" and compile:
        model = torch.compile(model)
    return model


def module_device(model: torch.nn.Module) -> torch.device:
    """Where `model` lives: its first parameter's or buffer's device, CPU for a module that has neither (the
    training-free D3 baseline on a pixel grid holds no tensors at all)."""
    for tensor in (*model.parameters(), *model.buffers()):
        return tensor.device
    return torch.device("cpu")
