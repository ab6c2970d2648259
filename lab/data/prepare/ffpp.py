"""FaceForensics++ as downloaded by its script, split by the official `splits/{train,val,test}.json`.

    original_sequences/youtube/<c>/videos/000.mp4                   real, family youtube
    manipulated_sequences/<Method>/<c>/videos/000_003.mp4           fake: target video 000 edited with source 003
    original_sequences/actors/<c>/videos/01__walking_outside.mp4    real, family actors (DeepFakeDetection)
    manipulated_sequences/DeepFakeDetection/<c>/videos/01_02__walking_outside__ABCD1234.mp4

By default the paper's four methods (Deepfakes, Face2Face, FaceSwap, NeuralTextures), as the paper and
DeepfakeBench define FF++; `--methods` adds FaceShifter and DeepFakeDetection. The split files list pairs of
youtube video ids. A real video goes to its id's split; a fake `T_S` goes to the split holding both T and S, and
is left out (counted) otherwise. The DeepFakeDetection actors have no official split: actors are drawn into
test/val by `--test-fraction`/`--val-fraction` and a fake follows its target actor (`plan.target_split`).
"""
from __future__ import annotations

import re
from pathlib import Path

from lab.errors import ConfigError, DataError
from lab.data.prepare.plan import (SPLITS, Job, Plan, Settings, assign_groups, joint_split, left_out, read_json,
                                   target_split, videos_in)

NAME = "ffpp"
PAPER_METHODS: tuple[str, ...] = ("Deepfakes", "Face2Face", "FaceSwap", "NeuralTextures")
METHODS: tuple[str, ...] = (*PAPER_METHODS, "FaceShifter", "DeepFakeDetection")
METHOD_SETS = {"paper": PAPER_METHODS, "all": METHODS}  # --methods paper / all
DFD = "DeepFakeDetection"  # made from the actors' videos, not the youtube ones
COMPRESSIONS: tuple[str, ...] = ("raw", "c0", "c23", "c40")
FOLDER_NAMES = {"raw": ("raw", "c0"), "c0": ("raw", "c0")}  # the download script writes raw/; its README says c0
SPLIT_MODES = ("official",)
SPLITS_URL = "github.com/ondyari/FaceForensics (dataset/splits/)"
_PAIR = re.compile(r"^(\d+)_(\d+)$")
_DFD_FAKE = re.compile(r"^(\d+)_(\d+)__(.+?)__[^_]+$")
_DFD_REAL = re.compile(r"^(\d+)__(.+)$")


def looks_like(source: Path) -> bool:
    return (source / "original_sequences").is_dir() or (source / "manipulated_sequences").is_dir()


def default_split(source: Path) -> str:
    return "official"


def compression_dir(folder: Path, compression: str) -> Path:
    """`folder/<compression>`; raw is found under either of its names, raw/ or c0/."""
    names = FOLDER_NAMES.get(compression, (compression,))
    return next((folder / n for n in names if (folder / n).is_dir()), folder / names[0])


def _compressions_found(folder: Path) -> str:
    found = sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []
    return ", ".join(found) or "none"


def _videos(folder: Path, compression: str, what: str, method: bool = False) -> list[Path]:
    hint = (f"download the {compression} videos, or pick the compression you have with --compression "
            f"(found: {_compressions_found(folder)})")
    if compression_dir(folder, compression).is_dir():
        hint = "finish its download" + (", or leave the method out with --methods" if method else "")
    return videos_in(compression_dir(folder, compression) / "videos", what, hint)


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


def _methods(manipulated: Path, settings: Settings) -> tuple[list[str], list[str]]:
    """(the methods to use, a note on those present but not used). A method named in `--methods` must be there;
    `paper` and `all` take the paper's four / every method that is there. By default: `paper`."""
    present = sorted(p.name for p in manipulated.iterdir() if p.is_dir()) if manipulated.is_dir() else []
    wanted: set[str] = set()
    for name in settings.methods or ("paper",):
        if name in METHOD_SETS:
            wanted |= set(present) if name == "all" else set(METHOD_SETS[name]) & set(present)
        elif name in present:
            wanted.add(name)
        else:
            raise ConfigError(f"method {name} has no folder '{manipulated / name}'", "--methods",
                              f"choose from the methods found: {', '.join(present) or 'none'} (or paper, all)")
    chosen = sorted(wanted, key=lambda m: (METHODS.index(m) if m in METHODS else len(METHODS), m))
    if not chosen:
        raise DataError(f"folder holds none of the paper's methods {', '.join(PAPER_METHODS)} (found: "
                        f"{', '.join(present) or 'none'})", manipulated,
                        "download at least one of them, or name the ones you have with --methods")
    unused = [m for m in present if m not in wanted]
    return chosen, [f"methods present but not used: {', '.join(unused)} (add them with --methods; the paper's "
                    "FF++ is Deepfakes, Face2Face, FaceSwap and NeuralTextures)"] if unused else []


def plan(source: Path, settings: Settings) -> Plan:
    if settings.compression not in COMPRESSIONS:
        raise ConfigError(f"FF++ does not come as {settings.compression!r}", "--compression",
                          f"choose one of {', '.join(COMPRESSIONS)}")
    originals = source / "original_sequences"
    if not originals.is_dir():
        raise DataError("no original_sequences/ folder", source, "point SOURCE at the FaceForensics++ root "
                        "(the folder holding original_sequences/ and manipulated_sequences/)")
    c = settings.compression
    methods, notes = _methods(source / "manipulated_sequences", settings)
    fakes = {m: _videos(source / "manipulated_sequences" / m, c, f"FF++ {m}", method=True) for m in methods}
    jobs = []
    recorded = "raw" if c in FOLDER_NAMES else c

    def job(split: str, label: int, family: str, path: Path, rule: str = "ffpp-split-files", **ids: str) -> Job:
        return Job(split, label, f"{family}__{path.stem}", path, family, path.relative_to(source).as_posix(),
                   compression=recorded, split_rule=rule, **ids)

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
    rule = "ffpp-dfd-actor-draw"
    jobs = [job(assigned[a], 0, "actors", p, rule, source_id=a) for p, a in real_actor.items()]
    crossing = 0
    for path, (target, donor, scene) in fake_ids.items():
        split = target_split(assigned, target, donor)
        crossing += split is None
        if split:
            jobs.append(job(split, 1, "deepfakedetection", path, rule, source_id=donor, target_id=target,
                            original_id=f"{target}__{scene}"))
    return jobs, left_out(crossing, "DeepFakeDetection fakes whose donor actor was held out from their target's "
                                    "split")
