"""`lab experiment <name>`: studies built from many training or evaluation runs. `leave-one-out` trains on every
fake family but one and tests on the held-out family (lab.experiments.leave_one_out)."""
from __future__ import annotations

import argparse
from pathlib import Path

from lab.cli.commands import add_common_flags, add_config_flags, load_cli_config


def leave_one_out_arguments(p: argparse.ArgumentParser) -> None:
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


def add_experiment_parser(sub):
    """`lab experiment ...` on the top-level subparsers; returns its subcommands (robustness adds itself there)."""
    from lab.cli.commands import ArgumentParser

    p = sub.add_parser("experiment", help="studies: leave-one-family-out, robustness to re-encoding and degradations")
    kinds = p.add_subparsers(dest="experiment", required=True, parser_class=ArgumentParser)
    loo = kinds.add_parser("leave-one-out", help="train without each fake family in turn, test on it; "
                           "writes a table (CSV, markdown, PNG) and resumes where it stopped")
    leave_one_out_arguments(loo)
    loo.set_defaults(fn=cmd_leave_one_out)
    return kinds
