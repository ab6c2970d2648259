"""The research scripts in experiments/ stay runnable: each answers --help, run as `python script.py --help` would
run it (so an import or an argument that rots fails here), and says which docs table it makes and the command
that makes it."""
import ast
import json
import os
import subprocess
import sys

import pytest

from _fixtures import ROOT

SCRIPTS = sorted((ROOT / "experiments").glob("[!_]*.py"))  # _*.py: helpers the scripts import

# One fresh process runs every script as __main__ with `--help` (its imports, its parser), one after the other:
# torch and lab load once, not once per script.
HELP_ALL = """
import contextlib, io, json, runpy, sys
answers = {}
for script in sys.argv[1:]:
    out, err = io.StringIO(), io.StringIO()
    sys.argv, sys.path[0] = [script, "--help"], script.rsplit("/", 1)[0]  # as `python script.py` sets them
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            runpy.run_path(script, run_name="__main__")
        code = 0
    except SystemExit as exc:
        code = exc.code or 0
    except BaseException as exc:
        code, err = 1, io.StringIO(f"{type(exc).__name__}: {exc}")
    answers[script] = {"code": code, "stdout": out.getvalue(), "stderr": err.getvalue()}
print(json.dumps(answers))
"""


@pytest.fixture(scope="module")
def help_answers() -> dict[str, dict]:
    proc = subprocess.run([sys.executable, "-c", HELP_ALL, *map(str, SCRIPTS)], cwd=ROOT, capture_output=True,
                          text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_the_experiments_are_there():
    assert {p.stem for p in SCRIPTS} >= {"stream_ablation", "cache_storage", "int8_speed", "measure_int8",
                                         "measure_pruning", "train_flops", "gpu_bench", "checks", "evalall", "sweep"}


@pytest.mark.slow  # the fixture's process imports every script's dependencies
@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_each_script_answers_help_and_names_its_table(script, help_answers):
    answer = help_answers[str(script)]
    assert answer["code"] == 0 and answer["stdout"].startswith("usage: "), answer["stderr"]
    doc = ast.get_docstring(ast.parse(script.read_text()))
    assert "docs/results/" in doc and f"experiments/{script.name}" in doc, script.name
