"""User-facing errors: problems caused by the user's input (a file, a key, a value).

The CLI prints a `LabError` as one line and exits non-zero; anything else is a bug and keeps its traceback.
"""
from __future__ import annotations


class LabError(Exception):
    """An error the user can fix; its message names the file or key and what to do."""


class ConfigError(LabError):
    """A bad configuration key, type or value."""


class DataError(LabError):
    """Missing, unreadable or malformed data (frames, videos, dataset folders)."""


class CheckpointError(LabError):
    """A checkpoint that is missing, corrupt or incompatible."""
