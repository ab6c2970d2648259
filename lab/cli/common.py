"""What every command shares: the error contract, the argument parser and the common flags.

A mistake in the user's input (a file, a key, a value, a flag) or a fault of the machine the user can fix (a
full disk, an unwritable folder) prints one line `error: <what> (<which file or key>): <what to do>` and exits
2; `--debug` shows the traceback instead. Warnings print as one `warning: ...` line each. Anything else is a
bug and keeps its traceback.
"""
from __future__ import annotations

import argparse
import errno
import sys
import warnings
from typing import Callable, NoReturn

from lab.errors import ConfigError, LabError, StorageError

DEFAULT_DATA_CONFIG = "config/data_config.yaml"
DEFAULT_MODEL_CONFIG = "config/model_config.yaml"


# OS errors that mean "your machine or your path", not "a bug": reported like LabErrors.
_USER_OS_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS, errno.EFBIG, errno.ENOTDIR,
                   errno.EISDIR, errno.EEXIST, errno.ENAMETOOLONG}


class ArgumentParser(argparse.ArgumentParser):
    """argparse with the one-line error contract: a bad flag exits 2 with `error: ... (flag): see --help`. Flags
    are never abbreviated (`allow_abbrev=False`), so a mistyped `--split` is refused, not read as `--splits`;
    subcommand parsers are of this class too."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        flag = message.split("argument ", 1)[1].split(":", 1)[0] if message.startswith("argument ") else self.prog
        what = message.split(": ", 1)[1] if message.startswith("argument ") and ": " in message else message
        self.exit(2, f"error: {what} ({flag}): see {self.prog} --help\n")


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"warning: {' '.join(str(message).split())}", file=file or sys.stderr)


def guard(fn: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """Run a command's handler under the error contract; returns its exit status."""
    debug = getattr(args, "debug", False)
    with warnings.catch_warnings():
        if not debug:
            warnings.showwarning = _show_warning  # restored by catch_warnings on the way out
        try:
            return fn(args) or 0
        except LabError as exc:
            if debug:
                raise
            _print_error(_one_line(exc))
            return 2
        except OSError as exc:
            if debug or exc.errno not in _USER_OS_ERRORS:
                raise
            where = exc.filename or "a file this command writes or reads"
            _print_error(str(StorageError(exc.strerror or str(exc), where,
                                          "check the path, its permissions and the free space")))
            return 2
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            return 130


def _print_error(message: str) -> None:
    """The error line on its own line: tqdm.write first clears a progress bar the failure left on stderr."""
    from tqdm.auto import tqdm

    tqdm.write(f"error: {message}", file=sys.stderr)


def _one_line(exc: Exception) -> str:
    """The message itself; a DataLoader worker re-raises ours wrapped in its traceback, whose last line it is."""
    text = str(exc).strip()
    if "\n" not in text:
        return text
    last = text.splitlines()[-1]
    return last.split(": ", 1)[1] if last.startswith(("lab.errors.", "Caught ")) and ": " in last else last


def add_common_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key, e.g. --set training.batch_size=4 (repeatable)")
    p.add_argument("--device", help="cpu, cuda, cuda:N, mps or auto (overrides the config's device)")
    p.add_argument("--debug", action="store_true", help="show tracebacks for input errors")


def add_config_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", action="append", metavar="YAML",
                   help=f"model config or overlay, repeatable, later wins (default {DEFAULT_MODEL_CONFIG})")
    p.add_argument("--data-config", metavar="YAML",
                   help=f"data config loaded first (default {DEFAULT_DATA_CONFIG})")


def config_overrides(args: argparse.Namespace) -> list[str]:
    """The --set overrides, and --device as one more."""
    extra = [f"device={args.device}"] if getattr(args, "device", None) else []
    return list(args.overrides) + extra


def load_cli_config(args: argparse.Namespace):
    """The config the --data-config/--config/--set/--device (and --epochs) flags name."""
    from lab.config import load_config

    paths = [args.data_config or DEFAULT_DATA_CONFIG] + (args.config or [DEFAULT_MODEL_CONFIG])
    overrides = config_overrides(args)
    if getattr(args, "epochs", None) is not None:
        overrides.append(f"training.epochs={args.epochs}")
    return load_config(*paths, overrides=overrides)


# ---------------------------------------------------------------------------------- scoring commands


def add_eval_flags(p: argparse.ArgumentParser) -> None:
    """The flags of the commands that score with a checkpoint (eval, predict, test.py)."""
    p.add_argument("--checkpoint", default="checkpoints/best.pth", help="a checkpoint written by training")
    p.add_argument("--data_dir", "--data-dir", dest="data_dir", help="split folder with real/ and fake/ "
                   "(default: the checkpoint's data.test_dir)")
    p.add_argument("--out", help="report folder (default reports/<checkpoint's run>/<split>)")
    p.add_argument("--overwrite", action="store_true", help="replace a report of another checkpoint or split in --out")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--threshold", type=float, metavar="P",
                   help="call fake at calibrated P(fake) >= P instead of the checkpoint's stored threshold")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--no-shortcuts", action="store_true", help="skip the shortcut checks (trivial predictors and "
                   "a second, frame-shuffled scoring pass)")


def load_for_scoring(args: argparse.Namespace):
    """The checkpoint's model (with --set/--device applied) on its device: (model, cfg, ckpt, device, precision)."""
    from lab.runtime.checkpoint import load_model
    from lab.runtime.device import Precision, prepare_model, resolve_device

    model, cfg, ckpt = load_model(args.checkpoint, "cpu", config_overrides(args))
    device = resolve_device(cfg.device)
    model = prepare_model(model, device, channels_last=cfg.training.channels_last, compile=False)
    return model, cfg, ckpt, device, Precision.choose(device, cfg.training.amp)


def decision_for(args: argparse.Namespace, ckpt: dict):
    """The checkpoint's temperature and threshold, or its temperature with the --threshold override."""
    from lab.scoring.decision import checkpoint_decision

    decision = checkpoint_decision(ckpt)
    if getattr(args, "threshold", None) is None:
        return decision
    if not 0.0 <= args.threshold <= 1.0:
        raise ConfigError(f"{args.threshold} is not a probability", "--threshold", "give a value in [0, 1]")
    return decision.overridden(args.threshold)
