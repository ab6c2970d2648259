"""`lab eval` (a checkpoint on a split, with its report) and the seed's `python test.py`, which scores a video
(`--video`), a frame folder (`--frames`) or a split (`--eval`)."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Sequence

from lab.cli.common import (ArgumentParser, add_common_flags, add_eval_flags, decision_for, guard,
                            load_for_scoring)
from lab.cli.predict import add_streaming_flag, cmd_predict
from lab.errors import ConfigError


def eval_arguments(p: argparse.ArgumentParser) -> None:
    """The flags of `lab eval`."""
    add_eval_flags(p)
    add_common_flags(p)


def cmd_eval(args: argparse.Namespace) -> int:
    import json

    from lab.outputs import claim_report_folder
    from lab.evaluation.evaluate import evaluate_split
    from lab.evaluation.report import default_report_dir, write_report

    model, cfg, ckpt, device, precision = load_for_scoring(args)
    data_dir = args.data_dir or cfg.data.test_dir
    run = ckpt.get("run_name") or Path(args.checkpoint).stem
    out = Path(args.out) if args.out else default_report_dir(run, data_dir, cfg)
    claim_report_folder(out, checkpoint=args.checkpoint, data_dir=data_dir, overwrite=args.overwrite)  # before scoring
    ev = evaluate_split(model, cfg, data_dir, device, threshold=decision_for(args, ckpt), precision=precision,
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


def cmd_test(args: argparse.Namespace) -> int:
    if args.eval:
        if args.streaming:
            raise ConfigError("--streaming scores one video", "--streaming", "use it with --video or --frames")
        return cmd_eval(args)
    args.kind, args.path = ("video", args.video) if args.video else ("frames", args.frames)
    return cmd_predict(args)


def test_entry(argv: Sequence[str] | None = None) -> int:
    return guard(cmd_test, test_parser().parse_args(argv))
