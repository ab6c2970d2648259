"""`lab prepare` end to end on miniature FF++, Celeb-DF and DFDC downloads (real H.264 with B-frames, a real
face): the layout, manifest and families the dataset reads, resume after SIGKILL, failures that do not stop
the run, and training on the result."""
from __future__ import annotations

import contextlib
import csv
import functools
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from lab.cli.main import main
from lab.data.dataset import FrameSequenceDataset
from lab.data.video import list_frames
from lab.training.loop import fit

from _fixtures import ROOT, TINY_OVERRIDES, tiny_config
from _prepare_trees import make_celebdf, make_dfdc, make_ffpp, two_face_clip, write_h264

FFPP_ARGS = ("--face-crop", "--size", "48", "--frames", "6", "--workers", "2", "--no-progress")


def prepare(*args, command: str = "prepare") -> tuple[int, str, str]:
    """`lab prepare ...` (or another `command`) in-process: (exit status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([command, *map(str, args)])
    return code, out.getvalue(), err.getvalue()


def tree(root: Path) -> dict[str, bytes]:
    """Every file under root (relative path -> bytes)."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def manifest(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="session")
def ffpp_prepared(tmp_path_factory) -> tuple[Path, Path]:
    """A miniature FF++ download and its uninterrupted `lab prepare --face-crop` output."""
    root = tmp_path_factory.mktemp("ffpp")
    source = make_ffpp(root / "download")
    code, stdout, stderr = prepare(source, root / "out", *FFPP_ARGS)
    assert code == 0, stderr
    return source, root / "out"


def check_layout_and_manifest(out: Path, frames: int, side: int | None) -> dict[str, str]:
    """Every split: items in the seed layout, a manifest row per item, read back by the dataset.
    Returns item -> family over all splits."""
    families = {}
    for split in ("train", "val", "test"):
        rows = manifest(out / split / "manifest.csv")
        on_disk = sorted(f"{p.parent.name}/{p.name}" for p in (out / split).glob("*/*") if p.is_dir())
        assert sorted(r["item"] for r in rows) == on_disk and on_disk
        for row in rows:
            assert row["label"] == str(("real", "fake").index(row["item"].split("/")[0]))
            assert row["frames"] == str(frames) and row["faces_missed"] != ""
            images = list_frames(out / split / row["item"])
            assert [p.name for p in images] == [f"frame_{i:04d}.jpg" for i in range(1, frames + 1)]
            if side:
                assert cv2.imread(str(images[0])).shape == (side, side, 3)
        ds = FrameSequenceDataset(out / split, sequence_length=4, stride=4)
        got = {item.name: item.family for item in ds.items}
        assert got == {r["item"]: r["family"] for r in rows}  # evaluation's per-family tables read these
        families.update(got)
    return families


def test_ffpp_gives_the_seed_layout_with_method_families(ffpp_prepared):
    source, out = ffpp_prepared
    families = check_layout_and_manifest(out, frames=6, side=48)
    assert families["fake/deepfakes__000_001"] == "deepfakes" and families["fake/faceswap__005_004"] == "faceswap"
    assert families["real/youtube__003"] == "youtube" and "fake/deepfakes__000_002" not in families
    row = next(r for r in manifest(out / "val" / "manifest.csv") if r["item"] == "fake/deepfakes__002_003")
    assert (row["target_id"], row["source_id"], row["original_id"], row["compression"]) == ("002", "003", "002", "c23")
    assert (row["split_rule"], row["face_track"]) == ("ffpp-split-files", "")  # one face per video: no track id
    assert json.loads((out / "prepare.json").read_text())["source"] == str(source.resolve())
    assert not (out / "failed.csv").exists()


@pytest.mark.parametrize("name, build, extra, families", [
    ("celebdf", make_celebdf, ["--val-fraction", "0.5"], {"celeb-real", "youtube-real", "celeb-synthesis"}),
    ("dfdc", functools.partial(make_dfdc, official=True), [], {"dfdc-real", "dfdc-fake"}),  # the official split
])
def test_celebdf_and_dfdc_give_the_seed_layout(tmp_path, name, build, extra, families):
    source = build(tmp_path / name, frames=4)
    code, stdout, stderr = prepare(source, tmp_path / "out", "--face-crop", "--size", "32", "--frames", "4",
                                   "--workers", "1", "--no-progress", *extra)  # in-process; the pool: FF++ tests
    assert code == 0, stderr
    assert set(check_layout_and_manifest(tmp_path / "out", frames=4, side=32).values()) == families
    assert f"prepared {name}" in stdout and "faces:" in stdout
    # what train.py runs (test_train_py_trains_on_a_prepared_tree... runs its entry point on FF++)
    result = fit(tiny_config(tmp_path / "out", "training.epochs=1"), run_name=name, checkpoint_dir=tmp_path / "ck",
                 log_dir=tmp_path / "logs", progress=False)
    assert result.best_path.is_file() and len(result.history) == 1


def test_a_second_run_skips_finished_items_and_refuses_other_settings(ffpp_prepared, tmp_path):
    source, done = ffpp_prepared
    out = tmp_path / "out"
    shutil.copytree(done, out)
    before = tree(out)
    code, stdout, _ = prepare(source, out, *FFPP_ARGS)
    assert code == 0 and "0 written now, 18 already done" in stdout and tree(out) == before
    code, _, stderr = prepare(source, out, *FFPP_ARGS, "--frames", "4")
    assert code == 2 and "frames 6 (now 4)" in stderr and len(stderr.strip().splitlines()) == 1
    assert tree(out) == before


@pytest.mark.slow
def test_sigkill_mid_run_then_resume_equals_an_uninterrupted_run(ffpp_prepared, tmp_path):
    source, uninterrupted = ffpp_prepared
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "lab.cli", "prepare", str(source), str(out), *FFPP_ARGS]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not any(out.glob("*/*/*/item.json")):  # at least one item finished
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.monotonic() < deadline
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stderr.close()
    killed = tree(out)
    assert not any(name.endswith("manifest.csv") for name in killed)  # killed before the end
    assert len({n.split("/")[2] for n in killed if "/" in n and n.count("/") >= 3}) < 18

    resumed = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    assert "already done" in resumed.stdout
    after = tree(out)
    assert sorted(after) == sorted(tree(uninterrupted))  # same files (no .part-* left) ...
    assert after == tree(uninterrupted)  # ... with the same bytes: frames, item.json, manifests, prepare.json


DFDC_PARTS_ARGS = ("--split", "parts", "--val-parts", "0", "--test-parts", "1")  # with make_dfdc(third_part=True)


def test_a_broken_video_is_reported_and_the_run_goes_on(tmp_path):
    source = make_dfdc(tmp_path / "dfdc", frames=4, third_part=True)
    broken = source / "dfdc_train_part_0" / "abarnvbtwb.mp4"
    broken.write_bytes(b"not a video at all" * 100)
    (source / "dfdc_train_part_1" / "ekcrtigpab.mp4").unlink()  # listed in metadata.json, never downloaded
    out = tmp_path / "out"
    args = (source, out, "--frames", "4", "--workers", "2", "--no-progress", *DFDC_PARTS_ARGS)
    code, stdout, stderr = prepare(*args)
    assert code == 2
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: 2 of 13 videos failed") and "failed.csv" in lines[0]
    assert "abarnvbtwb.mp4" in stdout and "cannot be opened" in stdout
    missing = next(line for line in stdout.splitlines() if "ekcrtigpab.mp4" in line)
    assert "not found (" in missing and missing.count("ekcrtigpab.mp4): ") == 2  # its reason names it, then the fix
    failed = manifest(out / "failed.csv")
    assert {Path(r["video"]).name for r in failed} == {"abarnvbtwb.mp4", "ekcrtigpab.mp4"}
    listed = [r["item"] for s in ("train", "val", "test") for r in manifest(out / s / "manifest.csv")]
    assert len(listed) == 11 and "real/dfdc-real__abarnvbtwb" not in listed  # the rest are written
    assert not list(out.rglob(".part-*"))  # no half-written item

    shutil.copy(source / "dfdc_train_part_0" / "aaqaifqrwn.mp4", broken)  # fix one and run again
    shutil.copy(source / "dfdc_train_part_1" / "eebrkicpry.mp4", source / "dfdc_train_part_1" / "ekcrtigpab.mp4")
    code, stdout, _ = prepare(*args)
    assert code == 0 and "2 written now, 11 already done, 0 failed" in stdout
    assert not (out / "failed.csv").exists()


def test_frames_keep_their_colours_and_every_k_th_frame(tmp_path):
    """BGR/RGB: a red-left / blue-right video comes out red-left in the JPEGs any viewer opens; --every 2
    keeps frames 0, 2, 4 (their brightness ramps)."""
    frames = np.zeros((10, 48, 64, 3), np.uint8)
    frames[:, :, :32, 0] = 200  # red (RGB)
    frames[:, :, 32:, 2] = 200  # blue
    frames[:, :8, :, 1] = (np.arange(10) * 20)[:, None, None]  # a green stripe that brightens by frame
    write_h264(tmp_path / "src/train/real/clip.mp4", frames)
    write_h264(tmp_path / "src/train/fake/warp__clip.mp4", frames)
    code, stdout, stderr = prepare(tmp_path / "src", tmp_path / "out", "--every", "2", "--frames", "3", "--size", "24",
                                   "--workers", "1", "--no-progress")
    assert code == 0, stderr
    images = list_frames(tmp_path / "out/train/real/clip")
    assert len(images) == 3
    bgr = cv2.imread(str(images[0]))
    assert bgr.shape == (24, 32, 3)  # shorter side 24, aspect kept
    assert bgr[16, 4, 2] > 150 and bgr[16, 4, 0] < 60  # left: red channel (index 2 in BGR files)
    assert bgr[16, 28, 0] > 150 and bgr[16, 28, 2] < 60  # right: blue
    stripe = [cv2.imread(str(p))[1, :, 1].mean() for p in images]
    assert np.allclose(stripe, [0, 40, 80], atol=12)  # source frames 0, 2, 4
    rows = manifest(tmp_path / "out/train/manifest.csv")
    assert {r["item"]: r["family"] for r in rows} == {"real/clip": "real", "fake/warp__clip": "warp"}
    assert rows[0]["faces_missed"] == ""  # no face detection ran


def test_train_py_trains_on_a_prepared_tree_and_reports_per_method(ffpp_prepared, tmp_path, capsys):
    """The seed's `python train.py` then `python test.py --eval` (their entry points, in-process) on the tree."""
    from lab.cli.evaluate import test_entry
    from lab.cli.train import train_entry
    from test_bad_input import assert_works, call

    _, out = ffpp_prepared
    data = [f"data.{s}_dir={out / s}" for s in ("train", "val", "test")]
    sets = [a for o in (*TINY_OVERRIDES, "training.epochs=1", *data) for a in ("--set", o)]
    assert_works(call(capsys, train_entry, "--run-name", "ffpp", "--checkpoint-dir", tmp_path / "ck",
                      "--log-dir", tmp_path / "logs", "--no-progress", *sets))
    checkpoint = tmp_path / "ck" / "ffpp" / "best.pth"
    assert_works(call(capsys, test_entry, "--eval", "--data_dir", out / "test", "--checkpoint", checkpoint,
                      "--out", tmp_path / "report", "--no-progress"))
    metrics = json.loads((tmp_path / "report" / "metrics.json").read_text())
    assert set(metrics["per_family"]) == {"deepfakes", "faceswap"}  # FF++ methods, with no extra step


def test_workers_start_clean_after_the_caller_used_opencv_threads(tmp_path):
    """A notebook or script that used OpenCV (its thread pool running) then prepares with workers: forked
    workers inherited that pool's locks and hung forever in cv2.setNumThreads; spawned ones start clean."""
    source = make_dfdc(tmp_path / "dfdc", frames=2, third_part=True)
    code = ("import sys, cv2, numpy as np\n"
            "cv2.resize(np.zeros((2000, 2000, 3), np.uint8), (1500, 1500))  # starts OpenCV's thread pool\n"
            "from lab.cli.main import main\n"
            f"sys.exit(main(['prepare', r'{source}', r'{tmp_path / 'out'}', '--frames', '2', '--workers', '2', "
            f"'--no-progress', *{list(DFDC_PARTS_ARGS)!r}]))\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                          capture_output=True, text=True, timeout=90)
    assert proc.returncode == 0, proc.stderr
    assert "13 written now" in proc.stdout


def test_every_face_track_is_an_item_and_every_face_of_a_fake_video_is_labelled_fake(tmp_path):
    """Two real faces; in the fake only the right-hand one is altered. `--faces all` writes one item per face
    track, each with its track id, and labels both of the fake video's faces fake: one of them shows a face
    that was never swapped (the label noise docs/datasets/dfdc.md describes)."""
    part = tmp_path / "dfdc" / "dfdc_train_part_0"
    write_h264(part / "aaaaaaaaaa.mp4", two_face_clip(8))
    write_h264(part / "bbbbbbbbbb.mp4", two_face_clip(8, swapped=True))
    (part / "metadata.json").write_text(json.dumps({"aaaaaaaaaa.mp4": {"label": "REAL", "original": None},
                                                    "bbbbbbbbbb.mp4": {"label": "FAKE", "original": "aaaaaaaaaa.mp4"}}))
    out = tmp_path / "out"
    code, _, stderr = prepare(part.parent, out, "--split", "drawn", "--val-fraction", "0", "--test-fraction", "0",
                              "--face-crop", "--faces", "all", "--size", "64", "--frames", "8", "--workers", "1",
                              "--no-progress")
    assert code == 0, stderr
    rows = {r["item"]: r for r in manifest(out / "train" / "manifest.csv")}
    assert sorted(rows) == ["fake/dfdc-fake__bbbbbbbbbb__face0", "fake/dfdc-fake__bbbbbbbbbb__face1",
                            "real/dfdc-real__aaaaaaaaaa__face0", "real/dfdc-real__aaaaaaaaaa__face1"]
    for item, row in rows.items():
        assert row["face_track"] == item[-1] and row["label"] == ("1" if item.startswith("fake/") else "0")
        assert json.loads((out / "train" / item / "item.json").read_text())["face_tracks"] == 2
    fakes = [r for r in rows.values() if r["label"] == "1"]
    assert {(r["original_id"], r["video"]) for r in fakes} == {("aaaaaaaaaa", "dfdc_train_part_0/bbbbbbbbbb.mp4")}

    def frames(item: str) -> np.ndarray:
        return np.stack([cv2.imread(str(p)) for p in list_frames(out / "train" / item)]).astype(np.float64)

    reals = [frames(f"real/dfdc-real__aaaaaaaaaa__face{k}") for k in (0, 1)]
    closest = sorted(min(np.abs(frames(r["item"]) - real).mean() for real in reals) for r in fakes)
    # one fake crop is the untouched face (two encodes of the same pixels: ~5 of 255 apart), the other the swapped
    assert closest[0] < 8 and closest[1] > 3 * closest[0], closest


def test_shards_then_merge_equal_one_run_byte_for_byte(tmp_path):
    source = make_dfdc(tmp_path / "dfdc", frames=3, official=True)
    (source / "dfdc_train_part_0" / "abarnvbtwb.mp4").write_bytes(b"not a video")  # fails in both ways
    args = ("--frames", "3", "--size", "24", "--workers", "1", "--no-progress")
    one, sharded = tmp_path / "one", tmp_path / "sharded"
    code, _, _ = prepare(source, one, *args)
    assert code == 2  # the broken video; the others are written
    codes = [prepare(source, sharded, *args, "--shard", f"{k}/3")[0] for k in (1, 2, 3)]
    assert sorted(codes) == [0, 0, 2]  # one shard holds the broken video
    assert sorted(p.name for p in (sharded / "shards").iterdir()) == ["1-of-3.csv", "2-of-3.csv", "3-of-3.csv"]
    code, stdout, stderr = prepare(sharded, command="prepare-merge")
    assert code == 2 and "1 videos failed in the shards" in stderr and "merged 3 shard part(s)" in stdout

    def files(root: Path) -> dict[str, bytes]:  # what a user reads: items, manifests, failed.csv, prepare.json
        return {k: v for k, v in tree(root).items() if not k.startswith(("shards/", "."))}

    assert files(sharded) == files(one)
    assert {"train/manifest.csv", "val/manifest.csv", "test/manifest.csv", "failed.csv"} <= set(files(one))

    spare = tmp_path / "2-of-3.csv"
    shutil.move(sharded / "shards/2-of-3.csv", spare)
    code, _, stderr = prepare(sharded, command="prepare-merge")
    lines = stderr.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "are in no shard part" in lines[0] and "run shard(s) 2/3" in lines[0]
    shutil.move(spare, sharded / "shards/2-of-3.csv")
    shutil.copy(sharded / "shards/1-of-3.csv", sharded / "shards/1-of-2.csv")  # a part of another sharding
    code, _, stderr = prepare(sharded, command="prepare-merge")
    lines = stderr.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "in more than one shard part" in lines[0] and "(1-of-2 and 1-of-3)" in lines[0]
