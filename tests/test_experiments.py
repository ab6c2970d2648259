"""The research scripts in experiments/ stay runnable: each answers --help in a fresh process (so an import or an
argument that rots fails here), and says which docs table it makes and the command that makes it."""
import ast
import os
import subprocess
import sys

import pytest

from _fixtures import ROOT

SCRIPTS = sorted((ROOT / "experiments").glob("[!_]*.py"))  # _*.py: helpers the scripts import


def test_the_experiments_are_there():
    assert {p.stem for p in SCRIPTS} >= {"stream_ablation", "cache_storage", "int8_speed", "measure_int8",
                                         "measure_pruning", "train_flops", "gpu_bench", "checks", "evalall", "sweep"}


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_each_script_answers_help_and_names_its_table(script):
    proc = subprocess.run([sys.executable, script, "--help"], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0 and proc.stdout.startswith("usage: "), proc.stderr
    doc = ast.get_docstring(ast.parse(script.read_text()))
    assert "docs/results/" in doc and f"experiments/{script.name}" in doc, script.name
