"""`lab experiment robustness`: a checkpoint's AUC under re-encoding, JPEG, downscaling, blur, noise and a halved
frame rate, at several severities (`lab.experiments.robustness`)."""
from __future__ import annotations

import argparse
from pathlib import Path

from lab.cli.commands import _load_for_scoring, add_common_flags


def add_robustness_parser(experiments) -> argparse.ArgumentParser:
    """Register `robustness` under the `lab experiment` subcommands."""
    p = experiments.add_parser("robustness", help="AUC against severity under H.264 re-encoding, JPEG, downscaling, "
                               "blur, noise and frame-rate halving")
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
    p.set_defaults(fn=cmd_robustness)
    return p


def cmd_robustness(args: argparse.Namespace) -> int:
    from lab.data.perturb import parse_severities
    from lab.evaluation.report import split_name
    from lab.scoring.decision import checkpoint_decision
    from lab.experiments.robustness import QUICK_SEVERITIES, markdown_table, robustness_sweep

    severities = QUICK_SEVERITIES if args.quick else parse_severities(args.severities) if args.severities else None
    model, cfg, ckpt, device, precision = _load_for_scoring(args)
    data_dir = args.data_dir or cfg.data.test_dir
    run = ckpt.get("run_name") or Path(args.checkpoint).stem
    out = Path(args.out) if args.out else Path("reports") / run / f"robustness-{split_name(data_dir, cfg)}"
    result = robustness_sweep(model, cfg, data_dir, device, threshold=checkpoint_decision(ckpt), severities=severities,
                              precision=precision, out=out, overwrite=args.overwrite, checkpoint=args.checkpoint,
                              tmp_dir=args.tmp_dir, progress=not args.no_progress)
    print(markdown_table(result.table))
    print(f"wrote {out / 'robustness.md'} (+ .csv, .png, .json)")
    return 0
