"""User-facing errors: problems caused by the user's input (a file, a key, a value) or their machine (a full disk).

Every message has one shape, `<what> (<which file or key>): <what to do>`, built from three parts:

    raise DataError("video cannot be opened", path, "re-encode it with ffmpeg or remove it")

The CLI prints a `LabError` as that one line after `error: ` and exits 2; anything else is a bug and keeps
its traceback. A single string is still accepted (a DataLoader worker re-raises errors that way).
"""
from __future__ import annotations

import os


class LabError(Exception):
    """An error the user can fix; its message names the file or key and what to do."""

    def __init__(self, what: str, where: str | os.PathLike | None = None, fix: str | None = None):
        self.what, self.where, self.fix = what, where, fix
        text = what if where is None else f"{what} ({os.fspath(where) if isinstance(where, os.PathLike) else where})"
        super().__init__(text if fix is None else f"{text}: {fix}")


class ConfigError(LabError):
    """A bad configuration key, type or value."""


class DataError(LabError):
    """Missing, unreadable or malformed data (frames, videos, dataset folders)."""


class CheckpointError(LabError):
    """A checkpoint that is missing, corrupt or incompatible."""


class StorageError(LabError):
    """A folder that cannot be written, a full disk, or a result that would overwrite another."""


class TrainingError(LabError):
    """Training cannot go on (a non-finite loss); the last good checkpoint is kept."""
