"""`lab bench`: run the benchmarks (`python -m benchmarks`, top level in the project checkout, not part of the
installed package) in the checkout, with the same flags."""
from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from lab.errors import ConfigError


def bench_arguments(p: argparse.ArgumentParser) -> None:
    """The flags of `lab bench` (those of `python -m benchmarks`)."""
    p.add_argument("--quick", action="store_true", help="tiny sizes, under a minute: a smoke run, not a measurement")
    p.add_argument("--out", default="reports/bench", help="folder for bench.md and bench.json (default reports/bench)")
    p.add_argument("--debug", action="store_true", help="show tracebacks for input errors")


def cmd_bench(args: argparse.Namespace) -> int:
    from lab.outputs import ensure_writable
    from lab.workbench.notebooks import find_project

    root = find_project()
    if root is None or not (root / "benchmarks" / "__main__.py").is_file():
        raise ConfigError("the benchmarks live in the project checkout, not in the installed package",
                          Path.cwd(), "run lab bench (or make bench) inside the convlstm-lab checkout")
    out = ensure_writable(Path(args.out).resolve(), "bench report", "--out")  # here, so the error is lab's own line
    flags = ["--out", str(out)] + ["--quick"] * args.quick + ["--debug"] * args.debug
    return subprocess.run([sys.executable, "-m", "benchmarks", *flags], cwd=root).returncode
