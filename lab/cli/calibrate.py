"""`lab calibrate`: fit the temperature and choose the threshold of an existing checkpoint on validation."""
from __future__ import annotations

import argparse
import json

from lab.cli.common import add_common_flags, config_overrides


def calibrate_arguments(p: argparse.ArgumentParser) -> None:
    """The flags of `lab calibrate`."""
    p.add_argument("--checkpoint", default="checkpoints/best.pth", help="a checkpoint written by training")
    p.add_argument("--data-dir", "--data_dir", dest="data_dir",
                   help="validation split with real/ and fake/ (default: the checkpoint's data.val_dir)")
    p.add_argument("--threshold", choices=("youden", "eer", "target-fpr"),
                   help="how to choose the threshold (default: the checkpoint's training.threshold)")
    p.add_argument("--target-fpr", type=float, metavar="F",
                   help="the highest-recall threshold whose FPR on the real validation clips is <= F (implies "
                        "--threshold target-fpr)")
    p.add_argument("--no-temperature", action="store_true",
                   help="no temperature scaling (T = 1): the threshold is chosen on the uncalibrated scores")
    p.add_argument("--out", help="checkpoint to write (default: CHECKPOINT's folder, <name>.calibrated.pth)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace --out if it exists (--out CHECKPOINT --overwrite updates it in place, atomically)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--no-progress", action="store_true")
    add_common_flags(p)


def cmd_calibrate(args: argparse.Namespace) -> int:
    from lab.errors import ConfigError
    from lab.evaluation.recalibrate import calibrate_checkpoint

    method = args.threshold.replace("-", "_") if args.threshold else None
    if args.target_fpr is not None:
        if method not in (None, "target_fpr"):
            raise ConfigError(f"--target-fpr goes with --threshold target-fpr, not {args.threshold}", "--target-fpr",
                              "drop one of them")
        if not 0.0 <= args.target_fpr < 1.0:
            raise ConfigError(f"{args.target_fpr} is outside [0, 1)", "--target-fpr", "give a rate such as 0.01")
        method = "target_fpr"
    result = calibrate_checkpoint(args.checkpoint, args.data_dir, args.out, method=method, target_fpr=args.target_fpr,
                                  temperature_scaling=False if args.no_temperature else None,
                                  overwrite=args.overwrite, overrides=config_overrides(args), progress=not args.no_progress)
    cal = result.calibration
    if args.json:
        print(json.dumps({"checkpoint": str(result.path), "data_dir": result.data_dir,
                          "decision": result.decision.to_dict(), "calibration": cal.to_dict(),
                          "previous": result.previous.to_dict()}, indent=2))
        return 0
    print(f"temperature {cal.temperature:.4g} on {cal.n_windows} validation clips of {result.data_dir}: "
          f"ECE {cal.ece_raw:.4f} -> {cal.ece_calibrated:.4f}, NLL {cal.nll_raw:.4f} -> {cal.nll_calibrated:.4f}"
          + (f" ({cal.note})" if cal.note else ""))
    d = result.decision
    print(f"{d.describe()}: FPR {d.val_fpr:.4f} on real, recall {d.val_recall:.4f} on fake validation clips")
    print(f"was: {result.previous.describe()}")
    print(f"wrote {result.path}")
    return 0
