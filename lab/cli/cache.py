"""`lab cache build --data-dir DIR [--size S]`: write the decoded-frame cache of a split, or of every split in a
folder (lab.data.cache_build), which training and evaluation then read (data.cache)."""
from __future__ import annotations

import argparse


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
    from lab.data.cache_build import build_cache, find_splits

    size = parse_size(args.size)
    for split in find_splits(args.data_dir):  # all splits are checked to exist before any is decoded
        print(build_cache(split, size, progress=not args.no_progress).line())
    return 0
