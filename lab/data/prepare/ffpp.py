"""FaceForensics++ as downloaded by its script, split by the official `splits/{train,val,test}.json`.

    original_sequences/youtube/<c>/videos/000.mp4                   real, family youtube
    manipulated_sequences/<Method>/<c>/videos/000_003.mp4           fake of target 000 with source 003's face
    original_sequences/actors/<c>/videos/01__walking_outside.mp4    real, family actors (DeepFakeDetection)
    manipulated_sequences/DeepFakeDetection/<c>/videos/01_02__walking_outside__ABCD1234.mp4

The split files list pairs of youtube ids. A real video goes to its id's split; a fake `T_S` goes to the split
holding both T and S, and is left out (counted) otherwise, so no identity crosses splits. The DeepFakeDetection
actors have no official split: actors are drawn into test/val by `--test-fraction`/`--val-fraction`, and a fake
whose two actors fall in different splits is left out.
"""
from __future__ import annotations

import re
from pathlib import Path

from lab.errors import ConfigError, DataError
from lab.data.prepare.plan import SPLITS, Job, Plan, Settings, assign_groups, joint_split, left_out, read_json, videos_in

NAME = "ffpp"
METHODS: tuple[str, ...] = ("Deepfakes", "Face2Face", "FaceSwap", "NeuralTextures", "FaceShifter", "DeepFakeDetection")
DFD = "DeepFakeDetection"  # made from the actors' videos, not the youtube ones
COMPRESSIONS: tuple[str, ...] = ("raw", "c23", "c40")
SPLITS_URL = "github.com/ondyari/FaceForensics (dataset/splits/)"
_PAIR = re.compile(r"^(\d+)_(\d+)$")
_DFD_FAKE = re.compile(r"^(\d+)_(\d+)__(.+?)__[^_]+$")
_DFD_REAL = re.compile(r"^(\d+)__(.+)$")


def looks_like(source: Path) -> bool:
    return (source / "original_sequences").is_dir() or (source / "manipulated_sequences").is_dir()


def _compressions_found(folder: Path) -> str:
    found = sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []
    return ", ".join(found) or "none"


def _videos(folder: Path, compression: str, what: str, method: bool = False) -> list[Path]:
    hint = (f"download the {compression} videos, or pick the compression you have with --compression "
            f"(found: {_compressions_found(folder)})")
    if (folder / compression).is_dir():
        hint = "finish its download" + (", or leave the method out with --methods" if method else "")
    return videos_in(folder / compression / "videos", what, hint)


def read_splits(folder: Path) -> dict[str, str]:
    """youtube id -> split from the official train/val/test.json (lists of [id, id] pairs)."""
    id_split: dict[str, str] = {}
    for split in SPLITS:
        path = folder / f"{split}.json"
        if not path.is_file():
            raise DataError("FF++ split file not found", path,
                            f"copy train/val/test.json from {SPLITS_URL} into '{folder}' or pass --splits DIR")
        pairs = read_json(path, "FF++ split file")
        if not isinstance(pairs, list) or not all(isinstance(p, list) and len(p) == 2 for p in pairs):
            raise DataError("FF++ split file does not hold a list of [id, id] pairs", path,
                            f"restore it from {SPLITS_URL}")
        for pair in pairs:
            for vid in map(str, pair):
                if id_split.setdefault(vid, split) != split:
                    raise DataError(f"video id {vid} is in both {id_split[vid]}.json and {split}.json", folder,
                                    f"restore the official files from {SPLITS_URL}")
    return id_split


def _methods(manipulated: Path, settings: Settings) -> list[str]:
    present = sorted(p.name for p in manipulated.iterdir() if p.is_dir()) if manipulated.is_dir() else []
    for method in settings.methods:
        if method not in present:
            raise ConfigError(f"method {method} has no folder '{manipulated / method}'", "--methods",
                              f"choose from the methods found: {', '.join(present) or 'none'}")
    chosen = list(settings.methods) or sorted(present, key=lambda m: (METHODS.index(m) if m in METHODS else len(METHODS), m))
    if not chosen:
        raise DataError(f"folder holds no manipulation method folders (e.g. {', '.join(METHODS[:2])})", manipulated,
                        "download at least one method")
    return chosen


def plan(source: Path, settings: Settings) -> Plan:
    if settings.compression not in COMPRESSIONS:
        raise ConfigError(f"FF++ does not come as {settings.compression!r}", "--compression",
                          f"choose one of {', '.join(COMPRESSIONS)}")
    originals = source / "original_sequences"
    if not originals.is_dir():
        raise DataError("no original_sequences/ folder", source, "point SOURCE at the FaceForensics++ root "
                        "(the folder holding original_sequences/ and manipulated_sequences/)")
    c = settings.compression
    methods = _methods(source / "manipulated_sequences", settings)
    fakes = {m: _videos(source / "manipulated_sequences" / m, c, f"FF++ {m}", method=True) for m in methods}
    jobs, notes = [], []

    def job(split: str, label: int, family: str, path: Path, **ids: str) -> Job:
        return Job(split, label, f"{family}__{path.stem}", path, family, path.relative_to(source).as_posix(),
                   compression=c, **ids)

    youtube_methods = [m for m in methods if m != DFD]
    if youtube_methods:
        id_split = read_splits(Path(settings.splits_dir) if settings.splits_dir else source / "splits")
        unlisted = 0
        for path in _videos(originals / "youtube", c, "FF++ original youtube"):
            split = id_split.get(path.stem)
            unlisted += split is None
            if split:
                jobs.append(job(split, 0, "youtube", path, source_id=path.stem))
        notes += left_out(unlisted, "original youtube videos that no split file lists")
        for method in youtube_methods:
            crossing = 0
            for path in fakes[method]:
                match = _PAIR.match(path.stem)
                if not match:
                    raise DataError("FF++ fake is not named TARGET_SOURCE.mp4 (e.g. 000_003.mp4)", path,
                                    "restore the download's names")
                target, donor = match.groups()
                split = joint_split(id_split, target, donor)
                crossing += split is None
                if split:
                    jobs.append(job(split, 1, method.lower(), path, source_id=donor, target_id=target, original_id=target))
            notes += left_out(crossing, f"{method} fakes whose two ids are not in one split")
    if DFD in methods:
        jobs_dfd, notes_dfd = _plan_dfd(source, settings, fakes[DFD], job)
        jobs += jobs_dfd
        notes += notes_dfd
    return Plan(jobs, notes)


def _plan_dfd(source: Path, settings: Settings, fakes: list[Path], job) -> tuple[list[Job], list[str]]:
    """DeepFakeDetection: actors drawn into splits; reals `AA__scene`, fakes `TT_SS__scene__hash`."""
    reals = _videos(source / "original_sequences" / "actors", settings.compression, "FF++ original actors")
    real_actor = {}
    for path in reals:
        match = _DFD_REAL.match(path.stem)
        if not match:
            raise DataError("FF++ actors video is not named ACTOR__scene.mp4", path, "restore the download's names")
        real_actor[path] = match.group(1)
    fake_ids = {}
    for path in fakes:
        match = _DFD_FAKE.match(path.stem)
        if not match:
            raise DataError("FF++ DeepFakeDetection fake is not named TARGET_SOURCE__scene__ID.mp4", path,
                            "restore the download's names")
        fake_ids[path] = match.groups()
    actors = set(real_actor.values()) | {a for t, s, _ in fake_ids.values() for a in (t, s)}
    assigned = assign_groups(actors, {"test": settings.test_fraction, "val": settings.val_fraction}, settings.seed)
    jobs = [job(assigned[a], 0, "actors", p, source_id=a) for p, a in real_actor.items()]
    crossing = 0
    for path, (target, donor, scene) in fake_ids.items():
        split = joint_split(assigned, target, donor)
        crossing += split is None
        if split:
            jobs.append(job(split, 1, "deepfakedetection", path, source_id=donor, target_id=target,
                            original_id=f"{target}__{scene}"))
    return jobs, left_out(crossing, "DeepFakeDetection fakes whose two actors fell in different splits")
