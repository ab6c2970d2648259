"""`lab predict`: score a video file or a frame folder, optionally with an annotated verdict (`--explain`)."""
from __future__ import annotations

import argparse
import sys

from lab.cli.common import add_common_flags, add_eval_flags, decision_for, load_for_scoring
from lab.errors import ConfigError


def predict_arguments(p: argparse.ArgumentParser) -> None:
    """The flags of `lab predict`."""
    p.add_argument("path", help="video file or frame folder")
    p.add_argument("--explain", metavar="OUT", help="also write an annotated verdict: OUT.mp4 (H.264) or OUT.png (a "
                   "strip) with the most suspicious windows' frames under a Grad-CAM overlay and the per-frame timeline")
    p.add_argument("--explain-windows", type=int, default=2, metavar="K",
                   help="how many of the most suspicious windows --explain shows (default 2)")
    add_streaming_flag(p)
    add_eval_flags(p)
    add_common_flags(p)
    p.set_defaults(kind="auto")


def add_streaming_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--streaming", action="store_true", help="one pass with the ConvLSTM state carried over the "
                   "whole video (unidirectional models; scores differ from window scores, see docs/inference.md)")


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
    model, cfg, ckpt, device, precision = load_for_scoring(args)
    fn = {"video": inference_video, "frames": inference_frames}.get(args.kind, predict)
    pred = fn(args.path, model, cfg, threshold=decision_for(args, ckpt), device=device, precision=precision,
              streaming=getattr(args, "streaming", False))
    for note in pred.notes:
        print(f"note: {note}", file=sys.stderr)
    print(pred.to_json() if args.json else pred.verdict())
    if explain_to:
        shown = explain(args.path, model, cfg, pred, explain_to, windows=args.explain_windows, overwrite=args.overwrite)
        print(f"wrote {shown.path}: {len(shown.frame_indices)} frames of {len(shown.windows)} window(s) with "
              "Grad-CAM, and the per-frame timeline", file=sys.stderr if args.json else sys.stdout)
    return 0
