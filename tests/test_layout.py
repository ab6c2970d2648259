"""The package's architecture holds: stages import one way with no cycle, and the public API serves the seed's names."""
import subprocess
import sys
from pathlib import Path

import pytest

from tests._layering import imports, violations

ROOT = Path(__file__).resolve().parents[1]

# Lowest first. A module may import its own stage and the stages before it, never one after it.
STAGES = ["lab._version", "lab._lazy", "lab.errors", "lab._structured", "lab.config", "lab.outputs", "lab.fetch",
          "lab.data", "lab.models", "lab.runtime", "lab.scoring", "lab.evaluation", "lab.training", "lab.inference",
          "lab.experiments", "lab.workbench", "lab.cli", "lab"]

# The seed document's names, where a user of the seed would look for them.
SEED_NAMES = ("FrameSequenceDataset", "ConvLSTMCell", "ConvLSTM", "ConvLSTMClassifier", "extract_frames",
              "save_checkpoint", "load_checkpoint", "visualize_prediction", "plot_training_curves",
              "inference_video", "inference_frames")


def test_lab_imports_run_one_way_without_cycles():
    graph = imports(ROOT / "lab")
    assert "lab.training.loop" in graph["lab.cli.train"]  # the checker sees lazy imports (inside a handler)
    assert violations(ROOT / "lab", STAGES) == []


def test_the_new_homes_hold():
    """Prediction sits on the scoring engine, not on evaluation; the command line holds handlers, not the
    benchmark (which is the top-level `benchmarks` package, run by `lab bench` in a subprocess)."""
    graph = imports(ROOT / "lab")
    borrowed = {(m, t) for m, targets in graph.items() if m.startswith("lab.inference")
                for t in targets if t == "lab.evaluation" or t.startswith("lab.evaluation.")}
    assert borrowed == set()
    assert [p.name for p in (ROOT / "lab" / "cli").glob("bench*")] == ["bench.py"]
    lab_sources = "\n".join(p.read_text() for p in (ROOT / "lab").rglob("*.py"))
    assert "import benchmarks" not in lab_sources and "from benchmarks" not in lab_sources
    assert (ROOT / "benchmarks" / "__main__.py").is_file() and not (ROOT / "scripts").exists()


def _write(path: Path, text: str = "") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_checker_fails_on_a_package_that_breaks_the_rules(tmp_path):
    pkg = tmp_path / "pkg"
    _write(pkg / "__init__.py")
    _write(pkg / "low" / "__init__.py")
    _write(pkg / "low" / "base.py", "def helper():\n    from pkg.high.tool import run  # against the order\n")
    _write(pkg / "high" / "__init__.py")
    _write(pkg / "high" / "tool.py", "from . import other\n\ndef run():\n    pass\n")
    _write(pkg / "high" / "other.py", "import pkg.high.tool\n")
    problems = violations(pkg, ["pkg.low", "pkg.high", "pkg"])
    assert "pkg.low.base (stage pkg.low) imports pkg.high.tool (stage pkg.high)" in problems
    assert "import cycle: pkg.high.other -> pkg.high.tool" in problems
    assert len(problems) == 2
    with pytest.raises(ValueError, match="no declared stage"):
        violations(pkg, ["pkg.low", "pkg.high"])


def test_every_stage_says_what_it_holds():
    for init in sorted((ROOT / "lab").glob("*/__init__.py")):
        first = init.read_text().lstrip().splitlines()[0]
        assert first.startswith('"""') and len(first) > 20, init


def test_import_lab_is_light():
    code = "import sys, lab; heavy = [m for m in ('torch', 'torchvision', 'cv2', 'pandas', 'matplotlib') if m in sys.modules]; print(heavy)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_public_api_resolves_every_name_and_the_seed_names():
    import lab
    import lab.workbench

    for name in SEED_NAMES:
        assert name in lab.__all__, name
    for module in (lab, lab.workbench):
        for name in module.__all__:
            assert getattr(module, name) is not None, name
    assert lab.ConvLSTMCell.__module__ == "lab.models.convlstm"
    internals = {"binary_metrics", "plot_roc", "select_threshold", "fit_temperature", "shortcut_table", "open_item"}
    assert not internals & set(lab.__all__)  # importable from their stage modules, not the front door
    with pytest.raises(AttributeError):
        lab.no_such_name  # noqa: B018


def test_seed_entry_points_run():
    for script in ("train.py", "test.py"):
        proc = subprocess.run([sys.executable, script, "--help"], cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0 and ("--checkpoint" in proc.stdout or "--config" in proc.stdout), proc.stderr


def test_notebooks_import_only_the_public_api():
    from lab.workbench.notebooks import _code_cells, _python_source
    import nbformat

    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        lines = [line.strip() for cell in _code_cells(nbformat.read(path, as_version=4))
                 for line in _python_source(cell).splitlines()]
        lab_imports = [line for line in lines if line.startswith(("import lab", "from lab"))]
        assert len(lab_imports) <= 3, (path.name, lab_imports)
        for line in lab_imports:
            module = line.split()[1]
            assert module in ("lab", "lab.workbench"), (path.name, line)
