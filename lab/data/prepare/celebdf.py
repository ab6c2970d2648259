"""Celeb-DF (v1 and v2): the official test list, and a validation split drawn from training by identity.

    Celeb-real/id0_0000.mp4          real, family celeb-real, identity id0
    YouTube-real/00000.mp4           real, family youtube-real (no identity: each video is its own group)
    Celeb-synthesis/id0_id16_0000.mp4  fake of target id0's video 0000 with id16's face, family celeb-synthesis
    List_of_testing_videos.txt       "1 Celeb-real/id3_0001.mp4" lines; 1 = real, 0 = fake

Test is exactly the official list (Celeb-DF's protocol; its identities may also appear in training, which the
report counts). Every other video is training data; `--val-fraction` of its identities (and of the YouTube-real
videos) go to validation. A fake follows its target identity, the person whose video was edited
(`plan.target_split`): a validation target keeps its fakes, and a training target's fake with a validation
identity's face is left out, so no validation identity is seen in training.
"""
from __future__ import annotations

import re
from pathlib import Path

from lab.errors import DataError
from lab.data.prepare.plan import Job, Plan, Settings, assign_groups, left_out, target_split, videos_in

NAME = "celebdf"
SPLIT_MODES = ("official",)
TEST_LIST = "List_of_testing_videos.txt"
REAL_DIRS = ("Celeb-real", "YouTube-real")
FAKE_DIR = "Celeb-synthesis"
_REAL = re.compile(r"^(id\d+)_(\d+)$")
_FAKE = re.compile(r"^(id\d+)_(id\d+)_(\d+)$")
_HINT = "point SOURCE at the Celeb-DF root (Celeb-real/, Celeb-synthesis/, YouTube-real/, List_of_testing_videos.txt)"


def looks_like(source: Path) -> bool:
    return (source / FAKE_DIR).is_dir() or (source / "Celeb-real").is_dir()


def default_split(source: Path) -> str:
    return "official"


def read_test_list(path: Path) -> dict[str, int]:
    """`folder/name.mp4` -> label (0 real, 1 fake) from the official list, checked against the folders."""
    if not path.is_file():
        raise DataError("Celeb-DF test list not found", path, "put the list that comes with the dataset in its root")
    listed = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2 or parts[0] not in ("0", "1") or "/" not in parts[1]:
            raise DataError(f"line {number} reads {line.strip()!r}", path,
                            "write each line as '1 Celeb-real/id0_0000.mp4' (1 = real, 0 = fake)")
        flag, video = parts
        label = 0 if flag == "1" else 1
        folder = video.split("/", 1)[0]
        if (label == 0) != (folder in REAL_DIRS) or folder not in (*REAL_DIRS, FAKE_DIR):
            raise DataError(f"line {number} gives {video} the label {flag} ({'real' if flag == '1' else 'fake'}), "
                            f"which its folder {folder}/ contradicts", path, "restore the official list")
        listed[video] = label
    return listed


def _identities(path: Path) -> tuple[str, ...]:
    """(identity,) of a real, (target, source, number) of a fake, (youtube:<stem>,) of a YouTube-real video."""
    folder, stem = path.parent.name, path.stem
    if folder == "YouTube-real":
        return (f"youtube:{stem}",)
    match = (_REAL if folder == "Celeb-real" else _FAKE).match(stem)
    if not match:
        expected = "idX_NNNN.mp4" if folder == "Celeb-real" else "idX_idY_NNNN.mp4"
        raise DataError(f"Celeb-DF video is not named {expected}", path, "restore the download's names")
    return match.groups()[:1] if folder == "Celeb-real" else match.groups()


def plan(source: Path, settings: Settings) -> Plan:
    fakes = videos_in(source / FAKE_DIR, "Celeb-DF", _HINT)
    reals = videos_in(source / "Celeb-real", "Celeb-DF", _HINT)
    youtube = videos_in(source / "YouTube-real", "Celeb-DF", _HINT) if (source / "YouTube-real").is_dir() else []
    test = read_test_list(source / TEST_LIST)
    videos = {p.relative_to(source).as_posix(): p for p in [*reals, *youtube, *fakes]}
    ids = {rel: _identities(p) for rel, p in videos.items()}

    train_pool = [rel for rel in videos if rel not in test]
    groups = {g for rel in train_pool for g in (ids[rel][:2] if rel.startswith(FAKE_DIR) else ids[rel])}
    assigned = {}  # identities and YouTube-real videos are drawn apart, so validation gets some of each
    for kind in (lambda g: not g.startswith("youtube:"), lambda g: g.startswith("youtube:")):
        assigned.update(assign_groups(filter(kind, groups), {"val": settings.val_fraction}, settings.seed))

    jobs, crossing = [], 0
    for rel in sorted(test):  # a listed video missing on disk becomes a failed item naming it
        path = videos.get(rel, source / rel)
        if rel not in ids:
            ids[rel] = _identities(path)
        jobs.append(_job("test", rel, path, ids[rel], "celebdf-test-list"))
    for rel in train_pool:
        if rel.startswith(FAKE_DIR):
            split = target_split(assigned, *ids[rel][:2])
            crossing += split is None
        else:
            split = assigned[ids[rel][0]]
        if split:
            jobs.append(_job(split, rel, videos[rel], ids[rel], "celebdf-identity-draw"))
    test_ids = {i for rel in test for i in ids[rel][:2] if i.startswith("id")}
    shared = sum(1 for j in jobs if j.split != "test" and {j.source_id, j.target_id} & test_ids)
    notes = left_out(crossing, "training fakes whose swapped-in face is a validation identity")
    if shared:
        notes.append(f"{shared} train/val videos show an identity that the official test list also shows "
                     "(Celeb-DF's own protocol allows this)")
    if not youtube:
        notes.append(f"no YouTube-real/ folder in '{source}': reals come from Celeb-real only")
    return Plan(jobs, notes)


def _job(split: str, rel: str, path: Path, ids: tuple[str, ...], rule: str) -> Job:
    folder = rel.split("/", 1)[0]
    family = folder.lower()
    name = f"{family}__{Path(rel).stem}"
    if folder == FAKE_DIR:
        target, donor, number = ids
        return Job(split, 1, name, path, family, rel, source_id=donor, target_id=target,
                   original_id=f"{target}_{number}", split_rule=rule)
    identity = ids[0].removeprefix("youtube:")
    return Job(split, 0, name, path, family, rel, source_id=identity, split_rule=rule)
