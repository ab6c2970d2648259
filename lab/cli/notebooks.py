"""`lab notebooks`: execute the numbered notebooks with papermill into reports/<run>/notebooks/ (+ HTML), or strip
their outputs before committing (`--strip`)."""
from __future__ import annotations

import argparse
from pathlib import Path


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
