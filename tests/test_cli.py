"""The seed's commands and `lab` subcommands as a user runs them: real processes, real files."""
import json
import re
import subprocess
import sys

import pytest

from _fixtures import ROOT


def run(*args, cwd=ROOT, timeout=300):
    return subprocess.run([sys.executable, *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=timeout)


def lab(*args, **kw):
    return run("-m", "lab.cli", *args, **kw)


def assert_one_line_error(proc, *fragments):
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert "Traceback" not in proc.stderr
    for fragment in fragments:
        assert fragment in lines[0]


@pytest.mark.slow  # two real processes, each loading torch and the model
def test_seed_test_commands(tiny_checkpoint, synth_root):
    video = next((synth_root / "test").rglob("*.mp4"))
    proc = run("test.py", "--video", video, "--checkpoint", tiny_checkpoint)
    assert proc.returncode == 0, proc.stderr
    # the verdict names the stored threshold and how it was chosen (training.threshold: youden by default)
    assert re.fullmatch(r"(FAKE|REAL) \d\.\d\d \(\d+ windows?\) at threshold \d\.\d\d \(youden, T=[\d.]+\)",
                        proc.stdout.strip())

    folder = next(p for p in (synth_root / "test" / "real").iterdir() if p.is_dir())
    proc = run("test.py", "--frames", folder, "--checkpoint", tiny_checkpoint, "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert {"label", "prob_fake", "threshold", "windows", "frames", "decision"} <= set(out) and len(out["frames"]) == 12
    assert out["decision"]["method"] == "youden" and out["decision"]["temperature"] > 0


@pytest.mark.slow
def test_seed_eval_command_writes_report(tiny_checkpoint, synth_root, tmp_path):
    proc = run("test.py", "--eval", "--data_dir", synth_root / "test", "--checkpoint", tiny_checkpoint,
               "--out", tmp_path / "rep", "--no-progress")
    assert proc.returncode == 0, proc.stderr
    assert "ROC-AUC" in proc.stdout and (tmp_path / "rep" / "report.md").is_file()


@pytest.mark.parametrize("args, fragments", [
    (["train.py", "--set", "sequence.lenght=8"], ["sequence.lenght", "did you mean sequence.length"]),
    (["train.py", "--set", "training.batch_size=big"], ["training.batch_size", "is not of type int"]),
    (["train.py", "--config", "nope.yaml"], ["nope.yaml", "not found"]),
    (["test.py", "--video", "missing.mp4", "--checkpoint", "missing.pth"], ["missing.pth", "not found"]),
    (["train.py", "--set", "data.train_dir=/nonexistent/x"], ["/nonexistent/x"]),
])
def test_bad_input_is_one_clear_line(args, fragments, tmp_path):
    # a run folder is claimed before the data is read: keep it out of the working tree
    folders = ["--checkpoint-dir", tmp_path / "ck", "--log-dir", tmp_path / "logs"] if args[0] == "train.py" else []
    assert_one_line_error(run(*args, *folders, "--set", "model.pretrained=false", "--set", "device=cpu"), *fragments)


@pytest.mark.slow
def test_corrupt_checkpoint_and_bad_video(tmp_path, tiny_checkpoint):
    (tmp_path / "bad.pth").write_bytes(b"garbage")
    assert_one_line_error(run("test.py", "--video", "x.mp4", "--checkpoint", tmp_path / "bad.pth"), "bad.pth", "corrupt")
    (tmp_path / "fake.mp4").write_bytes(b"not a video")
    assert_one_line_error(run("test.py", "--video", tmp_path / "fake.mp4", "--checkpoint", tiny_checkpoint), "fake.mp4")


def test_debug_shows_the_traceback():
    proc = run("train.py", "--set", "sequence.lenght=8", "--debug")
    assert proc.returncode != 0 and "Traceback" in proc.stderr and "ConfigError" in proc.stderr


def test_lab_synth_writes_the_seed_layout(tmp_path):
    proc = lab("synth", "--out", tmp_path / "d", "--frames", "8")
    assert proc.returncode == 0, proc.stderr
    for split in ("train", "val", "test"):
        for cls in ("real", "fake"):
            assert any((tmp_path / "d" / split / cls).iterdir())
    assert any((tmp_path / "d" / "train").rglob("frame_0001.jpg")) and any((tmp_path / "d").rglob("*.mp4"))
    assert_one_line_error(lab("synth", "--out", tmp_path / "d"), "overwrite")


def test_extract_and_resume_flag_mistakes_are_one_line(tmp_path, tiny_checkpoint):
    assert_one_line_error(lab("extract", "v.mp4", tmp_path / "o", "--fps", "0"), "(--fps)")
    assert_one_line_error(run("train.py", "--resume", tiny_checkpoint, "--config", "config/demo.yaml"),
                          "--resume takes the config from the checkpoint")


def test_a_worker_wrapped_error_still_prints_its_own_line():
    from lab.cli.common import _one_line
    from lab.errors import DataError

    wrapped = DataError("Caught DataError in DataLoader worker process 0.\nOriginal Traceback (most recent call "
                        "last):\n  File x\nlab.errors.DataError: image is unreadable (a/b.jpg): re-extract it")
    assert _one_line(wrapped) == "image is unreadable (a/b.jpg): re-extract it"
    import pickle

    original = DataError("image is unreadable", "a/b.jpg", "re-extract it")  # what a worker pickles back
    assert str(pickle.loads(pickle.dumps(original))) == str(original) == "image is unreadable (a/b.jpg): re-extract it"


def test_no_parser_takes_an_abbreviated_flag(tmp_path):
    """A shortened flag is refused, never read as the longer one it begins (`--test-part` is not `--test-parts`);
    `--split` is DFDC's split rule, not an abbreviation of `--splits` (FF++'s split-files folder)."""
    proc = lab("prepare", tmp_path / "src", tmp_path / "out", "--format", "dfdc", "--test-part", "4")
    assert_one_line_error(proc, "unrecognized arguments: --test-part 4")
    assert not (tmp_path / "out").exists()

    import argparse

    from benchmarks.__main__ import build_parser as bench_parser
    from lab.cli.evaluate import test_parser
    from lab.cli.main import build_parser
    from lab.cli.train import train_parser

    def parsers(p):
        yield p
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction):
                for child in action.choices.values():
                    yield from parsers(child)

    every = [q for p in (build_parser(), train_parser(), test_parser(), bench_parser()) for q in parsers(p)]
    assert len(every) > 15 and all(q.allow_abbrev is False for q in every), [q.prog for q in every if q.allow_abbrev]
    args = build_parser().parse_args(["prepare", "src", "out", "--format", "dfdc", "--split", "official"])
    assert (args.split, args.splits) == ("official", None)


def test_lab_bench_runs_the_checkouts_benchmarks_and_refuses_elsewhere(tmp_path, monkeypatch):
    import lab.cli.bench as bench
    from lab.cli.main import main

    ran = []
    with monkeypatch.context() as patched:
        patched.setattr(bench.subprocess, "run",
                        lambda cmd, cwd: ran.append((cmd, cwd)) or subprocess.CompletedProcess(cmd, 0))
        patched.chdir(ROOT / "lab")  # anywhere inside the checkout
        assert main(["bench", "--quick", "--out", str(tmp_path / "out")]) == 0
    assert ran == [([sys.executable, "-m", "benchmarks", "--out", str(tmp_path / "out"), "--quick"], ROOT)]

    proc = lab("bench", "--quick", cwd=tmp_path)  # no checkout here or above
    assert_one_line_error(proc, "the benchmarks live in the project checkout", "inside the convlstm-lab checkout")
