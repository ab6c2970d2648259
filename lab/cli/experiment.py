"""`lab experiment <name>`: studies built from many training or evaluation runs (`lab.experiments`).
`leave-one-out` trains on every fake family but one and tests on the held-out family; `robustness` measures a
checkpoint's AUC under re-encoding, JPEG, downscaling, blur, noise and a halved frame rate, at several severities."""
from __future__ import annotations

import argparse
from pathlib import Path

from lab.cli.common import ArgumentParser, add_common_flags, add_config_flags, load_cli_config, load_for_scoring


def experiment_arguments(p: argparse.ArgumentParser) -> None:
    """`lab experiment`'s subcommands, each with its flags and handler."""
    kinds = p.add_subparsers(dest="experiment", required=True, parser_class=ArgumentParser)
    loo = kinds.add_parser("leave-one-out", help="train without each fake family in turn, test on it; "
                           "writes a table (CSV, markdown, PNG) and resumes where it stopped")
    leave_one_out_arguments(loo)
    loo.set_defaults(fn=cmd_leave_one_out)
    rob = kinds.add_parser("robustness", help="AUC against severity under H.264 re-encoding, JPEG, downscaling, "
                           "blur, noise and frame-rate halving")
    robustness_arguments(rob)
    rob.set_defaults(fn=cmd_robustness)


def leave_one_out_arguments(p: argparse.ArgumentParser) -> None:
    """The flags of `lab experiment leave-one-out`."""
    add_config_flags(p)
    p.add_argument("--data-dir", required=True, metavar="DIR",
                   help="dataset root holding train/ val/ test/ (seed layout; fake families from manifest.csv or names)")
    p.add_argument("--out", default="reports/leave_one_out", metavar="DIR",
                   help="experiment folder: folds, table.csv/md/png (default reports/leave_one_out); a rerun resumes it")
    p.add_argument("--families", metavar="A,B", help="hold out only these families, comma-separated "
                   "(default: every fake family of the training split)")
    p.add_argument("--compare", action="append", default=[], metavar="KEY=VALUE[;KEY=VALUE]",
                   help="another model to compare, as config overrides of the base config (';' between overrides), "
                        "repeatable: --compare model.temporal=frame")
    p.add_argument("--epochs", type=int, help="override training.epochs")
    p.add_argument("--overwrite", action="store_true", help="replace a leave-one-out run of another config in --out")
    p.add_argument("--no-progress", action="store_true", help="no tqdm bars")
    add_common_flags(p)


def cmd_leave_one_out(args: argparse.Namespace) -> int:
    from lab.experiments.leave_one_out import leave_one_out

    data = Path(args.data_dir)
    args.overrides = [f"data.{split}_dir={data / split}" for split in ("train", "val", "test")] + list(args.overrides)
    cfg = load_cli_config(args)
    families = [f.strip() for f in args.families.split(",") if f.strip()] if args.families else None
    compare = [[o.strip() for o in entry.split(";") if o.strip()] for entry in args.compare]
    result = leave_one_out(cfg, args.out, families=families, compare=compare, overwrite=args.overwrite,
                           progress=not args.no_progress)
    print(result.markdown)
    done = f"{len(result.ran)} fold(s) run" + (f", {len(result.skipped)} finished earlier" if result.skipped else "")
    print(f"{done}; wrote {Path(args.out) / 'table.csv'}, table.md, table.png")
    return 0


def robustness_arguments(p: argparse.ArgumentParser) -> None:
    """The flags of `lab experiment robustness`."""
    p.add_argument("--checkpoint", default="checkpoints/best.pth", help="a checkpoint written by training")
    p.add_argument("--data-dir", "--data_dir", dest="data_dir",
                   help="split folder with real/ and fake/ (default: the checkpoint's data.test_dir)")
    p.add_argument("--out", help="result folder (default reports/<checkpoint's run>/robustness-<split>)")
    p.add_argument("--overwrite", action="store_true", help="replace an earlier sweep in --out")
    levels = p.add_mutually_exclusive_group()
    levels.add_argument("--quick", action="store_true",
                        help="one or two severities per perturbation (h264=23,40 jpeg=30 downscale=0.5 blur=1 "
                             "noise=10 fps=2)")
    levels.add_argument("--severities", nargs="+", metavar="NAME=S1,S2",
                        help="perturbations and severities to run, e.g. h264=23,40 blur=1 (default: h264=23,28,35,40 "
                        "jpeg=90,70,50,30 downscale=0.75,0.5,0.25 blur=0.5,1,2 noise=2,5,10,20 fps=2)")
    p.add_argument("--tmp-dir", help="where the perturbed copies of the split are written (default: the system's "
                   "temporary folder); one copy at a time, deleted after its evaluation")
    p.add_argument("--no-progress", action="store_true")
    add_common_flags(p)


def cmd_robustness(args: argparse.Namespace) -> int:
    from lab.data.perturb import parse_severities
    from lab.evaluation.report import split_name
    from lab.experiments.robustness import QUICK_SEVERITIES, markdown_table, robustness_sweep
    from lab.scoring.decision import checkpoint_decision

    severities = QUICK_SEVERITIES if args.quick else parse_severities(args.severities) if args.severities else None
    model, cfg, ckpt, device, precision = load_for_scoring(args)
    data_dir = args.data_dir or cfg.data.test_dir
    run = ckpt.get("run_name") or Path(args.checkpoint).stem
    out = Path(args.out) if args.out else Path("reports") / run / f"robustness-{split_name(data_dir, cfg)}"
    result = robustness_sweep(model, cfg, data_dir, device, threshold=checkpoint_decision(ckpt), severities=severities,
                              precision=precision, out=out, overwrite=args.overwrite, checkpoint=args.checkpoint,
                              tmp_dir=args.tmp_dir, progress=not args.no_progress)
    print(markdown_table(result.table))
    print(f"wrote {out / 'robustness.md'} (+ .csv, .png, .json)")
    return 0
