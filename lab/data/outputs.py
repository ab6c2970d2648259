"""Where results go. One policy for every command that writes a result (`lab synth`, `lab extract`, training,
evaluation reports; `lab prepare` checks its own: it resumes into an OUT it wrote with the same settings and
refuses any other):

1. The target folder is checked writable before the long work starts (`ensure_writable`), so an unwritable
   `checkpoints/`, `logs/` or `reports/` fails in the first second, not after an epoch.
2. A target that already holds a result is refused, naming the folder, unless the caller asked for
   `--overwrite` (`overwrite=True`), which replaces it; continuing the same run (`--resume`) is not an overwrite.
3. Files are written atomically (temp file + rename, `lab.runtime.checkpoint.atomic_write`), so a kill or a
   full disk leaves the previous file whole.
"""
from __future__ import annotations

import json
import shutil
import tempfile
import warnings
from pathlib import Path

from lab.errors import StorageError

RUN_FILES = ("best.pth", "last.pth", "history.csv")
EVENTS_GLOB = "events.out.tfevents.*"


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
