"""Packaging promises: environment.yml and pyproject.toml list the same dependencies; layout exists."""
import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _norm(req: str) -> str:
    return re.sub(r"\s+", "", req).lower().replace("_", "-")


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = {_norm(r) for r in project["dependencies"] + project["optional-dependencies"]["dev"]}
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    listed = {_norm(r) for r in pip_section if not r.startswith("-e")}
    assert listed == declared


def test_requirements_txt_matches_pyproject_and_installs_the_package():
    """The seed's `pip install -r requirements.txt` gets the same dependencies and the package itself."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = {_norm(r) for r in project["dependencies"] + project["optional-dependencies"]["dev"]}
    lines = [line.strip() for line in (ROOT / "requirements.txt").read_text().splitlines()]
    lines = [line for line in lines if line and not line.startswith("#")]
    assert "-e ." in lines
    assert {_norm(r) for r in lines if not r.startswith("-e")} == declared


def test_layout_from_the_design_card():
    for name in ("lab", "notebooks", "config", "data", "checkpoints", "reports", "tests",
                 "environment.yml", "requirements.txt", "README.md", "train.py", "test.py", "Makefile", ".ci/run"):
        assert (ROOT / name).exists(), name
    assert "make test" in (ROOT / ".ci/run").read_text()
