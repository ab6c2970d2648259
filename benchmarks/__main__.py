"""`python -m benchmarks [--quick] [--out DIR]`: run every case and write DIR/bench.md and DIR/bench.json."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from lab.cli.common import ArgumentParser, guard


def build_parser() -> argparse.ArgumentParser:
    p = ArgumentParser(prog="python -m benchmarks",
                       description="Time the fast paths against their baselines side by side; write bench.md and "
                                   "bench.json. Run from the repository root (the cases read config/).")
    p.add_argument("--quick", action="store_true", help="tiny sizes, under a minute: a smoke run, not a measurement")
    p.add_argument("--out", default="reports/bench", help="folder for bench.md and bench.json (default reports/bench)")
    p.add_argument("--debug", action="store_true", help="show tracebacks for input errors")
    return p


def run(args: argparse.Namespace) -> int:
    from benchmarks.run import format_table, run_bench
    from lab.outputs import ensure_writable

    ensure_writable(args.out, "bench report", "--out")  # before minutes of measuring
    table = run_bench(quick=args.quick, out_dir=args.out)
    print(format_table(table))
    print(f"wrote {Path(args.out) / 'bench.md'} and {Path(args.out) / 'bench.json'}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return guard(run, build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
