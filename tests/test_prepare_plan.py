"""`lab prepare` planning: which video goes to which split, class and family, and the one-line errors for
malformed trees. Planning reads names, lists and JSON only, so these trees hold empty placeholder videos."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from lab.cli.main import main
from lab.data.prepare.formats import detect_format, make_plan
from lab.data.prepare.plan import SPLITS, Settings, assign_groups

from _prepare_trees import CELEB_TRAIN_IDS, DFDC_PARTS, FFPP_SPLITS, make_celebdf, make_dfdc, make_ffpp


def by_split(jobs, key):
    return {s: {v for j in jobs if j.split == s for v in key(j) if v} for s in SPLITS}


def assert_disjoint(groups: dict[str, set]):
    for i, a in enumerate(SPLITS):
        for b in SPLITS[i + 1:]:
            assert not groups[a] & groups[b], f"{a} and {b} share {groups[a] & groups[b]}"


def test_ffpp_follows_the_official_split_files(tmp_path):
    plan = make_plan(make_ffpp(tmp_path, videos=False), Settings(format="ffpp"))
    jobs = {(j.split, j.item): j for j in plan.jobs}
    for split, pairs in FFPP_SPLITS.items():
        for a, b in pairs:
            for vid in (a, b):
                real = jobs[(split, f"real/youtube__{vid}")]
                assert (real.label, real.family, real.source_id, real.compression) == (0, "youtube", vid, "c23")
            for method in ("deepfakes", "faceshifter"):
                fake = jobs[(split, f"fake/{method}__{a}_{b}")]
                assert (fake.label, fake.family, fake.target_id, fake.source_id, fake.original_id) == (1, method, a, b, a)
                assert fake.video == f"manipulated_sequences/{'Deepfakes' if method == 'deepfakes' else 'FaceShifter'}/c23/videos/{a}_{b}.mp4"
    assert len(plan.jobs) == 6 + 2 * 6  # 000_002 mixes a train id with a val id: left out, and said so
    assert plan.notes == ["left out 1 Deepfakes fakes whose two ids are not in one split",
                          "left out 1 FaceShifter fakes whose two ids are not in one split"]
    assert_disjoint(by_split(plan.jobs, lambda j: (j.source_id, j.target_id, j.original_id)))


def test_ffpp_deepfakedetection_splits_by_actor(tmp_path):
    plan = make_plan(make_ffpp(tmp_path, videos=False, dfd=True), Settings(format="ffpp", val_fraction=0.2,
                                                                            test_fraction=0.2))
    dfd = [j for j in plan.jobs if j.family in ("actors", "deepfakedetection")]
    assert {j.family for j in dfd} == {"actors", "deepfakedetection"}
    assert_disjoint(by_split(dfd, lambda j: (j.source_id, j.target_id)))
    assert all(j.original_id.endswith("__walking_outside") for j in dfd if j.label == 1)
    assert {j.split for j in dfd if j.label == 0} == set(SPLITS)  # 6 actors: 1 test, 1 val, 4 train


def test_celebdf_test_is_the_official_list_and_validation_is_drawn_by_identity(tmp_path):
    plan = make_plan(make_celebdf(tmp_path, videos=False), Settings(format="celebdf", val_fraction=0.5))
    test = {j.item for j in plan.jobs if j.split == "test"}
    assert test == {"real/celeb-real__id4_0000", "fake/celeb-synthesis__id4_id0_0000", "real/youtube-real__00002"}
    ids = by_split([j for j in plan.jobs if j.split != "test"], lambda j: (j.source_id, j.target_id))
    assert not ids["train"] & ids["val"]  # identities never cross train/val
    val_ids = {i for i in ids["val"] if i.startswith("id")}
    assert len(val_ids) == 2 and val_ids <= set(CELEB_TRAIN_IDS)
    for split in ("train", "val"):  # each side keeps the fake of its own identity pair
        assert {j.label for j in plan.jobs if j.split == split} == {0, 1}
    fake = next(j for j in plan.jobs if j.item == "fake/celeb-synthesis__id4_id0_0000")
    assert (fake.family, fake.target_id, fake.source_id, fake.original_id) == ("celeb-synthesis", "id4", "id0", "id4_0000")
    assert any("left out 4 training fakes" in n for n in plan.notes)  # the 4 pairs split apart
    assert any("official test list also shows" in n for n in plan.notes)  # id0 is in test (id4_id0) and train


def test_dfdc_never_separates_a_fake_from_its_original(tmp_path):
    plan = make_plan(make_dfdc(tmp_path, videos=False), Settings(format="dfdc", val_fraction=0.25, test_fraction=0.25))
    assert len(plan.jobs) == sum(len(p) for p in DFDC_PARTS.values())
    groups = by_split(plan.jobs, lambda j: (j.original_id or j.source_id,))
    assert_disjoint(groups)
    assert all(groups[s] for s in SPLITS)
    orphan = next(j for j in plan.jobs if j.name == "dfdc-fake__gwgefqdmyo")  # its original was not downloaded
    assert orphan.original_id == "zzzzzzzzzz" and orphan.label == 1
    assert {j.family for j in plan.jobs} == {"dfdc-real", "dfdc-fake"}


def test_folders_keep_split_class_name_and_manifest_family(tmp_path):
    for split, cls, name in [("train", "real", "a"), ("train", "fake", "warp__b.mp4"), ("val", "fake", "c.mp4")]:
        path = tmp_path / split / cls / name
        path.mkdir(parents=True) if not name.endswith(".mp4") else (path.parent.mkdir(parents=True, exist_ok=True), path.touch())
    (tmp_path / "val" / "manifest.csv").write_text("item,family,source_id\nfake/c.mp4,flicker,s1\n")
    plan = make_plan(tmp_path, Settings(format="folders"))
    got = {(j.split, j.item, j.family, j.source_id) for j in plan.jobs}
    assert got == {("train", "real/a", "real", ""), ("train", "fake/warp__b", "warp", ""), ("val", "fake/c", "flicker", "s1")}


def test_formats_are_recognised_from_the_layout(tmp_path):
    assert detect_format(make_ffpp(tmp_path / "f", videos=False)) == "ffpp"
    assert detect_format(make_celebdf(tmp_path / "c", videos=False)) == "celebdf"
    assert detect_format(make_dfdc(tmp_path / "d", videos=False)) == "dfdc"
    assert detect_format(make_dfdc(tmp_path / "d2", videos=False) / "dfdc_train_part_0") == "dfdc"  # one part


@settings(max_examples=50, deadline=None)
@given(st.sets(st.text(min_size=1, max_size=6), min_size=1, max_size=40), st.floats(0, 0.45), st.floats(0, 0.45),
       st.integers(0, 3))
def test_assign_groups_is_a_reproducible_partition(groups, val, test, seed):
    fractions = {"test": test, "val": val}
    out = assign_groups(groups, fractions, seed)
    assert set(out) == groups and set(out.values()) <= set(SPLITS)
    assert out == assign_groups(sorted(groups, reverse=True), fractions, seed)  # listing order does not matter
    assert "train" in out.values()
    if len(groups) >= 3 and val > 0 and test > 0:
        assert {"val", "test"} <= set(out.values())


# ------------------------------------------------------------------------------------------ malformed trees


def run_cli(*args) -> tuple[int, str]:
    """`lab prepare ...` in-process; (exit status, the single stderr line)."""
    import contextlib
    import io

    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(["prepare", "--no-progress", "--workers", "1", *map(str, args)])
    return code, err.getvalue()


def assert_one_line(code: int, err: str, *fragments: str) -> None:
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: "), err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def _without(path: Path) -> None:
    if path.is_dir():
        for child in path.iterdir():
            child.unlink()
    else:
        path.unlink()


@pytest.mark.parametrize("build, breakage, args, fragments", [
    (make_ffpp, "splits/val.json", [], ["val.json", "not found", "--splits"]),
    (make_ffpp, "manipulated_sequences/FaceShifter/c23/videos", [], ["FaceShifter", "holds no .mp4", "--methods"]),
    (make_ffpp, None, ["--compression", "c40"], ["c40", "found: c23"]),
    (make_ffpp, None, ["--methods", "FaceSwap"], ["FaceSwap", "(--methods): ", "found: Deepfakes, FaceShifter"]),
    (make_celebdf, "List_of_testing_videos.txt", [], ["List_of_testing_videos.txt", "not found"]),
    (make_dfdc, None, ["--format", "celebdf"], ["not a celebdf tree", "Celeb-synthesis"]),
    (None, None, [], ["unknown layout", "ffpp:", "celebdf:", "dfdc:", "folders:"]),
])
def test_a_malformed_tree_is_one_line_naming_what_is_missing(tmp_path, build, breakage, args, fragments):
    source = tmp_path / "src"
    source.mkdir()
    if build:
        build(source, videos=False)
    if breakage:
        _without(source / breakage)
    assert_one_line(*run_cli(source, tmp_path / "out", *args), *fragments)
    assert not (tmp_path / "out").exists()  # nothing written


def test_bad_split_file_and_metadata_contents_are_named(tmp_path):
    ffpp = make_ffpp(tmp_path / "f", videos=False)
    (ffpp / "splits/test.json").write_text(json.dumps([["000", "009"]]))  # 000 is also in train.json
    assert_one_line(*run_cli(ffpp, tmp_path / "o1"), "video id 000", "train.json", "test.json")
    dfdc = make_dfdc(tmp_path / "d", videos=False)
    meta = dfdc / "dfdc_train_part_1/metadata.json"
    meta.write_text(json.dumps({"eebrkicpry.mp4": {"label": "real"}}))
    assert_one_line(*run_cli(dfdc, tmp_path / "o2"), "metadata.json", "eebrkicpry.mp4", "label 'real'")
    celeb = make_celebdf(tmp_path / "c", videos=False)
    (celeb / "List_of_testing_videos.txt").write_text("0 Celeb-real/id4_0000.mp4\n")  # a real labelled fake
    assert_one_line(*run_cli(celeb, tmp_path / "o3"), "line 1", "Celeb-real/id4_0000.mp4")


@pytest.mark.parametrize("flag, value", [("--frames", "-1"), ("--every", "0"), ("--quality", "101"),
                                         ("--val-fraction", "1.5"), ("--workers", "0"), ("--size", "4")])
def test_bad_flags_are_one_line(tmp_path, flag, value):
    code, err = run_cli(make_dfdc(tmp_path, videos=False), tmp_path / "out", flag, value)
    assert_one_line(code, err, f" ({flag}): ")
    what, _, fix = err.strip().removeprefix("error: ").partition(f" ({flag}): ")
    assert value in what.split() and fix, err  # the value given, the flag, then what to do


def test_a_foreign_non_empty_output_folder_is_refused(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "thesis.tex").write_text("mine")
    assert_one_line(*run_cli(make_dfdc(tmp_path / "d", videos=False), tmp_path / "out"), "not empty", "not written by lab prepare")
