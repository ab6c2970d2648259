"""The bad-input contract, everywhere: every CLI (train.py, test.py, lab ...) answers bad input with exit code 2 and
one line `error: <what> (<which file or key>): <what to do>`, no traceback; good-but-unusual input just works.

The bad files are built here at run time: a real H.264 .mp4 written by PyAV then truncated or emptied of its
frames, a text file named .mp4, a 0-byte JPEG, 16-bit PNGs written by OpenCV, a pickle that carries code.
The handlers run in-process (train.py/test.py/`lab` call exactly these entry points; test_cli.py runs them as
processes) so the whole matrix stays fast.
"""
from __future__ import annotations

import ast
import os
import re
import shutil
import struct
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
import torch

from lab.cli.evaluate import test_entry as seed_test
from lab.cli.train import train_entry
from lab.cli.main import main as lab_main

from _contract import assert_contract, assert_works, call
from _fixtures import ROOT, TINY_OVERRIDES

# ----------------------------------------------------------------------------------------------- builders


def h264(path: Path, frames: int = 12, width: int = 64, height: int = 36) -> Path:
    """A real H.264 .mp4 (PyAV/libx264, B-frames on by default), 16:9."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=12)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for _ in range(frames):
            image = rng.integers(0, 255, (height // 4, width // 4, 3), dtype=np.uint8)
            frame = av.VideoFrame.from_ndarray(cv2.resize(image, (width, height)), format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


def truncated(path: Path) -> Path:
    data = h264(path).read_bytes()
    path.write_bytes(data[: len(data) // 2])  # the index (moov) sits at the end: it is gone
    return path


def without_frames(path: Path) -> Path:
    """Opens (the index is whole) but every sample's bytes are zero: not one frame decodes."""
    data = bytearray(h264(path).read_bytes())
    at = data.find(b"mdat")
    size = struct.unpack(">I", data[at - 4:at])[0]
    data[at + 4:at - 4 + size] = bytes(size - 8)
    path.write_bytes(bytes(data))
    return path


def frames(folder: Path, n: int = 6, size=(32, 48), ext: str = "jpg", channels: int = 3, dtype=np.uint8) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    top = 65535 if dtype == np.uint16 else 255
    for i in range(1, n + 1):
        shape = size if channels == 1 else (*size, channels)
        cv2.imwrite(str(folder / f"frame_{i:03d}.{ext}"), rng.integers(0, top, shape, dtype=dtype))
    return folder


@pytest.fixture(scope="module")
def ckpt(tiny_checkpoint) -> Path:
    return tiny_checkpoint


def predict(capsys, ckpt, kind, path, *extra):
    return call(capsys, seed_test, kind, path, "--checkpoint", ckpt, "--set", "device=cpu", *extra)


# ------------------------------------------------------------------------------------------------ videos


def test_empty_truncated_text_and_frameless_videos(capsys, ckpt, tmp_path):
    (tmp_path / "empty.mp4").write_bytes(b"")
    assert_contract(predict(capsys, ckpt, "--video", tmp_path / "empty.mp4"), "video is an empty file", "empty.mp4")
    assert_contract(predict(capsys, ckpt, "--video", truncated(tmp_path / "cut.mp4")), "cannot be opened", "cut.mp4",
                    "re-encode")
    (tmp_path / "text.mp4").write_text("this is a text file, not a video\n" * 20)
    assert_contract(predict(capsys, ckpt, "--video", tmp_path / "text.mp4"), "cannot be opened", "text.mp4")
    assert_contract(predict(capsys, ckpt, "--video", without_frames(tmp_path / "zeroed.mp4")),
                    "video has no decodable frames", "zeroed.mp4")
    (tmp_path / "notes.txt").write_text("x")
    assert_contract(predict(capsys, ckpt, "--video", tmp_path / "notes.txt"), "not a video file", "notes.txt")
    assert_contract(predict(capsys, ckpt, "--video", tmp_path / "missing.mp4"), "not found", "missing.mp4")


def test_a_video_shorter_than_one_window(capsys, ckpt, tmp_path):
    short = h264(tmp_path / "short.mp4", frames=3)  # the tiny model's window is 4 frames
    out = assert_works(predict(capsys, ckpt, "--video", short))
    assert re.fullmatch(r"(FAKE|REAL) \d\.\d\d \(1 window\) at threshold \d\.\d\d \(youden, T=[\d.]+\)", out.strip())
    assert_contract(predict(capsys, ckpt, "--video", short, "--set", "sequence.short_items=error"),
                    "shorter than one window", "short.mp4", "sequence.short_items=pad")


# ------------------------------------------------------------------------------------------ frame folders


def test_frame_folders_that_are_empty_hold_no_images_or_a_bad_jpeg(capsys, ckpt, tmp_path):
    (tmp_path / "empty").mkdir()
    assert_contract(predict(capsys, ckpt, "--frames", tmp_path / "empty"), "holds no .jpg", "empty")
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("x")
    (other / "data.csv").write_text("a,b\n")
    assert_contract(predict(capsys, ckpt, "--frames", other), "holds no .jpg", "other")
    zero = frames(tmp_path / "zero")
    (zero / "frame_003.jpg").write_bytes(b"")
    assert_contract(predict(capsys, ckpt, "--frames", zero), "image is an empty file", "frame_003.jpg")
    corrupt = frames(tmp_path / "corrupt")
    (corrupt / "frame_004.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    assert_contract(predict(capsys, ckpt, "--frames", corrupt), "empty or corrupt", "frame_004.jpg",
                    "replace or delete")


def test_frames_of_mixed_sizes_are_named(capsys, ckpt, tmp_path):
    folder = frames(tmp_path / "mixed", n=5)
    cv2.imwrite(str(folder / "frame_006.jpg"), np.zeros((40, 40, 3), np.uint8))
    assert_contract(predict(capsys, ckpt, "--frames", folder), "frame is 40x40 but frame_001.jpg is 48x32",
                    "frame_006.jpg", "one size")


@pytest.mark.parametrize("channels, dtype", [(1, np.uint8), (4, np.uint8), (3, np.uint16), (1, np.uint16)])
def test_grayscale_rgba_and_16_bit_png_frames_work(capsys, ckpt, tmp_path, channels, dtype):
    folder = frames(tmp_path / "png", ext="png", channels=channels, dtype=dtype)
    assert cv2.imread(str(folder / "frame_001.png"), cv2.IMREAD_UNCHANGED).dtype == dtype  # really 16-bit
    assert_works(predict(capsys, ckpt, "--frames", folder, "--json"))


# ----------------------------------------------------------------------------------------------- datasets


def split_copy(synth_root: Path, dest: Path) -> Path:
    shutil.copytree(synth_root / "test", dest)
    return dest


def evaluate(capsys, ckpt, data_dir, tmp_path, *extra):
    return call(capsys, seed_test, "--eval", "--data_dir", data_dir, "--checkpoint", ckpt, "--out",
                tmp_path / "rep", "--no-progress", "--set", "device=cpu", *extra)


def test_dataset_roots_without_classes_or_with_a_bad_item(capsys, ckpt, synth_root, tmp_path):
    (tmp_path / "flat").mkdir()
    h264(tmp_path / "flat" / "a.mp4")
    assert_contract(evaluate(capsys, ckpt, tmp_path / "flat", tmp_path), "no real/ or fake/ subfolder", "flat")
    bad_item = split_copy(synth_root, tmp_path / "bad_item")
    truncated(bad_item / "fake" / "zz_cut.mp4")  # the policy: a bad item fails, naming it
    assert_contract(evaluate(capsys, ckpt, bad_item, tmp_path), "cannot be opened", "zz_cut.mp4")
    bad_frame = split_copy(synth_root, tmp_path / "bad_frame")
    item = next(p for p in sorted((bad_frame / "real").iterdir()) if p.is_dir())
    next(iter(sorted(item.glob("*.jpg")))).write_bytes(b"")
    assert_contract(evaluate(capsys, ckpt, bad_frame, tmp_path), "image is an empty file", item.name)


def test_training_refuses_an_empty_class(capsys, synth_root, tmp_path):
    train = split_copy(synth_root, tmp_path / "train")
    shutil.rmtree(train / "fake")
    (train / "fake").mkdir()
    result = call(capsys, train_entry, "--checkpoint-dir", tmp_path / "ck", "--log-dir", tmp_path / "logs",
                  "--no-progress", *sets(synth_root, f"data.train_dir={train}"))
    assert_contract(result, "training needs real and fake items", str(train))


def sets(synth_root: Path, *extra: str) -> list[str]:
    items = [*TINY_OVERRIDES, *(f"data.{s}_dir={synth_root / s}" for s in ("train", "val", "test")), *extra]
    return [flag for item in items for flag in ("--set", item)]


# ------------------------------------------------------------------------------------------------- config


@pytest.mark.parametrize("override, fragments", [
    ("sequence.lenght=8", ["unknown config key (sequence.lenght)", "did you mean sequence.length"]),
    ("training.batch_size=big", ["'big' is not of type int (training.batch_size)"]),
    ("training.learning_rate=-1", ["(training.learning_rate)", "give a value >= 0"]),
    ("model.classifier.dropout=1", ["(model.classifier.dropout)"]),
    ("training.scheduler=cosine", ["expected a section of keys", "(training.scheduler)"]),
    ("training", ["must look like key.path=value (training)"]),
    ("device=tpu", ["unknown device 'tpu' (device)"]),
])
def test_config_keys_types_and_ranges(capsys, override, fragments):
    result = call(capsys, train_entry, "--set", "model.pretrained=false", "--set", override)
    assert_contract(result, *fragments)


def test_config_files_and_flags(capsys, tmp_path):
    (tmp_path / "bad.yaml").write_text("model: [1, 2\n")
    assert_contract(call(capsys, train_entry, "--config", tmp_path / "bad.yaml"), "not valid YAML", "bad.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    assert_contract(call(capsys, train_entry, "--config", tmp_path / "list.yaml"), "holds a list", "list.yaml")
    (tmp_path / "typo.yaml").write_text("training:\n  epoch: 3\n")
    assert_contract(call(capsys, train_entry, "--config", tmp_path / "typo.yaml"), "(training.epoch)",
                    "did you mean training.epochs")
    assert_contract(call(capsys, train_entry, "--epochs", "ten"), "invalid int value: 'ten' (--epochs)", "--help")
    assert_contract(call(capsys, seed_test), "(test.py)", "one of the arguments --video --frames --eval")
    assert_contract(call(capsys, lab_main, "trian"), "invalid choice", "(command)")
    assert_contract(call(capsys, lab_main, "synth", "--out", tmp_path / "s", "--frames", "1"), "(SynthSpec.frames")
    assert_contract(call(capsys, lab_main, "synth", "--out", tmp_path / "s", "--frames", "0"), "(SynthSpec.frames")
    assert_contract(call(capsys, lab_main, "synth", "--out", tmp_path / "s", "--items", "0", "0", "0"),
                    "writes nothing (--items)")
    assert_contract(call(capsys, lab_main, "summary", "--set", "model.backbone=vgg"), "(model.backbone)")
    assert_contract(call(capsys, lab_main, "extract", tmp_path / "none.mp4", tmp_path / "o"), "video not found")
    (tmp_path / "a_file").write_text("x")
    assert_contract(call(capsys, lab_main, "bench", "--quick", "--out", tmp_path / "a_file"),
                    "the bench report folder is a file", "a_file)", "--out")
    assert_contract(call(capsys, lab_main, "demo", "--data-root", tmp_path / "a_file" / "sub"),
                    "cannot write to the data folder, Not a directory")


# -------------------------------------------------------------------------------------------- checkpoints


def test_missing_empty_truncated_and_folder_checkpoints(capsys, ckpt, tmp_path):
    video = h264(tmp_path / "v.mp4")
    assert_contract(predict(capsys, tmp_path / "none.pth", "--video", video), "checkpoint not found", "none.pth")
    (tmp_path / "empty.pth").write_bytes(b"")
    assert_contract(predict(capsys, tmp_path / "empty.pth", "--video", video), "empty file", "empty.pth")
    data = ckpt.read_bytes()
    (tmp_path / "cut.pth").write_bytes(data[: len(data) // 2])
    assert_contract(predict(capsys, tmp_path / "cut.pth", "--video", video), "truncated or corrupt", "cut.pth")
    assert_contract(predict(capsys, tmp_path, "--video", video), "checkpoint path is a folder")
    assert_contract(call(capsys, train_entry, "--resume", tmp_path / "cut.pth"), "truncated or corrupt", "cut.pth")


def test_a_checkpoint_of_another_architecture_says_which_keys_differ(capsys, ckpt, tmp_path):
    video = h264(tmp_path / "v.mp4")
    match = assert_contract(predict(capsys, ckpt, "--video", video, "--set", "model.convlstm.hidden_channels=[16,16]"),
                            "built for another architecture", "of another shape", "in the file", "here")
    assert match["where"] == str(ckpt)
    assert_contract(predict(capsys, ckpt, "--video", video, "--set", "model.convlstm.num_layers=1",
                            "--set", "model.convlstm.hidden_channels=[8]"), "not in this model", "convlstm")


class RunsCode:
    """Unpickling this runs a shell command that creates `marker` (if anything ever unpickled it)."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch '{self.marker}'",))


def test_a_pickle_that_carries_code_is_refused_and_never_runs(capsys, tmp_path):
    marker = tmp_path / "the_code_ran"
    torch.save({"format": "convlstm-lab/1", "model": {}, "payload": RunsCode(marker)}, tmp_path / "evil.pth")
    match = assert_contract(predict(capsys, tmp_path / "evil.pth", "--video", h264(tmp_path / "v.mp4")),
                            "checkpoint refused", "Python code (", "system)", "weights_only")
    assert match["where"].endswith("evil.pth") and not marker.exists()
    assert_contract(call(capsys, train_entry, "--resume", tmp_path / "evil.pth"), "checkpoint refused")
    assert not marker.exists()


# ------------------------------------------------------------------------------------ paths that must work


def test_paths_with_spaces_and_non_ascii_characters_work(capsys, ckpt, synth_root, tmp_path):
    home = tmp_path / "Données d'été" / "my ckpts ü"
    home.mkdir(parents=True)
    best = home / "bést run.pth"
    shutil.copy(ckpt, best)
    video = h264(tmp_path / "Vidéos" / "clip 1 – ß.mp4")
    assert_works(predict(capsys, best, "--video", video))
    assert_works(predict(capsys, best, "--frames", frames(tmp_path / "främes dir" / "ç 1", ext="png")))
    split = split_copy(synth_root, tmp_path / "jeu de données" / "tést")
    out = assert_works(call(capsys, lab_main, "eval", "--checkpoint", best, "--data_dir", split, "--out",
                            tmp_path / "rapports é", "--no-progress", "--set", "device=cpu"))
    assert (tmp_path / "rapports é" / "report.md").is_file() and "ROC-AUC" in out
    run = call(capsys, train_entry, "--checkpoint-dir", tmp_path / "chkpt ö", "--log-dir", tmp_path / "jour naux",
               "--no-progress", "--run-name", "essai ñ", *sets(synth_root, "training.epochs=1",
                                                                f"data.train_dir={split}", f"data.val_dir={split}"))
    assert_works(run)
    assert (tmp_path / "chkpt ö" / "essai ñ" / "last.pth").is_file()


# ------------------------------------------------------------------------------- every raise has 3 parts


PENDING: set[str] = set()


def test_every_lab_error_is_raised_with_what_where_and_fix():
    """Statically: each `raise XxxError(...)` of a LabError subclass passes (what, where, fix)."""
    names = {"LabError", "ConfigError", "DataError", "CheckpointError", "StorageError", "TrainingError",
             "NotebookError"}
    bad = []
    for path in sorted((ROOT / "lab").rglob("*.py")):
        if path.relative_to(ROOT).as_posix() in PENDING:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
                func = node.exc.func
                name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
                if name in names and len(node.exc.args) + len(node.exc.keywords) < 3:
                    bad.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert bad == []
