"""Where results go and how they are written: the one output-folder policy, atomic writer and figure saver.

1. The target folder is checked writable before the long work starts (`ensure_writable`), so an unwritable
   `checkpoints/`, `logs/` or `reports/` fails in the first second, not after an epoch.
2. A target that already holds a result is refused, naming the folder, unless the caller asked for
   `--overwrite` (`overwrite=True`), which replaces it; continuing the same run (`--resume`) is not an overwrite.
   (`lab prepare` checks its own OUT: it resumes into a folder it wrote with the same settings, refuses any other.)
3. Every result file is written atomically (`atomic_write`: a temp file beside the target, fsync, rename, fsync
   of the folder), so a crash, a kill or a full disk leaves the previous file whole and no temp file behind.
   Text, bytes and matplotlib figures go through it (`write_text`, `write_bytes`, `save_figure`); an encoder
   that opens the file itself writes a temp path that is renamed the same way (`atomic_path`).
"""
from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Callable, Iterator

from lab.errors import LabError, StorageError

RUN_FILES = ("best.pth", "last.pth", "history.csv")
EVENTS_GLOB = "events.out.tfevents.*"
TEMP_GLOB = ".*.tmp"  # what atomic writes leave behind when a process is killed mid-write
FIGURE_DPI = 110

_DISK_ERRORS = {errno.ENOSPC: "no space left on the device", errno.EDQUOT: "disk quota exceeded",
                errno.EFBIG: "file too large for this file system"}


# ------------------------------------------------------------------------------------------ atomic writes


def _write_failed(exc: OSError, path: Path) -> LabError:
    """The one-line error for a failed atomic write: the previous file is untouched, say so."""
    what = _DISK_ERRORS.get(exc.errno) or exc.strerror or type(exc).__name__
    kept = "the previous file is intact" if path.exists() else "nothing was written"
    return StorageError(f"{what} while writing, {kept}", path,
                        "free space or choose another folder; a training run continues with --resume <run>/last.pth")


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable (a power cut after os.replace could otherwise lose it)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - some file systems refuse fsync on folders
        pass
    finally:
        os.close(fd)


class _Recording:
    """A binary file that remembers the OSError of a failed write (torch's zip writer hides it)."""

    def __init__(self, raw):
        self.raw, self.error = raw, None

    def write(self, data) -> int:
        try:
            return self.raw.write(data)
        except OSError as exc:
            self.error = exc
            raise

    def flush(self) -> None:
        self.raw.flush()


def _temp_beside(path: Path) -> tuple[int, str]:
    """An open temp file in `path`'s folder (created if needed), named `.<name>.<random>.tmp` (TEMP_GLOB)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; a result should be as readable as any file
    return fd, tmp


def _discard(tmp: str, path: Path, exc: BaseException, os_error: OSError | None) -> None:
    """After a failed write: remove the temp file; a full disk becomes a StorageError naming `path`."""
    Path(tmp).unlink(missing_ok=True)
    if os_error is not None and os_error.errno in _DISK_ERRORS:
        raise _write_failed(os_error, path) from exc


def atomic_write(path: str | Path, write: Callable) -> Path:
    """Call `write(binary_file)` on a temp file beside `path`, fsync, then rename it over `path` and fsync the
    folder. `path` is always either the old file or the whole new one; on any failure the temp file is removed
    (and a full disk is reported as a StorageError naming `path`)."""
    path = Path(path)
    fd, tmp = _temp_beside(path)
    fh = None
    try:
        with os.fdopen(fd, "wb") as raw:
            fh = _Recording(raw)
            write(fh)
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        # torch.save turns a failed write into RuntimeError("unexpected pos ..."): the recorded OSError says why.
        _discard(tmp, path, exc, exc if isinstance(exc, OSError) else getattr(fh, "error", None))
        raise
    _fsync_folder(path.parent)
    return path


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """`atomic_write` for writers that need a file name (an encoder that opens the file itself): the block
    writes the yielded temp path; when it ends the file is fsynced and renamed over `path`, and on any failure
    it is removed."""
    path = Path(path)
    fd, tmp = _temp_beside(path)
    os.close(fd)
    try:
        yield Path(tmp)
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException as exc:
        _discard(tmp, path, exc, exc if isinstance(exc, OSError) else None)
        raise
    _fsync_folder(path.parent)


def write_bytes(path: str | Path, data: bytes) -> Path:
    """`data` into `path`, atomically."""
    return atomic_write(path, lambda fh: fh.write(data))


def write_text(path: str | Path, text: str) -> Path:
    """`text` (UTF-8) into `path`, atomically."""
    return write_bytes(path, text.encode("utf-8"))


def atomic_copy(src: str | Path, dst: str | Path) -> Path:
    """Copy a file so that `dst` is either the old file or the whole new one, never a torn copy."""
    def copy(fh) -> None:
        with open(src, "rb") as source:
            shutil.copyfileobj(source, fh, 1 << 20)

    out = atomic_write(dst, copy)
    shutil.copymode(src, out)
    return out


def remove_stale_temps(folder: str | Path) -> list[Path]:
    """Delete temp files that a killed atomic write left in `folder` (never the finished files)."""
    stale = [p for p in Path(folder).glob(TEMP_GLOB) if p.is_file()] if Path(folder).is_dir() else []
    for p in stale:
        p.unlink(missing_ok=True)
    return stale


def save_figure(fig, path: str | Path, dpi: int = FIGURE_DPI) -> Path:
    """Write a matplotlib figure to `path` atomically, in the format its suffix names (.png, .pdf, .svg)."""
    buffer = io.BytesIO()  # rendered in memory first, then written like any other result
    fig.savefig(buffer, format=Path(path).suffix.lstrip(".") or "png", dpi=dpi)
    return write_bytes(path, buffer.getvalue())


# ------------------------------------------------------------------------------------------ output folders


def ensure_writable(folder: str | Path, what: str, flag: str) -> Path:
    """Create `folder` if needed and prove a file can be written in it; StorageError naming it otherwise."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise StorageError(f"the {what} folder is a file", folder, f"choose a folder with {flag}")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise StorageError(f"cannot write to the {what} folder, {exc.strerror or exc}", folder,
                           f"choose a writable folder with {flag} or fix its permissions") from None
    return folder


def claim_run_folders(checkpoint_dir: str | Path, log_dir: str | Path, *, resume: str | Path | None,
                      overwrite: bool) -> None:
    """Before training: both folders writable, and neither holds another run's results unless this run
    resumes from a checkpoint inside `checkpoint_dir` or `overwrite` clears them."""
    checkpoint_dir, log_dir = Path(checkpoint_dir), Path(log_dir)
    continuing = resume is not None and Path(resume).resolve().parent == checkpoint_dir.resolve()
    found = [checkpoint_dir / f for f in RUN_FILES if (checkpoint_dir / f).is_file()]
    found += sorted(log_dir.glob(EVENTS_GLOB))[:1] if log_dir.is_dir() else []
    if found and not continuing:
        if not overwrite:
            raise StorageError(f"run folder already holds a run ({', '.join(p.name for p in found)})", found[0].parent,
                               f"continue it with --resume {checkpoint_dir / 'last.pth'}, replace it with --overwrite, "
                               "or pick another --run-name")
        for path in [checkpoint_dir / f for f in RUN_FILES] + list(log_dir.glob(EVENTS_GLOB)):
            path.unlink(missing_ok=True)
        shutil.rmtree(log_dir / "hparams", ignore_errors=True)
    ensure_writable(checkpoint_dir, "checkpoint", "--checkpoint-dir")
    ensure_writable(log_dir, "log", "--log-dir")


def claim_report_folder(out: str | Path, *, checkpoint: str | Path, data_dir: str | Path, overwrite: bool) -> Path:
    """Before evaluating: `out` writable, and not holding a report of another checkpoint or split unless
    `overwrite`. A report of the same checkpoint on the same data is the same evaluation run again: it is
    replaced, with a warning that says so."""
    out = Path(out)
    previous = out / "metrics.json"
    if previous.is_file() and not overwrite:
        try:
            meta = json.loads(previous.read_text())
        except (OSError, ValueError):
            meta = {}
        same = (_same_path(meta.get("checkpoint"), checkpoint) and _same_path(meta.get("data_dir"), data_dir))
        if not same:
            raise StorageError(f"report folder already holds the report of {meta.get('checkpoint', 'another run')} "
                               f"on {meta.get('data_dir', 'other data')}", out,
                               "pass --out ANOTHER_FOLDER, or --overwrite to replace it")
        warnings.warn(f"replacing the earlier report of the same checkpoint and data in {out}", stacklevel=2)
    return ensure_writable(out, "report", "--out")


def _same_path(recorded, current) -> bool:
    return recorded is not None and Path(recorded).resolve() == Path(current).resolve()
