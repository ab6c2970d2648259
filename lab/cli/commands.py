"""Command line: `lab <command>` and the seed's `python train.py` / `python test.py` entry points.

A mistake in the user's input (a file, a key, a value, a flag) or a fault of the machine the user can fix (a
full disk, an unwritable folder) prints one line `error: <what> (<which file or key>): <what to do>` and exits
2; `--debug` shows the traceback instead. Warnings print as one `warning: ...` line each. Anything else is a
bug and keeps its traceback.
"""
from __future__ import annotations

import argparse
import errno
import os
import sys
import warnings
from pathlib import Path
from typing import Callable, NoReturn, Sequence

from lab.errors import ConfigError, LabError, StorageError

DEFAULT_DATA_CONFIG = "config/data_config.yaml"
DEFAULT_MODEL_CONFIG = "config/model_config.yaml"


# OS errors that mean "your machine or your path", not "a bug": reported like LabErrors.
_USER_OS_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS, errno.EFBIG, errno.ENOTDIR,
                   errno.EISDIR, errno.EEXIST, errno.ENAMETOOLONG}


class ArgumentParser(argparse.ArgumentParser):
    """argparse with the one-line error contract: a bad flag exits 2 with `error: ... (flag): see --help`."""

    def error(self, message: str) -> NoReturn:
        flag = message.split("argument ", 1)[1].split(":", 1)[0] if message.startswith("argument ") else self.prog
        what = message.split(": ", 1)[1] if message.startswith("argument ") and ": " in message else message
        self.exit(2, f"error: {what} ({flag}): see {self.prog} --help\n")


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"warning: {' '.join(str(message).split())}", file=file or sys.stderr)


def guard(fn: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
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


def _overrides(args: argparse.Namespace) -> list[str]:
    extra = [f"device={args.device}"] if getattr(args, "device", None) else []
    return list(args.overrides) + extra


def load_cli_config(args: argparse.Namespace):
    from lab.config import load_config

    paths = [args.data_config or DEFAULT_DATA_CONFIG] + (args.config or [DEFAULT_MODEL_CONFIG])
    overrides = _overrides(args)
    if getattr(args, "epochs", None) is not None:
        overrides.append(f"training.epochs={args.epochs}")
    return load_config(*paths, overrides=overrides)


# ------------------------------------------------------------------------------------------------ train


def train_parser(prog: str = "train.py") -> argparse.ArgumentParser:
    p = ArgumentParser(prog=prog, description="Train a ConvLSTM deepfake detector.")
    add_config_flags(p)
    p.add_argument("--epochs", type=int, help="override training.epochs")
    p.add_argument("--run-name", default=None, help="name under checkpoints/ and logs/ (default: config stem)")
    p.add_argument("--resume", metavar="PATH", help="continue from a last.pth/best.pth checkpoint (mid-epoch ones too)")
    p.add_argument("--overwrite", action="store_true", help="replace the results of an earlier run of this name")
    p.add_argument("--checkpoint-dir", default="checkpoints")
    p.add_argument("--log-dir", default="logs")
    p.add_argument("--no-progress", action="store_true", help="no tqdm bars")
    add_common_flags(p)
    return p


def cmd_train(args: argparse.Namespace) -> int:
    from lab.runtime.checkpoint import checkpoint_config, read_checkpoint
    from lab.training.loop import fit

    if args.resume:
        if args.config or args.data_config:
            raise ConfigError("--resume takes the config from the checkpoint", "--config/--data-config",
                              "drop them and change keys with --set")
        ckpt = read_checkpoint(args.resume)
        overrides = _overrides(args) + ([f"training.epochs={args.epochs}"] if args.epochs else [])
        cfg = checkpoint_config(ckpt, args.resume).replace(*overrides)
        run_name = args.run_name or ckpt.get("run_name") or Path(args.resume).parent.name
    else:
        cfg = load_cli_config(args)
        run_name = args.run_name or Path((args.config or [DEFAULT_MODEL_CONFIG])[-1]).stem
    result = fit(cfg, run_name=run_name, checkpoint_dir=args.checkpoint_dir, log_dir=args.log_dir,
                 resume=args.resume, publish_best=Path(args.checkpoint_dir) / "best.pth",
                 progress=not args.no_progress, overwrite=args.overwrite)
    if int(os.environ.get("RANK", "0")) != 0:  # under torchrun, rank 0 reports
        return 0
    print(f"best epoch {result.best_epoch}: val AUC {result.best_metrics.get('val_roc_auc', float('nan')):.4f}, "
          f"{result.decision.describe()}")
    print(f"checkpoints: {result.best_path} (also {Path(args.checkpoint_dir) / 'best.pth'}), {result.last_path}")
    print(f"TensorBoard: tensorboard --logdir {result.log_dir}")
    return 0


# ------------------------------------------------------------------------------------- evaluate / predict


def add_eval_flags(p: argparse.ArgumentParser) -> None:
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


def _load_for_scoring(args: argparse.Namespace):
    """The checkpoint's model (with --set/--device applied) on its device: (model, cfg, ckpt, device, precision)."""
    from lab.runtime.checkpoint import load_model
    from lab.runtime.device import Precision, prepare_model, resolve_device

    model, cfg, ckpt = load_model(args.checkpoint, "cpu", _overrides(args))
    device = resolve_device(cfg.device)
    model = prepare_model(model, device, channels_last=cfg.training.channels_last, compile=False)
    return model, cfg, ckpt, device, Precision.choose(device, cfg.training.amp)


def _decision(args: argparse.Namespace, ckpt: dict):
    """The checkpoint's temperature and threshold, or its temperature with the --threshold override."""
    from lab.scoring.decision import checkpoint_decision

    decision = checkpoint_decision(ckpt)
    if getattr(args, "threshold", None) is None:
        return decision
    if not 0.0 <= args.threshold <= 1.0:
        raise ConfigError(f"{args.threshold} is not a probability", "--threshold", "give a value in [0, 1]")
    return decision.overridden(args.threshold)


def cmd_eval(args: argparse.Namespace) -> int:
    import json

    from lab.outputs import claim_report_folder
    from lab.evaluation.evaluate import evaluate_split
    from lab.evaluation.report import default_report_dir, write_report

    model, cfg, ckpt, device, precision = _load_for_scoring(args)
    data_dir = args.data_dir or cfg.data.test_dir
    run = ckpt.get("run_name") or Path(args.checkpoint).stem
    out = Path(args.out) if args.out else default_report_dir(run, data_dir, cfg)
    claim_report_folder(out, checkpoint=args.checkpoint, data_dir=data_dir, overwrite=args.overwrite)  # before scoring
    ev = evaluate_split(model, cfg, data_dir, device, threshold=_decision(args, ckpt), precision=precision,
                        progress=not args.no_progress, shortcuts=not getattr(args, "no_shortcuts", False))
    report = write_report(ev, out, cfg=cfg, checkpoint=args.checkpoint, overwrite=True)  # claimed above
    clip, video = ev.metrics["clip"], ev.metrics["video"][ev.aggregation]
    if args.json:
        print(json.dumps({"report": str(report), "clip": clip, "video": video, "decision": ev.metrics["decision"],
                          "calibration": ev.metrics["calibration"]}, indent=2))
    else:
        print(f"clips  ({ev.metrics['n_windows']}): ROC-AUC {clip['roc_auc']:.4f}  acc {clip['accuracy']:.4f}  "
              f"F1 {clip['f1']:.4f}  EER {clip['eer']:.4f}")
        print(f"videos ({ev.metrics['n_videos']}, {ev.aggregation}): ROC-AUC {video['roc_auc']:.4f}  "
              f"acc {video['accuracy']:.4f}  F1 {video['f1']:.4f}  EER {video['eer']:.4f}")
        cal = ev.metrics["calibration"]
        print(f"{ev.decision.describe()}; clip ECE {cal['ece_raw']:.4f} before, {cal['ece_calibrated']:.4f} after "
              "temperature scaling")
        for warning in ev.metrics.get("shortcuts", {}).get("warnings", []):
            print(f"warning: {warning}")
        print(f"report: {report}")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from lab.inference.infer import inference_frames, inference_video, predict

    explain_to = getattr(args, "explain", None)
    if explain_to:
        from lab.inference.explain import check_explain_target, explain

        if getattr(args, "streaming", False):
            raise ConfigError("--explain shows the most suspicious windows, and --streaming scores none", "--explain",
                              "drop --streaming to write the annotated verdict")
        if args.explain_windows < 1:
            raise ConfigError(f"--explain-windows {args.explain_windows} shows nothing", "--explain-windows",
                              "give 1 or more")
        check_explain_target(explain_to, args.overwrite)  # before scoring
    model, cfg, ckpt, device, precision = _load_for_scoring(args)
    fn = {"video": inference_video, "frames": inference_frames}.get(args.kind, predict)
    pred = fn(args.path, model, cfg, threshold=_decision(args, ckpt), device=device, precision=precision,
              streaming=getattr(args, "streaming", False))
    for note in pred.notes:
        print(f"note: {note}", file=sys.stderr)
    print(pred.to_json() if args.json else pred.verdict())
    if explain_to:
        shown = explain(args.path, model, cfg, pred, explain_to, windows=args.explain_windows, overwrite=args.overwrite)
        print(f"wrote {shown.path}: {len(shown.frame_indices)} frames of {len(shown.windows)} window(s) with "
              "Grad-CAM, and the per-frame timeline", file=sys.stderr if args.json else sys.stdout)
    return 0


def test_parser(prog: str = "test.py") -> argparse.ArgumentParser:
    p = ArgumentParser(prog=prog, description="Score a video, a frame folder, or evaluate a test split.")
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--video", help="a video file to score")
    mode.add_argument("--frames", help="a folder of extracted frames to score")
    mode.add_argument("--eval", action="store_true", help="evaluate a whole split (see --data_dir)")
    add_streaming_flag(p)
    add_eval_flags(p)
    add_common_flags(p)
    return p


def add_streaming_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--streaming", action="store_true", help="one pass with the ConvLSTM state carried over the "
                   "whole video (unidirectional models; scores differ from window scores, see README)")


def cmd_test(args: argparse.Namespace) -> int:
    if args.eval:
        if args.streaming:
            raise ConfigError("--streaming scores one video", "--streaming", "use it with --video or --frames")
        return cmd_eval(args)
    args.kind, args.path = ("video", args.video) if args.video else ("frames", args.frames)
    return cmd_predict(args)


# ------------------------------------------------------------------------------------------ data tools


def cmd_synth(args: argparse.Namespace) -> int:
    frames = {"frames": args.frames} if args.frames else {}
    if args.real_footage:
        from lab.data.footage import FootageSpec, generate_footage

        manifest = generate_footage(args.out, FootageSpec(seed=args.seed, **frames), overwrite=args.overwrite)
    else:
        from lab.data.synth import SynthSpec, generate

        manifest = generate(args.out, SynthSpec(seed=args.seed, **frames), overwrite=args.overwrite)
    counts = manifest.groupby(["split", "label"]).size().unstack(fill_value=0)
    for split, row in counts.iterrows():
        print(f"{split:5s}: {row.get(0, 0)} real, {row.get(1, 0)} fake")
    print(f"wrote {len(manifest)} items to {args.out}")
    return 0


def cmd_extract(args: argparse.Namespace) -> int:
    from lab.data.extract import extract_frames

    if args.fps is not None and args.fps <= 0:
        raise ConfigError(f"{args.fps} frames per second is not positive", "--fps",
                          "give a number > 0, or leave it out")
    if args.face_margin < 0:
        raise ConfigError(f"{args.face_margin} is negative", "--face-margin",
                          "give a margin >= 0, a fraction of the face box")
    res = extract_frames(args.video, args.out, fps=args.fps, face_crop=args.face_crop, face_margin=args.face_margin,
                         detector=args.detector, overwrite=args.overwrite)
    print(f"wrote {len(res.paths)} frames to {args.out}")
    if args.face_crop:
        print(f"frames without a detected face: {res.faces_interpolated} interpolated from neighbouring faces, "
              f"{res.faces_missed} in longer gaps (cropped along the track, kept)")
    return 0


def cmd_summary(args: argparse.Namespace) -> int:
    from lab.models.classifier import build_model
    from lab.models.summary import summarize

    cfg = load_cli_config(args)
    model = build_model(cfg.model)
    print(summarize(model, (1, cfg.sequence.length, cfg.image.channels, cfg.image.height, cfg.image.width)))
    return 0


def train_entry(argv: Sequence[str] | None = None) -> int:
    return guard(cmd_train, train_parser().parse_args(argv))


def test_entry(argv: Sequence[str] | None = None) -> int:
    return guard(cmd_test, test_parser().parse_args(argv))

