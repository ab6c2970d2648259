"""The notebook layer: where a notebook runs, how `lab notebooks` executes them headlessly, and the rules
committed notebooks follow (no outputs, one literal `parameters` cell, no `def`/`class`).

Working directory: every notebook's first call after its parameters is `enter_project(project_dir)`, which
chdirs to the project root (the folder holding `config/data_config.yaml`), so every path a notebook uses
(config/..., data/..., checkpoints/..., reports/...) is relative to the root. With `project_dir = None` the
root is found by looking in the kernel's working directory and its parents: that covers JupyterLab and nbval
(kernel in notebooks/) and papermill started anywhere inside the project; from elsewhere pass
`-p project_dir /path/to/project`. `run_notebooks` always passes the absolute root.
"""
from __future__ import annotations

import ast
import os
import sys
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from lab.errors import LabError
from lab.outputs import write_text

PROJECT_MARKER = Path("config") / "data_config.yaml"
NOTEBOOK_GLOB = "[0-9][0-9]_*.ipynb"
PARAMETERS_TAG = "parameters"
MAX_PARAMETERS_POSITION = 2  # the parameters cell must be among the first three code cells


class NotebookError(LabError):
    """A notebook that cannot run or breaks the notebook rules, or a bad `lab notebooks` argument."""


# ------------------------------------------------------------------------------------------ inside a notebook


def find_project(start: str | Path | None = None) -> Path | None:
    """The first of `start` (default: cwd) and its parents that holds config/data_config.yaml, else None."""
    here = Path(start or Path.cwd()).resolve()
    return next((d for d in (here, *here.parents) if (d / PROJECT_MARKER).is_file()), None)


def enter_project(project_dir: str | Path | None = None) -> Path:
    """chdir to the project root and return it. `project_dir`: the root (absolute, or relative to the cwd),
    or None to search the cwd and its parents."""
    if project_dir is None or str(project_dir) == "":
        root = find_project()
        if root is None:
            raise NotebookError(f"no convlstm-lab project, a folder with {PROJECT_MARKER}, here or above", Path.cwd(),
                                "pass the project root, e.g. papermill ... -p project_dir /path/to/project")
    else:
        root = Path(project_dir).expanduser().resolve()
        if not (root / PROJECT_MARKER).is_file():
            raise NotebookError(f"project_dir has no {PROJECT_MARKER}", root, "pass the convlstm-lab project root")
    os.chdir(root)
    return root


def split_overrides(data_dir: str | Path) -> list[str]:
    """`data.{train,val,test}_dir` overrides that point the config at `data_dir/{train,val,test}`."""
    return [f"data.{split}_dir={Path(data_dir) / split}" for split in ("train", "val", "test")]


def split_dir(cfg, split: str = "test", data_dir: str | Path | None = None) -> Path:
    """`data_dir/split` when `data_dir` is given, else the config's `data.<split>_dir` (where it was trained)."""
    if split not in ("train", "val", "test"):
        raise NotebookError(f"unknown split {split!r}", "split", "use train, val or test")
    return Path(data_dir) / split if data_dir else Path(getattr(cfg.data, f"{split}_dir"))


def find_checkpoint(checkpoint: str | Path | None = None, run_name: str = "notebooks",
                    checkpoint_dir: str | Path = "checkpoints") -> Path:
    """`checkpoint` if given, else `checkpoint_dir/run_name/best.pth` (what 02_training writes); must exist."""
    path = Path(checkpoint) if checkpoint else Path(checkpoint_dir) / run_name / "best.pth"
    if not path.is_file():
        raise NotebookError("checkpoint not found", path,
                            f"run notebooks/02_training.ipynb with run_name='{run_name}' first, or pass -p checkpoint PATH")
    return path


# ------------------------------------------------------------------------------------------- notebook rules


def _code_cells(nb) -> list:
    return [c for c in nb.cells if c.cell_type == "code"]


def _python_source(cell) -> str:
    """Cell source with IPython magics / shell lines blanked, so `ast` can parse the rest."""
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in cell.source.splitlines())


def literal_parameters(source: str) -> dict[str, Any]:
    """The names and values a parameters cell assigns. Only `name = literal` statements are allowed
    (numbers, strings, booleans, None, and lists/tuples/dicts of those); anything else is an error."""
    tree = ast.parse(source)
    out: dict[str, Any] = {}
    for node in tree.body:
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)):
            raise NotebookError("only `name = literal` assignments are allowed", f"parameters cell line {node.lineno}",
                                "move other code to a later cell")
        try:
            out[node.targets[0].id] = ast.literal_eval(node.value)
        except ValueError:
            raise NotebookError(f"'{node.targets[0].id}' is not a literal", f"parameters cell line {node.lineno}",
                                "compute derived values in a later cell") from None
    return out


def parameters_cell(nb):
    """The one code cell tagged `parameters` (raises if there is not exactly one)."""
    tagged = [c for c in _code_cells(nb) if PARAMETERS_TAG in c.get("metadata", {}).get("tags", [])]
    if len(tagged) != 1:
        raise NotebookError(f"expected exactly one cell tagged '{PARAMETERS_TAG}', found {len(tagged)}",
                            nb.get("metadata", {}).get("path", "notebook"), "tag exactly one cell 'parameters'")
    return tagged[0]


def notebook_parameters(path: str | Path) -> dict[str, Any]:
    """The parameters (name -> default) a notebook declares."""
    import nbformat

    return literal_parameters(parameters_cell(nbformat.read(path, as_version=4)).source)


def lint_notebook(path: str | Path) -> list[str]:
    """Every way the notebook at `path` breaks the rules for committed notebooks (empty list: clean)."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    problems = []
    code = _code_cells(nb)
    for index, cell in enumerate(code, start=1):
        if cell.get("outputs") or cell.get("execution_count") is not None:
            problems.append(f"code cell {index} has outputs or an execution count (run `lab notebooks --strip`)")
        try:
            tree = ast.parse(_python_source(cell))
        except SyntaxError as exc:
            problems.append(f"code cell {index} is not valid Python: {exc.msg} (line {exc.lineno})")
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                kind = "class" if isinstance(node, ast.ClassDef) else "def"
                problems.append(f"code cell {index} defines `{kind} {node.name}`: helpers belong in the lab package")
    try:
        cell = parameters_cell(nb)
        if code.index(cell) > MAX_PARAMETERS_POSITION:
            problems.append(f"the parameters cell is code cell {code.index(cell) + 1}; put it near the top")
        literal_parameters(cell.source)
        for number, line in enumerate(cell.source.splitlines(), start=1):
            if not line.strip().startswith("#") and line.count("=") > 1:  # papermill's parser gives up on these
                problems.append(f"parameters cell line {number} holds more than one '=': papermill cannot read it "
                                "(keep '=' out of comments and default values)")
    except NotebookError as exc:
        problems.append(str(exc))
    return problems


def strip_outputs(path: str | Path) -> bool:
    """Remove outputs, execution counts and run metadata (papermill, widget state) in place; True if changed."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    before = nbformat.writes(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        for key in ("execution", "papermill", "collapsed", "scrolled"):
            cell.metadata.pop(key, None)
    for key in ("papermill", "widgets"):
        nb.metadata.pop(key, None)
    after = nbformat.writes(nb)
    if after != before:
        write_text(path, after)
    return after != before


# ------------------------------------------------------------------------------------------ headless runs


def discover_notebooks(project_root: str | Path) -> list[Path]:
    """notebooks/NN_*.ipynb under the project root, in number order."""
    return sorted((Path(project_root) / "notebooks").glob(NOTEBOOK_GLOB))


def select_notebooks(available: Sequence[Path], only: Iterable[str] | None) -> list[Path]:
    """`available` filtered by `only` (a number like "02", a name prefix like "02_train", or a file name)."""
    if not only:
        return list(available)
    chosen = []
    for key in only:
        matches = [p for p in available if p.name.startswith(str(key)) or p.stem == Path(str(key)).stem]
        if not matches:
            raise NotebookError("no notebook matches", key, f"choose from {', '.join(p.name for p in available)}")
        chosen += [p for p in matches if p not in chosen]
    return sorted(chosen)


def parse_param(text: str) -> tuple[str, Any]:
    """`key=value` with the value read as YAML: `epochs=20` -> ("epochs", 20), `overrides=[a=1]` -> a list."""
    import yaml

    key, sep, raw = text.partition("=")
    if not sep or not key.strip().isidentifier():
        raise NotebookError("a parameter must look like name=value", f"--param {text}", "e.g. --param epochs=20")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return key.strip(), value


def write_html(notebook_path: str | Path) -> Path:
    """An HTML rendering (nbconvert's HTMLExporter, figures inline) next to the notebook."""
    import nbformat
    from nbconvert import HTMLExporter

    path = Path(notebook_path)
    body, _ = HTMLExporter().from_notebook_node(nbformat.read(path, as_version=4))
    return write_text(path.with_suffix(".html"), body)


def run_notebooks(run_name: str = "notebooks", out_dir: str | Path | None = None,
                  parameters: Mapping[str, Any] | None = None, notebooks: Iterable[str] | None = None,
                  kernel: str = "python3", project_dir: str | Path | None = None, progress: bool = False) -> list[Path]:
    """Execute the numbered notebooks in order with papermill, kernel cwd = project root, and write each
    executed copy plus its HTML rendering to `out_dir` (default reports/<run_name>/notebooks/).

    `parameters` go to every notebook that declares them (with `run_name` and `project_dir`); a name no
    selected notebook declares is an error. `notebooks` selects by number or name prefix ("02", "03_eval").
    Returns the executed notebooks' paths; a failing notebook raises NotebookError after writing its HTML."""
    import papermill

    root = Path(project_dir).resolve() if project_dir else find_project()
    if root is None or not (root / PROJECT_MARKER).is_file():
        where = project_dir or Path.cwd()
        raise NotebookError(f"no convlstm-lab project, a folder with {PROJECT_MARKER}", where,
                            "run from the project root or pass project_dir")
    paths = select_notebooks(discover_notebooks(root), notebooks)
    if not paths:
        raise NotebookError(f"no notebooks matching {NOTEBOOK_GLOB}", root / "notebooks", "restore the notebooks folder")
    declared = {path: notebook_parameters(path) for path in paths}
    given = {"run_name": run_name, **dict(parameters or {})}
    unknown = sorted(set(given) - {"run_name"} - set().union(*map(set, declared.values())))
    if unknown:
        names = sorted(set().union(*map(set, declared.values())))
        raise NotebookError("unknown notebook parameter(s)", ", ".join(unknown),
                            f"the notebooks declare: {', '.join(names)}")
    out = Path(out_dir) if out_dir else root / "reports" / run_name / "notebooks"
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for path in paths:
        params = {k: v for k, v in {**given, "project_dir": str(root)}.items() if k in declared[path]}
        target = out / path.name
        print(f"notebook {path.name} -> {target}", file=sys.stderr)
        try:
            papermill.execute_notebook(str(path), str(target), parameters=params, kernel_name=kernel, cwd=str(root),
                                       progress_bar=progress)
        except papermill.PapermillExecutionError as exc:
            html = write_html(target)
            raise NotebookError(f"{path.name} failed in cell {exc.exec_count} with {exc.ename}, "
                                f"{exc.evalue.strip()[:300]}", target, f"read the executed copy or {html.name}") from None
        write_html(target)
        written.append(target)
    return written
