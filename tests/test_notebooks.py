"""The notebooks: committed clean (no outputs, one literal `parameters` cell, no def/class), the rules and
tools in lab.workbench.notebooks, and the papermill runner behind `lab notebooks`.

`make test` executes the real notebooks once, under nbval, on tiny data with every output in a temporary
folder (tests/_nbval.py).
"""
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from _fixtures import ROOT
from lab.workbench.notebooks import (NotebookError, discover_notebooks, enter_project, find_checkpoint, lint_notebook,
                           literal_parameters, notebook_parameters, parse_param, run_notebooks, select_notebooks,
                           split_dir, strip_outputs)

NOTEBOOKS = discover_notebooks(ROOT)
OURS = ("01_data_exploration", "02_training", "03_evaluation", "04_error_analysis", "06_generalisation")


def _notebook(path, *cells, params="x = 1"):
    nb = new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    nb.cells.append(new_markdown_cell("# title"))
    nb.cells.append(new_code_cell(params, metadata={"tags": ["parameters"]}))
    nb.cells += list(cells)
    nbformat.write(nb, path)
    return path


# ------------------------------------------------------------------------------------ committed notebooks


def test_the_numbered_notebooks_exist():
    names = [p.stem for p in NOTEBOOKS]
    assert all(name in names for name in OURS), names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_committed_notebook_follows_the_rules(path):
    assert lint_notebook(path) == []
    nbformat.validate(nbformat.read(path, as_version=4))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_finds_the_project_and_runs_anywhere(path):
    params = notebook_parameters(path)
    assert params.get("project_dir", "missing") is None  # found from the kernel's cwd unless passed
    source = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code")
    assert "enter_project(project_dir)" in source
    assert "sys.path" not in source  # the installed package, never path hacks


def test_chained_notebooks_share_run_name_and_checkpoint_layout():
    params = {p.stem: notebook_parameters(p) for p in NOTEBOOKS}
    for name in OURS[1:]:
        assert params[name]["run_name"] == "notebooks"
    assert params["03_evaluation"]["checkpoint"] is None and params["04_error_analysis"]["checkpoint"] is None
    assert params["01_data_exploration"]["make_synthetic_if_missing"] is True
    assert params["01_data_exploration"]["data_dir"] == params["02_training"]["data_dir"]
    assert params["01_data_exploration"]["real_footage_dir"] == params["04_error_analysis"]["real_footage_dir"]
    # 06 writes its own small set when missing, from 01's synthetic_* parameters (so --param sizes both alike)
    assert params["06_generalisation"]["make_synthetic_if_missing"] is True
    assert {k for k in params["01_data_exploration"] if k.startswith("synthetic_")} == {
        k for k in params["06_generalisation"] if k.startswith("synthetic_")}


# ----------------------------------------------------------------------------------------------- the rules


def test_lint_reports_each_broken_rule(tmp_path):
    with_output = new_code_cell("print(1)", execution_count=3, outputs=[new_output("stream", name="stdout", text="1")])
    path = _notebook(tmp_path / "bad.ipynb", with_output, new_code_cell("def helper():\n    return 1"),
                     new_code_cell("class Thing:\n    pass"), params="x = 1\ny = len([1])")
    problems = "\n".join(lint_notebook(path))
    assert "outputs" in problems and "def helper" in problems and "class Thing" in problems
    assert "'y' is not a literal" in problems

    two = _notebook(tmp_path / "two.ipynb", new_code_cell("z = 2", metadata={"tags": ["parameters"]}))
    assert any("exactly one cell tagged 'parameters'" in p for p in lint_notebook(two))
    late = _notebook(tmp_path / "late.ipynb")
    nb = nbformat.read(late, as_version=4)
    nb.cells[1:1] = [new_code_cell("a = 1"), new_code_cell("b = 2"), new_code_cell("c = 3")]
    nbformat.write(nb, late)
    assert any("near the top" in p for p in lint_notebook(late))
    equals = _notebook(tmp_path / "equals.ipynb", params='a = None  # None = default\nb = ["x=1"]')
    assert [p for p in lint_notebook(equals) if "more than one '='" in p][0].startswith("parameters cell line 1")
    assert len(lint_notebook(equals)) == 2
    magic = _notebook(tmp_path / "magic.ipynb", new_code_cell("%matplotlib inline\nimport os"))
    assert lint_notebook(magic) == []


def test_literal_parameters_accepts_only_name_equals_literal():
    assert literal_parameters('a = 1\nb = -2.5\nc = None\nd = ["x=1", "y"]\ne = {"k": [1, 2]}\nf = "s"  # note') == {
        "a": 1, "b": -2.5, "c": None, "d": ["x=1", "y"], "e": {"k": [1, 2]}, "f": "s"}
    for bad in ("import os", "a = b = 1", "a = Path('x')", "a = f'{1}'", "a += 1", "print(1)", "a, b = 1, 2"):
        with pytest.raises(NotebookError):
            literal_parameters(bad)


def test_strip_outputs_cleans_and_is_idempotent(tmp_path):
    cell = new_code_cell("print(1)", execution_count=1, outputs=[new_output("stream", name="stdout", text="1")])
    cell.metadata["execution"] = {"iopub.status.busy": "2024"}
    path = _notebook(tmp_path / "run.ipynb", cell)
    nb = nbformat.read(path, as_version=4)
    nb.metadata["papermill"] = {"duration": 1.0}
    nbformat.write(nb, path)
    assert lint_notebook(path)
    assert strip_outputs(path) is True
    assert lint_notebook(path) == []
    nb = nbformat.read(path, as_version=4)
    assert "papermill" not in nb.metadata and "execution" not in nb.cells[2].metadata
    assert nb.cells[1].metadata["tags"] == ["parameters"]  # tags survive
    assert strip_outputs(path) is False


# ------------------------------------------------------------------------------------- working directory


def _project(tmp_path):
    root = tmp_path / "proj"
    (root / "config").mkdir(parents=True)
    (root / "config" / "data_config.yaml").write_text("data: {}\n")
    (root / "notebooks").mkdir()
    return root


def test_enter_project_finds_the_root_from_notebooks_or_takes_it(tmp_path, monkeypatch):
    root = _project(tmp_path)
    monkeypatch.chdir(root / "notebooks")
    assert enter_project(None) == root.resolve() and os.getcwd() == str(root.resolve())
    monkeypatch.chdir(tmp_path)
    assert enter_project(str(root)) == root.resolve()
    monkeypatch.chdir(tmp_path)
    with pytest.raises(NotebookError, match="project_dir"):
        enter_project(None)  # tmp_path has no config/ above it
    with pytest.raises(NotebookError, match="has no config"):
        enter_project(tmp_path)


def test_checkpoint_and_split_paths(tmp_path, synth_root):
    with pytest.raises(NotebookError, match="02_training"):
        find_checkpoint(None, "nope", tmp_path)
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "best.pth").write_bytes(b"x")
    assert find_checkpoint(None, "r", tmp_path) == tmp_path / "r" / "best.pth"
    assert find_checkpoint(tmp_path / "r" / "best.pth") == tmp_path / "r" / "best.pth"
    from _fixtures import tiny_config

    cfg = tiny_config(synth_root)
    assert split_dir(cfg, "test") == synth_root / "test"
    assert split_dir(cfg, "val", "elsewhere") == Path("elsewhere/val")
    with pytest.raises(NotebookError):
        split_dir(cfg, "dev")


# ----------------------------------------------------------------------------------------- headless runs


def test_parse_param_reads_yaml_values():
    assert parse_param("epochs=20") == ("epochs", 20)
    assert parse_param("device=cuda") == ("device", "cuda")
    assert parse_param("overrides=[training.batch_size=4, model.pooling=mean]") == (
        "overrides", ["training.batch_size=4", "model.pooling=mean"])
    assert parse_param("checkpoint=") == ("checkpoint", "")
    assert parse_param("checkpoint=null") == ("checkpoint", None)
    for bad in ("epochs", "=3", "two words=1"):
        with pytest.raises(NotebookError):
            parse_param(bad)


def test_select_notebooks_by_number_or_prefix():
    assert [p.stem for p in select_notebooks(NOTEBOOKS, ["02"])] == ["02_training"]
    assert [p.stem for p in select_notebooks(NOTEBOOKS, ["03_eval", "01"])] == ["01_data_exploration", "03_evaluation"]
    assert select_notebooks(NOTEBOOKS, None) == NOTEBOOKS
    with pytest.raises(NotebookError, match="no notebook matches"):
        select_notebooks(NOTEBOOKS, ["99"])


def test_unknown_parameter_is_refused_before_anything_runs(tmp_path):
    with pytest.raises(NotebookError, match="epoch.*declare"):
        run_notebooks("x", out_dir=tmp_path, parameters={"epoch": 3}, project_dir=ROOT)
    assert not any(tmp_path.iterdir())
    proc = subprocess.run([sys.executable, "-m", "lab.cli", "notebooks", "--param", "epoch=3", "--out", str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("error: unknown notebook parameter(s) (epoch): "), proc.stderr


def test_strip_command_cleans_a_project(tmp_path):
    root = _project(tmp_path)
    cell = new_code_cell("1", execution_count=1, outputs=[new_output("execute_result", data={"text/plain": "1"})])
    path = _notebook(root / "notebooks" / "01_x.ipynb", cell)
    proc = subprocess.run([sys.executable, "-m", "lab.cli", "notebooks", "--strip"], cwd=root / "notebooks",
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "stripped notebooks/01_x.ipynb" in proc.stdout and lint_notebook(path) == []


def test_lab_notebooks_runs_them_in_order_from_the_root_with_each_its_own_parameters(tmp_path, monkeypatch, capsys):
    """The papermill runner on a project of three trivial notebooks (the real ones run once, under nbval:
    tests/_nbval.py): number order, kernel in the project root, each parameter to the notebooks that declare it,
    an executed copy with its injected-parameters cell and an HTML rendering each; a failing notebook is one line
    naming its cell, after its HTML is written."""
    from lab.cli.main import main

    root = _project(tmp_path)
    _notebook(root / "notebooks" / "02_read.ipynb", new_code_cell("print('read:', open(note).read())"),
              params='project_dir = None\nnote = "x.txt"')
    _notebook(root / "notebooks" / "01_write.ipynb", new_code_cell(
        "import os\nopen(note, 'w').write(f'{value} {run_name} {project_dir} {os.getcwd()}')"),
        params='project_dir = None\nrun_name = "r"\nnote = "x.txt"\nvalue = 0')
    _notebook(root / "notebooks" / "03_fail.ipynb", new_code_cell("raise ValueError('broken on purpose')"),
              params="project_dir = None")
    monkeypatch.chdir(root / "notebooks")
    out = tmp_path / "executed"
    code = main(["notebooks", "--run-name", "demo", "--param", "value=7", "--param", "note=made.txt",
                 "--out", str(out), "--only", "01", "--only", "02"])
    assert code == 0
    assert (root / "made.txt").read_text() == f"7 demo {root} {root}"  # cwd and project_dir: the root
    assert sorted(p.name for p in out.iterdir()) == ["01_write.html", "01_write.ipynb", "02_read.html", "02_read.ipynb"]
    for name in ("01_write", "02_read"):
        nb = nbformat.read(out / f"{name}.ipynb", as_version=4)
        assert any("injected-parameters" in c.metadata.get("tags", []) for c in nb.cells)
        assert not [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    injected = nbformat.read(out / "02_read.ipynb", as_version=4).cells[2].source
    assert "note = " in injected and "value" not in injected  # 02 does not declare it
    assert f"read: 7 demo {root}" in (out / "02_read.html").read_text()  # 02 ran after 01, figures/text inline
    capsys.readouterr()

    assert main(["notebooks", "--only", "03", "--out", str(out)]) == 2
    err = capsys.readouterr().err  # papermill's progress lines, then the error
    assert "Traceback" not in err and err.strip().splitlines()[-1].startswith(
        "error: 03_fail.ipynb failed in cell 3 with ValueError, broken on purpose"), err  # 3: parameters, injected, this
    assert "broken on purpose" in (out / "03_fail.html").read_text()
