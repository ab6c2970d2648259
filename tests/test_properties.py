"""Property-based tests (hypothesis): config parsing and `--set` overrides, window planning, and window-to-video
aggregation hold for every input hypothesis can find, not only the examples elsewhere."""
from __future__ import annotations

import dataclasses
import math
import random
import typing
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from lab.config import Config, SequenceConfig, flatten, from_dict, load_config, save_config, to_dict
from lab.data.dataset import Item, plan_windows, window_starts
from lab.errors import ConfigError
from lab.evaluation.evaluate import aggregate_videos
from lab.inference.infer import _stream_windows, plan_prediction
from lab.scoring.aggregate import STRATEGIES, frame_scores, video_score

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# ------------------------------------------------------------------------------------------------- config

PATH_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=30)
VALUES = {  # valid values per key: a strategy each; the rest keep their defaults
    "data.train_dir": PATH_TEXT,
    "data.num_workers": st.integers(0, 16),
    "sequence.length": st.integers(2, 64),
    "sequence.short_items": st.sampled_from(["pad", "skip", "error"]),
    "sequence.max_windows_per_item": st.integers(0, 50),
    "image.height": st.integers(1, 1024),
    "augmentation.horizontal_flip": st.booleans(),
    "augmentation.jitter_strength": st.floats(0, 5, allow_nan=False),
    "augmentation.crop_scale": st.tuples(st.floats(0.01, 1), st.floats(0.01, 1)).map(lambda p: tuple(sorted(p))),
    "model.backbone": st.sampled_from(["resnet18", "resnet34", "efficientnet_b0", "efficientnet_b2"]),
    "model.pooling": st.sampled_from(["last", "mean", "attention"]),
    "model.convlstm.hidden_channels": st.lists(st.integers(1, 512), min_size=2, max_size=2).map(tuple),
    "model.classifier.dropout": st.floats(0, 0.99),
    "training.learning_rate": st.floats(0, 10, allow_nan=False),
    "training.weight_decay": st.floats(0, 1e-1) | st.sampled_from([1e-4, 3e-5, 1e-10]),
    "training.epochs": st.integers(1, 10_000),
    "training.scheduler.type": st.sampled_from(["cosine", "onecycle", "none"]),
    "training.checkpoint_every_minutes": st.floats(0, 1e4),
    "training.nonfinite_loss": st.sampled_from(["stop", "skip"]),
    "inference.confident_fraction": st.floats(0, 0.999),
    "device": st.sampled_from(["cpu", "cuda", "cuda:1", "mps", "auto"]),
    "seed": st.integers(-2 ** 40, 2 ** 40),
}


@st.composite
def configs(draw) -> Config:
    chosen = draw(st.dictionaries(st.sampled_from(sorted(VALUES)), st.none(), max_size=len(VALUES)))
    data = to_dict(Config())
    for key in chosen:
        node = data
        *parents, leaf = key.split(".")
        for part in parents:
            node = node[part]
        node[leaf] = draw(VALUES[key])
    data["sequence"]["stride"] = draw(st.integers(1, data["sequence"]["length"]))
    return from_dict(data)


def as_set(key: str, value) -> str:
    """The `--set` argument a user would type for this value (YAML flow style, quoted where YAML needs it)."""
    text = yaml.safe_dump(value, default_flow_style=True, allow_unicode=True)
    text = text.removesuffix("\n").removesuffix("\n...").rstrip("\n")  # not strip(): it eats a non-breaking space
    return f"{key}={text}"


@FAST
@given(configs())
def test_config_round_trips_through_dicts_files_and_set_overrides(tmp_path_factory, cfg):
    assert from_dict(to_dict(cfg)) == cfg
    path = tmp_path_factory.mktemp("cfg") / "c.yaml"
    save_config(cfg, path)
    assert load_config(path) == cfg
    overrides = [as_set(k, v) for k, v in flatten(to_dict(cfg)).items()]
    assert Config().replace(*overrides) == cfg  # every key, typed on a command line, gives the same config back


def leaf_types() -> dict[str, typing.Any]:
    out = {}

    def walk(cls, prefix):
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            tp = hints[f.name]
            if dataclasses.is_dataclass(tp):
                walk(tp, f"{prefix}{f.name}.")
            else:
                out[f"{prefix}{f.name}"] = tp
    walk(Config, "")
    return out


LEAVES = leaf_types()


def wrong_value(tp) -> st.SearchStrategy:
    """Values of a wrong type for `tp` (what a typo on the command line produces)."""
    yaml_words = ("y", "n", "yes", "no", "on", "off")  # YAML 1.1 reads these as booleans
    words = st.text("abcdefghij", min_size=1, max_size=6).filter(lambda w: w not in yaml_words)
    if tp is bool:
        return words | st.integers(2, 99)
    if tp in (int, float):
        return words.map(lambda w: f"{w}x")
    if tp is str:
        return st.integers() | st.booleans()
    if typing.get_origin(tp) is typing.Literal:
        return words.map(lambda w: f"{w}_not_allowed")
    return st.just({"a": 1})  # a tuple field given a mapping


@FAST
@given(st.data())
def test_a_wrong_type_names_its_key(data):
    key = data.draw(st.sampled_from(sorted(LEAVES)))
    value = data.draw(wrong_value(LEAVES[key]))
    with pytest.raises(ConfigError) as info:
        Config().replace(f"{key}={value}")
    assert info.value.where is not None and str(info.value.where).startswith(key), (key, value, str(info.value))
    assert "\n" not in str(info.value)


@FAST
@given(st.sampled_from(sorted({k.rsplit(".", 1)[0] for k in LEAVES if "." in k})),
       st.from_regex(r"[a-z][a-z_]{0,12}", fullmatch=True))
def test_an_unknown_key_is_named_with_its_full_path(section, name):
    assume(f"{section}.{name}" not in LEAVES and not any(k.startswith(f"{section}.{name}.") for k in LEAVES))
    with pytest.raises(ConfigError) as info:
        Config().replace(f"{section}.{name}=1")
    assert info.value.where == f"{section}.{name}" and info.value.what == "unknown config key"


@FAST
@given(st.sampled_from(sorted(k for k, tp in LEAVES.items() if tp in (int, float))), st.integers(-10 ** 6, -1))
def test_out_of_range_numbers_name_their_key(key, value):
    try:
        cfg = Config().replace(f"{key}={value}")
    except ConfigError as exc:
        assert exc.where == key
    else:  # a key where negative values are allowed (only the seed)
        assert key == "seed" and cfg.seed == value


# ----------------------------------------------------------------------------------------- window planning

lengths = st.integers(1, 12)


@st.composite
def plans(draw):
    length = draw(lengths)
    stride = draw(st.integers(1, length))
    counts = draw(st.lists(st.integers(1, 40), min_size=1, max_size=6))
    items = [Item(f"real/item{i}", i % 2, "real", n, None) for i, n in enumerate(counts)]
    return items, length, stride


@FAST
@given(plans(), st.sampled_from(["pad", "skip", "error"]))
def test_every_frame_is_covered_where_the_policy_says_and_no_window_reads_past_the_end(plan, policy):
    items, length, stride = plan
    windows, short = plan_windows(items, length, stride, policy)
    assert [i.name for i in short] == [i.name for i in items if i.num_frames < length]
    for item in items:
        own = [w for w in windows if w.item == item.name]
        assert [w.start for w in own] == sorted({w.start for w in own})  # in order, no duplicates
        for w in own:
            assert 0 <= w.start and w.start + w.length <= item.num_frames  # never past the end
            assert w.length == min(length, item.num_frames) and w.padded == (item.num_frames < length)
        covered = set().union(*(range(w.start, w.start + w.length) for w in own)) if own else set()
        if item.num_frames < length:
            assert covered == (set(range(item.num_frames)) if policy == "pad" else set())
        else:  # the floor policy: a prefix is covered; fewer than `stride` tail frames may be left out
            end = max(w.start for w in own) + length
            assert covered == set(range(end)) and item.num_frames - end < stride


@FAST
@given(st.integers(1, 200), lengths, st.data())
def test_max_windows_keeps_an_even_subset_of_the_full_plan(n, length, data):
    stride = data.draw(st.integers(1, length))
    limit = data.draw(st.integers(1, 30))
    full, picked = window_starts(n, length, stride), window_starts(n, length, stride, limit)
    assert len(picked) == min(limit, len(full)) and set(picked) <= set(full) and picked == sorted(set(picked))


@FAST
@given(st.integers(1, 120), lengths, st.data())
def test_prediction_windows_cover_every_frame_and_stay_inside(n, length, data):
    """Scored windows are evaluation's; with the coverage windows, every frame from first_scored_step on lies in
    a window at a step with enough context; every window lies inside the item and holds consecutive frames."""
    stride = data.draw(st.integers(1, length))
    seq = SequenceConfig(length=length, stride=stride, min_context=data.draw(st.integers(1, length + 2)),
                         max_windows_per_item=data.draw(st.integers(0, 4)))
    first = seq.first_scored_step
    scored, coverage = plan_prediction(n, seq)
    if n < length:
        assert (scored, coverage) == ([0], [])  # one padded window
    else:
        assert scored == window_starts(n, length, stride, seq.max_windows_per_item)
        assert all(0 <= s <= n - length for s in scored + coverage) and not set(scored) & set(coverage)
        covered = {f for s in scored + coverage for f in range(s + first, s + length)}
        assert set(range(first, n)) <= covered
    wanted = set(scored) | set(coverage)
    frames = (torch.tensor(i) for i in range(n))
    clips = dict(_stream_windows(frames, wanted, length, n, Path("video")))
    assert set(clips) == wanted
    for start, clip in clips.items():
        assert clip.tolist() == [min(start + t, n - 1) for t in range(length)]  # consecutive; padding repeats the last


# -------------------------------------------------------------------------------------------- aggregation

probs = st.lists(st.floats(0, 1), min_size=1, max_size=30)


@FAST
@given(probs, st.sampled_from(STRATEGIES), st.floats(0.05, 0.95), st.floats(0.01, 1), st.randoms())
@example([0.25, 0.75], "confident", 0.5, 0.5, random.Random(0))  # a tie in distance from the threshold
def test_video_score_is_invariant_to_window_order_and_bounded(p, strategy, threshold, fraction, rnd):
    score = video_score(p, strategy, threshold, fraction)
    shuffled = list(p)
    rnd.shuffle(shuffled)
    assert video_score(shuffled, strategy, threshold, fraction) == pytest.approx(score, abs=1e-12)
    assert video_score(p[::-1], strategy, threshold, fraction) == pytest.approx(score, abs=1e-12)
    if strategy == "vote":
        assert score == pytest.approx(np.mean(np.asarray(p) >= threshold))
    else:
        assert min(p) - 1e-12 <= score <= max(p) + 1e-12


@FAST
@given(st.lists(st.tuples(st.integers(0, 20), st.lists(st.floats(0, 1), min_size=1, max_size=6)), min_size=1,
                max_size=8), st.randoms())
def test_frame_scores_are_invariant_to_window_order_and_bounded(windows, rnd):
    starts, timelines = zip(*windows)
    scores = frame_scores(starts, timelines)
    order = list(range(len(windows)))
    rnd.shuffle(order)
    again = frame_scores([starts[i] for i in order], [timelines[i] for i in order])
    np.testing.assert_allclose(again, scores, atol=1e-12, equal_nan=True)
    for frame, value in enumerate(scores):
        covering = [t[frame - s] for s, t in windows if s <= frame < s + len(t)]
        if covering:
            assert min(covering) - 1e-12 <= value <= max(covering) + 1e-12
        else:
            assert math.isnan(value)


@FAST
@given(st.lists(st.tuples(st.sampled_from(["a", "b", "c"]), st.integers(0, 50), st.floats(0, 1)), min_size=1,
                max_size=25, unique_by=lambda r: (r[0], r[1])), st.sampled_from(STRATEGIES), st.randoms())
def test_aggregate_videos_does_not_depend_on_row_order(rows, strategy, rnd):
    table = pd.DataFrame([{"item": i, "start": s, "prob_fake": p, "label": int(i == "b"), "family": "f"}
                          for i, s, p in rows])
    shuffled = table.sample(frac=1.0, random_state=rnd.randint(0, 10 ** 6))
    a = aggregate_videos(table, strategy, 0.5).set_index("item").sort_index()
    b = aggregate_videos(shuffled, strategy, 0.5).set_index("item").sort_index()
    np.testing.assert_allclose(a["score"], b["score"], atol=1e-12)
    assert a["pred"].tolist() == b["pred"].tolist() and a["window_scores"].tolist() == b["window_scores"].tolist()
