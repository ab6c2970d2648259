"""`lab prepare` planning: which video goes to which split, class and family, and the one-line errors for
malformed trees. Planning reads names, lists and JSON only, so these trees hold empty placeholder videos."""
from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from lab.cli.main import main
from lab.data.prepare.formats import detect_format, make_plan, resolve
from lab.data.prepare.plan import SPLITS, Job, Settings, assign_groups, shard_of, target_split
from lab.errors import ConfigError, DataError

from _prepare_trees import (CELEB_TRAIN_IDS, DFDC_PART_2, DFDC_PARTS, DFDC_TEST, DFDC_VAL, DFDCP_INDEX, FFPP_SPLITS,
                            YOUTUBE_METHODS, make_celebdf, make_dfdc, make_dfdc_preview, make_ffpp)


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
            for method in ("Deepfakes", "FaceSwap"):
                fake = jobs[(split, f"fake/{method.lower()}__{a}_{b}")]
                assert (fake.label, fake.family, fake.target_id, fake.source_id, fake.original_id) == (
                    1, method.lower(), a, b, a)
                assert fake.video == f"manipulated_sequences/{method}/c23/videos/{a}_{b}.mp4"
    assert len(plan.jobs) == 6 + 2 * 6  # 000_002 mixes a train id with a val id: left out, and said so
    assert plan.notes == ["left out 1 Deepfakes fakes whose two ids are not in one split",
                          "left out 1 FaceSwap fakes whose two ids are not in one split",
                          "validation holds 2 real and 4 fake videos (under 50 of a class: a threshold or score on "
                          "it is coarse)",
                          "test holds 2 real and 4 fake videos (under 50 of a class: a threshold or score on it is "
                          "coarse)"]
    assert {j.split_rule for j in plan.jobs} == {"ffpp-split-files"}
    assert_disjoint(by_split(plan.jobs, lambda j: (j.source_id, j.target_id, j.original_id)))


def test_ffpp_is_the_papers_four_methods_unless_methods_adds_the_others(tmp_path):
    source = make_ffpp(tmp_path, videos=False, methods=YOUTUBE_METHODS, dfd=True)  # all six methods downloaded
    paper = make_plan(source, Settings(format="ffpp"))
    assert {j.family for j in paper.jobs} == {"youtube", "deepfakes", "face2face", "faceswap", "neuraltextures"}
    assert len(paper.jobs) == 6 + 4 * 6
    assert any("not used: DeepFakeDetection, FaceShifter" in n and "--methods" in n for n in paper.notes)
    six = make_plan(source, Settings(format="ffpp", methods=("all",), val_fraction=0.2, test_fraction=0.2))
    added = [j for j in six.jobs if j not in paper.jobs]
    assert {j.family for j in added} == {"faceshifter", "actors", "deepfakedetection"}
    assert {j.split_rule for j in added if j.family == "faceshifter"} == {"ffpp-split-files"}
    dfd = [j for j in added if j.family != "faceshifter"]
    assert {j.split_rule for j in dfd} == {"ffpp-dfd-actor-draw"}
    assert {j.split for j in dfd if j.label == 0} == set(SPLITS)  # 6 actors: 1 test, 1 val, 4 train
    assert not any("not used" in n for n in six.notes)
    named = make_plan(source, Settings(format="ffpp", methods=("paper", "FaceShifter")))
    assert {j.family for j in named.jobs} - {j.family for j in paper.jobs} == {"faceshifter"}


def test_deepfakedetection_fakes_follow_their_target_actor_and_keep_held_out_actors_out_of_training(tmp_path):
    plan = make_plan(make_ffpp(tmp_path, videos=False, dfd=True),
                     Settings(format="ffpp", methods=("DeepFakeDetection",), val_fraction=0.2, test_fraction=0.2))
    actor_split = {j.source_id: j.split for j in plan.jobs if j.label == 0}
    train_people = {p for j in plan.jobs if j.split == "train" for p in (j.source_id, j.target_id) if p}
    assert not train_people & {a for a, s in actor_split.items() if s != "train"}
    fakes = [j for j in plan.jobs if j.label == 1]
    assert fakes and all(j.split == actor_split[j.target_id] for j in fakes)
    assert all(j.original_id.endswith("__walking_outside") for j in fakes)
    kept = {j.name for j in fakes}
    for pair in ("01_02", "02_01", "03_04", "05_06", "06_01"):  # each fake is kept or left out by the rule
        target, donor = pair.split("_")
        expected = target_split(actor_split, target, donor)
        assert (f"deepfakedetection__{pair}__walking_outside__A1B2C3D4" in kept) == (expected is not None)


def test_target_rule_gives_validation_f_not_f_squared_of_the_fakes():
    """Celeb-DF v2's shape: 59 identities, 5,639 fakes between them. Validation drawn as 10 % of the identities
    gets ~10 % of the fakes by target (vs ~1 % when both identities must be in validation), and leaves out
    ~9 % (vs ~18 %)."""
    ids = [f"id{i}" for i in range(59)]
    rng = random.Random(0)
    pairs = [tuple(rng.sample(ids, 2)) for _ in range(5639)]
    assigned = assign_groups(ids, {"val": 0.1})
    by_target = [target_split(assigned, t, d) for t, d in pairs]
    both = [assigned[t] if assigned[t] == assigned[d] else None for t, d in pairs]
    assert sum(s == "val" for s in by_target) / len(pairs) == pytest.approx(6 / 59, abs=0.02)
    assert sum(s is None for s in by_target) / len(pairs) == pytest.approx(6 / 59 * 53 / 59, abs=0.02)
    assert sum(s == "val" for s in both) / len(pairs) < 0.02
    assert sum(s is None for s in both) / len(pairs) == pytest.approx(2 * 6 / 59 * 53 / 59, abs=0.02)


@pytest.mark.parametrize("compression, folder", [("c0", "c0"), ("raw", "c0"), ("c0", "raw")])
def test_ffpp_c0_is_raw(tmp_path, compression, folder):
    plan = make_plan(make_ffpp(tmp_path, videos=False, compression=folder), Settings(format="ffpp",
                                                                                     compression=compression))
    assert len(plan.jobs) == 6 + 2 * 6 and {j.compression for j in plan.jobs} == {"raw"}
    assert all(f"/{folder}/videos/" in j.video for j in plan.jobs)


def test_celebdf_test_is_the_official_list_and_validation_is_drawn_by_identity(tmp_path):
    plan = make_plan(make_celebdf(tmp_path, videos=False), Settings(format="celebdf", val_fraction=0.5))
    test = {j.item for j in plan.jobs if j.split == "test"}
    assert test == {"real/celeb-real__id4_0000", "fake/celeb-synthesis__id4_id0_0000", "real/youtube-real__00002"}
    assert {j.split_rule for j in plan.jobs if j.split == "test"} == {"celebdf-test-list"}
    assert {j.split_rule for j in plan.jobs if j.split != "test"} == {"celebdf-identity-draw"}
    val_ids = {j.source_id for j in plan.jobs if j.split == "val" and j.family == "celeb-real"}
    assert len(val_ids) == 2 and val_ids <= set(CELEB_TRAIN_IDS)
    train_people = {p for j in plan.jobs if j.split == "train" for p in (j.source_id, j.target_id)}
    assert not train_people & val_ids  # no validation identity is seen in training, as target or as face
    expected, dropped = {"train": set(), "val": set()}, 0
    for i, a in enumerate(CELEB_TRAIN_IDS):  # fakes a_b: target a, face b
        for b in CELEB_TRAIN_IDS[i + 1:]:
            split = "val" if a in val_ids else (None if b in val_ids else "train")
            dropped += split is None
            if split:
                expected[split].add(f"fake/celeb-synthesis__{a}_{b}_0000")
    for split in ("train", "val"):
        assert {j.item for j in plan.jobs if j.split == split and j.label == 1} == expected[split]
    fake = next(j for j in plan.jobs if j.item == "fake/celeb-synthesis__id4_id0_0000")
    assert (fake.family, fake.target_id, fake.source_id, fake.original_id) == ("celeb-synthesis", "id4", "id0", "id4_0000")
    assert (f"left out {dropped} training fakes whose swapped-in face is a validation identity" in plan.notes) == (dropped > 0)
    assert any("official test list also shows" in n for n in plan.notes)  # id0 is in test (id4_id0) and train


# ------------------------------------------------------------------------------------------------------- DFDC


def test_dfdc_official_test_and_validation_sets_are_read_with_1_as_fake(tmp_path):
    source = make_dfdc(tmp_path, videos=False, official=True)
    settings = resolve(source, Settings(format="dfdc"))
    assert settings.split == "official"  # the default when the official test set is there
    plan = make_plan(source, settings)
    got = {(j.split, j.item, j.label, j.split_rule) for j in plan.jobs if j.split != "train"}
    assert got == {*(("test", f"{'fake' if label else 'real'}/dfdc-{'fake' if label else 'real'}__{Path(n).stem}",
                      label, "dfdc-official-test") for n, label in DFDC_TEST.items()),
                   *(("val", f"{'fake' if label else 'real'}/dfdc-{'fake' if label else 'real'}__{Path(n).stem}",
                      label, "dfdc-official-validation") for n, label in DFDC_VAL.items())}
    assert next(j for j in plan.jobs if j.name == "dfdc-real__valaaaaaaa").video == "validation/videos/valaaaaaaa.mp4"
    train = [j for j in plan.jobs if j.split == "train"]  # every training part trains
    assert len(train) == sum(len(p) for p in DFDC_PARTS.values()) and {j.split_rule for j in train} == {"dfdc-parts"}


def test_dfdc_label_polarity_is_checked_against_the_metadata(tmp_path):
    source = make_dfdc(tmp_path, videos=False, official=True)
    flipped = {name: {"is_fake": 1 - label} for name, label in DFDC_TEST.items()}
    (source / "test/metadata.json").write_text(json.dumps(flipped))
    with pytest.raises(DataError) as error:
        make_plan(source, Settings(format="dfdc"))
    assert "3 of 3 videos have opposite labels" in str(error.value)
    assert f"({source / 'test/labels.csv'} and {source / 'test/metadata.json'})" in str(error.value)
    code, err = run_cli(source, tmp_path / "out")
    assert_one_line(code, err, "labels.csv and", "metadata.json)", "opposite labels")


def test_dfdc_official_split_without_the_test_set_is_one_line_naming_the_folder(tmp_path):
    source = make_dfdc(tmp_path / "src", videos=False)
    code, err = run_cli(source, tmp_path / "out", "--split", "official")
    assert_one_line(code, err, "official test set is not there", f"({source / 'test/labels.csv'})", "--split parts")


def test_dfdc_parts_split_holds_out_whole_parts(tmp_path):
    source = make_dfdc(tmp_path, videos=False, third_part=True)
    assert resolve(source, Settings(format="dfdc")).split == "parts"  # no official test set here
    plan = make_plan(source, Settings(format="dfdc", split="parts", val_parts=(0,), test_parts=(2,)))
    by_part = {"val": DFDC_PARTS[0], "train": DFDC_PARTS[1], "test": DFDC_PART_2}
    for split, names in by_part.items():
        assert {f"{j.name.split('__')[1]}.mp4" for j in plan.jobs if j.split == split} == set(names)
    assert {j.split_rule for j in plan.jobs} == {"dfdc-parts"}
    with pytest.raises(ConfigError, match=r"test part\(s\) 3, 4, 5 are not among the training parts found \(0, 1, 2\)"):
        make_plan(source, Settings(format="dfdc", split="parts", val_parts=(0,)))


def test_dfdc_deepfakebench_root_without_validation_holds_out_parts_and_says_so(tmp_path):
    source = make_dfdc(tmp_path, videos=False, official=True, validation=False, bench_layout=True, third_part=True)
    assert detect_format(source) == "dfdc"
    plan = make_plan(source, Settings(format="dfdc", val_parts=(1,)))
    assert {j.video.split("/")[1] for j in plan.jobs if j.split == "val"} == {"dfdc_train_part_1"}
    assert {j.split for j in plan.jobs if j.video.startswith("test/")} == {"test"}
    assert "no official validation set (validation/): validation is training part(s) 1" in plan.notes


def test_dfdc_folders_beside_the_parts_are_named_not_skipped(tmp_path):
    source = make_dfdc(tmp_path, videos=False, official=True, third_part=True)
    (source / "val").mkdir()  # a validation set under another name
    (source / "val/labels.csv").write_text("filename,label\n")
    plan = make_plan(source, Settings(format="dfdc", split="parts", val_parts=(0,), test_parts=(1,)))
    assert any("folders not read as DFDC sets: val/" in n for n in plan.notes), plan.notes
    assert any(f"official test set in {source / 'test'} is not used with --split parts" in n for n in plan.notes)
    assert any("official validation set" in n and "not used" in n for n in plan.notes)


def test_dfdc_drawn_split_keeps_fakes_with_their_original_and_warns_that_actors_recur(tmp_path):
    with pytest.warns(UserWarning, match="actors? recur"):
        plan = make_plan(make_dfdc(tmp_path, videos=False),
                         Settings(format="dfdc", split="drawn", val_fraction=0.25, test_fraction=0.25))
    assert len(plan.jobs) == sum(len(p) for p in DFDC_PARTS.values())
    groups = by_split(plan.jobs, lambda j: (j.original_id or j.source_id,))
    assert_disjoint(groups)
    assert all(groups[s] for s in SPLITS)
    orphan = next(j for j in plan.jobs if j.name == "dfdc-fake__gwgefqdmyo")  # its original was not downloaded
    assert orphan.original_id == "zzzzzzzzzz" and orphan.label == 1
    assert {j.family for j in plan.jobs} == {"dfdc-real", "dfdc-fake"}
    assert {j.split_rule for j in plan.jobs} == {"dfdc-drawn"}


def test_dfdc_preview_uses_its_own_set_and_draws_validation_by_identity(tmp_path):
    source = make_dfdc_preview(tmp_path, videos=False)
    assert detect_format(source) == "dfdc-preview"
    plan = make_plan(source, Settings(format="dfdc-preview", val_fraction=0.5))
    test = {j.video for j in plan.jobs if j.split == "test"}
    assert test == {v for v, e in DFDCP_INDEX.items() if e["set"] == "test"}
    assert {j.split_rule for j in plan.jobs if j.split == "test"} == {"dfdcp-set"}
    (val_person,) = {j.source_id for j in plan.jobs if j.split == "val" and j.label == 0}  # one of 100, 200
    kept_fake = next(j for j in plan.jobs if j.label == 1 and j.split == "val")  # target val, face from train
    assert kept_fake.target_id == val_person and kept_fake.source_id != val_person
    assert not any(j.split == "train" and val_person in (j.source_id, j.target_id) for j in plan.jobs)
    assert "left out 1 training fakes whose target stayed in train while the swapped-in face went to validation" in plan.notes
    fake = next(j for j in plan.jobs if j.video == "method_A/300/300_A/400_B_001.mp4")
    assert (fake.family, fake.name, fake.target_id, fake.source_id, fake.original_id) == (
        "dfdcp-method-a", "dfdcp-method-a__300__300_A__400_B_001", "300", "400", "300_A_001")
    assert {j.family for j in plan.jobs if j.label == 0} == {"dfdcp-real"}
    assert {j.family for j in plan.jobs if j.label == 1} <= {"dfdcp-method-a", "dfdcp-method-b"}
    with pytest.raises(ConfigError, match="has no 'parts' split"):
        resolve(source, Settings(format="dfdc-preview", split="parts"))


def test_shards_partition_the_plan_whatever_the_listing_order():
    jobs = [Job(split, 0, f"real__{i}", Path(f"{i}.mp4"), "real", f"{i}.mp4") for split in SPLITS for i in range(7)]
    shards = [shard_of(jobs, k, 3) for k in (1, 2, 3)]
    assert sorted((j.split, j.item) for s in shards for j in s) == sorted((j.split, j.item) for j in jobs)
    assert [len(s) for s in shards] == [7, 7, 7]
    assert [shard_of(list(reversed(jobs)), k, 3) for k in (1, 2, 3)] == shards
    with pytest.raises(ConfigError, match="--shard"):
        shard_of(jobs, 4, 3)


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
    assert detect_format(make_dfdc(tmp_path / "d3", videos=False, official=True, bench_layout=True)) == "dfdc"
    assert detect_format(make_dfdc_preview(tmp_path / "p", videos=False)) == "dfdc-preview"


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
    (make_ffpp, "manipulated_sequences/FaceSwap/c23/videos", [], ["FaceSwap", "holds no .mp4", "--methods"]),
    (make_ffpp, None, ["--compression", "c40"], ["c40", "found: c23"]),
    (make_ffpp, None, ["--methods", "FaceShifter"], ["FaceShifter", "(--methods): ", "found: Deepfakes, FaceSwap"]),
    (make_ffpp, None, ["--split", "parts"], ["ffpp has no 'parts' split", "(--split): "]),
    (make_dfdc, None, [], ["validation part(s) 2 are not among the training parts found (0, 1)", "(--val-parts)"]),
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
    assert_one_line(*run_cli(make_celebdf(tmp_path / "c", videos=False), tmp_path / "out"), "not empty",
                    "not written by lab prepare")


@pytest.mark.parametrize("record", ["[]", '{"format": "dfdc"}', "{not json"])
def test_a_damaged_settings_record_is_one_line_for_prepare_and_merge(tmp_path, record):
    out = tmp_path / "out"
    out.mkdir()
    (out / "prepare.json").write_text(record)
    assert_one_line(*run_cli(make_celebdf(tmp_path / "c", videos=False), out), "prepare.json", "corrupt")
    import contextlib
    import io

    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(["prepare-merge", str(out)])
    assert_one_line(code, err.getvalue(), "prepare.json", "corrupt")


def _claim_into(out: str, source: str, queue) -> None:
    from lab.data.prepare.output import claim

    try:
        claim(Path(out), Path(source), Settings(format="celebdf"))
        queue.put("ok")
    except DataError as exc:
        queue.put(str(exc))


def test_a_shard_claiming_while_another_writes_the_record_waits_and_then_accepts_it(tmp_path):
    """Shards started together on a new OUT: the first writes prepare.json while the others look. A claim that
    looked without the claim lock saw a folder with a file it did not write and refused it."""
    import multiprocessing
    import queue as queues

    from lab.data.prepare.output import CLAIM_LOCK, _claim, locked

    ctx = multiprocessing.get_context("fork")
    out, source = tmp_path / "out", tmp_path / "src"
    source.mkdir()
    results = ctx.Queue()
    with locked(out, CLAIM_LOCK):  # this process is the shard that claims first
        other = ctx.Process(target=_claim_into, args=(str(out), str(source), results))
        other.start()
        with pytest.raises(queues.Empty):
            results.get(timeout=1.0)  # the other shard waits for the lock instead of deciding now
        _claim(out, source, Settings(format="celebdf"))
    assert results.get(timeout=60) == "ok"
    other.join()


def test_a_refused_foreign_folder_is_left_as_it_was(tmp_path):
    from lab.data.prepare.output import claim

    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "thesis.tex").write_text("mine")
    with pytest.raises(DataError, match="not written by lab prepare"):
        claim(tmp_path / "out", tmp_path, Settings(format="celebdf"))
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["thesis.tex"]
