"""Config: the seed's files load to the seed's defaults; overlays, overrides and clear errors."""
import dataclasses
from pathlib import Path

import pytest
import yaml

from lab.config import Config, from_dict, load_config, save_config, to_dict
from lab.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
SEED_FILES = (ROOT / "config/data_config.yaml", ROOT / "config/model_config.yaml")


def _flat_keys(data, prefix=""):
    for key, value in data.items():
        if isinstance(value, dict):
            yield from _flat_keys(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def test_seed_files_match_dataclass_defaults():
    cfg = load_config(*SEED_FILES)
    assert cfg == Config()  # the seed's values are the typed defaults
    assert cfg.sequence.length == 16 and cfg.sequence.stride == 8
    assert (cfg.image.height, cfg.image.width) == (224, 224)
    assert cfg.model.convlstm.hidden_channels == (64, 128)
    assert cfg.training.learning_rate == 1e-4 and cfg.training.scheduler.warmup_epochs == 5
    assert cfg.device == "cuda" and cfg.seed == 42
    # The extra key the seed never wrote, chosen by evidence (docs/architecture.md, "Input streams"): the frame residual.
    assert cfg.model.input_streams == ("rgb", "residual")


def test_seed_files_hold_exactly_the_seed_keys():
    keys = set()
    for path in SEED_FILES:
        keys |= {k for k, _ in _flat_keys(yaml.safe_load(path.read_text()))}
    assert keys == {
        "data.train_dir", "data.val_dir", "data.test_dir", "sequence.length", "sequence.stride",
        "image.height", "image.width", "image.channels", "augmentation.horizontal_flip",
        "augmentation.random_crop", "augmentation.color_jitter", "augmentation.normalize.mean",
        "augmentation.normalize.std", "model.backbone", "model.pretrained", "model.freeze_backbone",
        "model.convlstm.hidden_channels", "model.convlstm.kernel_size", "model.convlstm.num_layers",
        "model.convlstm.bidirectional", "model.classifier.dropout", "model.classifier.num_classes",
        "training.batch_size", "training.epochs", "training.learning_rate", "training.weight_decay",
        "training.scheduler.type", "training.scheduler.warmup_epochs", "training.early_stopping.patience",
        "training.early_stopping.min_delta", "device", "seed",
    }


@pytest.mark.parametrize("override, getter, expected", [
    ("data.train_dir=/x", lambda c: c.data.train_dir, "/x"),
    ("sequence.length=8", lambda c: c.sequence.length, 8),
    ("image.height=112", lambda c: c.image.height, 112),
    ("training.batch_size=4", lambda c: c.training.batch_size, 4),
    ("model.pretrained=false", lambda c: c.model.pretrained, False),
    ("model.convlstm.hidden_channels=[16,32]", lambda c: c.model.convlstm.hidden_channels, (16, 32)),
    ("model.input_streams=[rgb,residual]", lambda c: c.model.input_streams, ("rgb", "residual")),
    ("training.learning_rate=1", lambda c: c.training.learning_rate, 1.0),
    ("training.learning_rate=1e-4", lambda c: c.training.learning_rate, 1e-4),
    # YAML 1.1 reads an unquoted `off` as False: a choice that spells it gets its word back
    ("data.cache=off", lambda c: c.data.cache, "off"),
    ("data.cache=require", lambda c: c.data.cache, "require"),
])
def test_overrides(override, getter, expected):
    assert getter(load_config(*SEED_FILES, overrides=[override])) == expected


def test_overlay_with_defaults_and_later_files_win(tmp_path):
    (tmp_path / "base.yaml").write_text("sequence: {length: 8}\nseed: 1\n")
    (tmp_path / "exp.yaml").write_text("defaults: [base.yaml]\nseed: 7\n")
    cfg = load_config(tmp_path / "exp.yaml", overrides=["seed=9"])
    assert (cfg.sequence.length, cfg.seed) == (8, 9)
    assert load_config(tmp_path / "exp.yaml").seed == 7


def test_demo_overlay_loads():
    cfg = load_config(*SEED_FILES, ROOT / "config/demo.yaml")
    assert cfg.model.pretrained is False
    assert cfg != Config()


@pytest.mark.parametrize("overlay", sorted(p.name for p in (ROOT / "config").glob("*.yaml")))
def test_every_shipped_overlay_loads_and_builds_its_model(overlay):
    from lab.models.classifier import build_model

    cfg = load_config(ROOT / "config/data_config.yaml", ROOT / "config" / overlay,
                      overrides=["model.pretrained=false"])  # the weights: tests/test_pretrained.py
    assert build_model(cfg.model) is not None


def test_config_is_frozen_and_round_trips(tmp_path):
    cfg = load_config(*SEED_FILES, overrides=["model.pooling=attention"])
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.seed = 1  # type: ignore[misc]
    assert from_dict(to_dict(cfg)) == cfg
    save_config(cfg, tmp_path / "c.yaml")
    assert load_config(tmp_path / "c.yaml") == cfg
    assert cfg.replace("seed=3").seed == 3 and cfg.seed == 42


@pytest.mark.parametrize("override, fragment", [
    ("sequence.lenght=8", "unknown config key (sequence.lenght): did you mean sequence.length"),
    ("trainig.batch_size=4", "unknown config key (trainig)"),
    ("training.batch_size=four", "'four' is not of type int (training.batch_size): give a int"),
    ("training.batch_size=0", "0 is not a positive number (training.batch_size): give a value > 0"),
    ("model.backbone=vgg", "'vgg' is not allowed (model.backbone): use one of resnet18, resnet34"),
    ("model.pretrained=3", "3 is not of type bool (model.pretrained)"),
    ("model.classifier.dropout=1.5", "1.5 is outside [0, 1) (model.classifier.dropout)"),
    ("model.convlstm.hidden_channels=[1,2,3]", "one per layer"),
    ("device=gpu", "unknown device 'gpu' (device)"),
    ("nonsense", "must look like key.path=value (nonsense)"),
    ("model.classifier.num_classes=3", "3 is not allowed (model.classifier.num_classes): use one of 2"),
    ("model.output_stride=16.0", "16.0 is not allowed (model.output_stride): use one of 4, 8, 16, 32"),
    ("model.input_streams=[rgb,flow]", "unknown stream 'flow' (model.input_streams): use rgb, residual, residual2, energy"),
    ("model.input_streams=[residual,rgb]", "rgb first when it is used"),
    ("model.spatial_pooling=sum", "use one of mean, max, meanmax"),
    ("sequence.stride=20", "(sequence.stride): make it <= sequence.length"),
    ("training.learning_rate=.nan", "nan is not a finite number (training.learning_rate)"),
    ("training.checkpoint_every_steps=-1", "-1 is negative (training.checkpoint_every_steps)"),
    ("training.nonfinite_loss=ignore", "'ignore' is not allowed (training.nonfinite_loss): use one of stop, skip"),
])
def test_bad_values_name_key_value_and_allowed(override, fragment):
    with pytest.raises(ConfigError) as err:
        load_config(*SEED_FILES, overrides=[override])
    assert fragment in str(err.value)
    assert "\n" not in str(err.value)


def test_bad_files(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml")
    (tmp_path / "bad.yaml").write_text("model: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(tmp_path / "bad.yaml")
    (tmp_path / "loop.yaml").write_text("defaults: [loop.yaml]\n")
    with pytest.raises(ConfigError, match="includes itself"):
        load_config(tmp_path / "loop.yaml")


def test_num_workers_takes_a_count_or_auto(monkeypatch):
    import os

    from lab.data.dataset import resolve_num_workers

    assert load_config(*SEED_FILES, overrides=["data.num_workers=auto"]).data.num_workers == "auto"
    assert load_config(*SEED_FILES, overrides=["data.num_workers=3"]).data.num_workers == 3
    for bad, message in (("-1", "is negative"), ("many", "give int or 'auto'"), ("1.5", "give int or 'auto'")):
        with pytest.raises(ConfigError, match=message):
            load_config(*SEED_FILES, overrides=[f"data.num_workers={bad}"])
    # auto (the default): none on up to 2 CPUs (measured: the step needs both), else half the CPUs, at most 8
    assert load_config(*SEED_FILES).data.num_workers == "auto"
    assert [resolve_num_workers("auto", cpus=n) for n in (1, 2, 3, 16, 64)] == [0, 0, 1, 8, 8]
    assert resolve_num_workers(5, cpus=2) == 5
    # without `cpus`: the CPUs this process may use (its affinity), by the same rule
    here = len(os.sched_getaffinity(0))
    assert resolve_num_workers("auto") == (0 if here <= 2 else min(8, here // 2))
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(12)))
    assert resolve_num_workers("auto") == 6
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1})
    assert resolve_num_workers("auto") == 0
