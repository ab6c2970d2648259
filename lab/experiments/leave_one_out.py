"""Leave-one-family-out: train on every fake family but one, test on the held-out family, for each family in turn
and for each compared model (the config's, plus any made from it by config overrides).

A fold is an ordinary training run with `data.held_out_families=[F]`: the family's fakes are left out of the
training and validation splits by the dataset (never copied, never linked), so the fold's checkpoint says what
it was trained without and `lab train --set data.held_out_families=[F]` reproduces it. Reals are shared. The fold
is tested on the whole test split: reals against the held-out family's fakes (held-out AUC) and against the
trained families' fakes (in-domain AUC).

OUT holds `experiment.json` (the base config), `folds/<model>/<family>/` (the fold's checkpoints, `history.csv`
and, once finished, `fold.json` with its scores), `logs/` and the table: `table.csv`, `table.md`, `table.png`.
A rerun skips finished folds, resumes a killed fold from its `last.pth`, and refuses an OUT that holds a run of
another config (`overwrite=True` replaces it). Compared models and families may be added to a finished run.
"""
from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence, Union

import matplotlib.pyplot as plt
import pandas as pd
from tqdm.auto import tqdm

from lab.config import Config, flatten, from_dict
from lab.data.dataset import fake_families
from lab.errors import ConfigError, DataError, LabError, StorageError
from lab.evaluation.evaluate import evaluate_split
from lab.experiments.holdout import holdout_markdown, holdout_scores, holdout_table, plot_holdout
from lab.outputs import ensure_writable, write_text
from lab.runtime.checkpoint import load_model
from lab.runtime.device import Precision, prepare_model, resolve_device
from lab.scoring.aggregate import decision_threshold
from lab.scoring.decision import checkpoint_decision
from lab.training.loop import fit

EXPERIMENT_FILE = "experiment.json"
FOLD_FILE = "fold.json"
TABLE_FILES = ("table.csv", "table.md", "table.png")
Compare = Union[str, Sequence[str], Mapping[str, Any]]


@dataclass(frozen=True)
class ComparedModel:
    """One model of the comparison: a label, the overrides that make it from the base config, its folder name."""

    label: str
    overrides: tuple[str, ...]
    slug: str


@dataclass(frozen=True)
class LeaveOneOut:
    table: pd.DataFrame  # one row per (held-out family, model): holdout_table's columns
    out_dir: Path
    ran: tuple[str, ...]  # "<model>/<family>" of the folds trained (or resumed) by this call
    skipped: tuple[str, ...]  # those finished by an earlier call

    @property
    def markdown(self) -> str:
        return holdout_markdown(self.table)


def _override(key: str, value: Any) -> str:
    return f"{key}={value if isinstance(value, str) else json.dumps(value)}"


def compared_models(cfg: Config, compare: Sequence[Compare] = ()) -> list[ComparedModel]:
    """The config's own model first, then one model per `compare` entry: an override string
    ("model.temporal=frame"), a list of them, or a mapping {"model.temporal": "frame"} (no '=' needed, as in a
    notebook's parameters cell). Each is checked against the config now, before any training."""
    models = [ComparedModel(f"{cfg.model.temporal} (config)", (), "config")]
    for entry in compare:
        if isinstance(entry, Mapping):
            overrides = tuple(_override(k, v) for k, v in entry.items())
        elif isinstance(entry, str):
            overrides = (entry,)
        else:
            overrides = tuple(entry)
        if not overrides or not all(isinstance(o, str) and "=" in o for o in overrides):
            raise ConfigError(f"compared model {entry!r} is not a list of key=value overrides", "compare",
                              'give e.g. "model.temporal=frame" or {"model.temporal": "frame"}')
        cfg.replace(*overrides)  # an unknown key or a bad value fails here, naming it
        label = ", ".join(overrides)
        slug = re.sub(r"[^A-Za-z0-9._-]+", "-", label).strip("-")
        if any(m.slug == slug for m in models):
            raise ConfigError(f"compared model {label!r} is listed twice", "compare", "list each model once")
        models.append(ComparedModel(label, overrides, slug))
    return models


# ------------------------------------------------------------------------------------------------ OUT folder


def _identity(cfg: Config) -> Config:
    """What must match for two runs to be one: everything but where it runs (device, loader workers)."""
    return cfg.replace("device=cpu", "data.num_workers=0")


def _differences(old: Config, new: Config, limit: int = 3) -> str:
    a, b = flatten(old.to_dict()), flatten(new.to_dict())
    keys = [k for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
    shown = ", ".join(f"{k} {a.get(k)!r} -> {b.get(k)!r}" for k in keys[:limit])
    return shown + (f" and {len(keys) - limit} more" if len(keys) > limit else "")


def claim_experiment(out: Path, cfg: Config, overwrite: bool) -> bool:
    """Make `out` this experiment's folder. True when it continues an earlier run of the same config. A run of
    another config is refused unless `overwrite` (then removed); a folder of other files is always refused."""
    record = out / EXPERIMENT_FILE
    if record.is_file():
        try:
            stored = from_dict(json.loads(record.read_text())["config"])
        except (ValueError, KeyError, LabError):
            stored = None  # unreadable, or written by a version with other config keys
        if stored is not None and _identity(stored) == _identity(cfg):
            return True
        if not overwrite:
            what = f"another config ({_differences(stored, cfg)})" if stored is not None else "a config this version cannot read"
            raise StorageError(f"folder holds a leave-one-out run of {what}", out,
                               "pass another --out, or --overwrite to replace that run")
        for name in ("folds", "logs"):
            shutil.rmtree(out / name, ignore_errors=True)
        for name in (EXPERIMENT_FILE, *TABLE_FILES):
            (out / name).unlink(missing_ok=True)
    elif out.is_dir() and any(out.iterdir()):
        raise StorageError("folder holds files that lab experiment leave-one-out did not write", out,
                           "pass an empty or new --out")
    ensure_writable(out, "experiment", "--out")
    write_text(record, json.dumps({"experiment": "leave-one-out", "config": cfg.to_dict()}, indent=2))
    return False


def _families(cfg: Config, requested: Sequence[str] | None) -> tuple[list[str], dict[str, int]]:
    """The folds' families (default: every fake family of the training split) and all training fake families."""
    train = fake_families(cfg.data.train_dir)
    test = fake_families(cfg.data.test_dir)
    if len(train) < 2:
        raise DataError(f"the training split holds {len(train)} fake family ({', '.join(train) or 'none'}); "
                        "leaving one out needs at least two", cfg.data.train_dir,
                        "give fakes a family (manifest.csv's family column, or a name like family__0001)")
    families = list(requested) if requested else sorted(train)
    for family in families:
        for split, found in (("training", train), ("test", test)):
            if family not in found:
                raise DataError(f"family {family!r} has no fake in the {split} split (it holds "
                                f"{', '.join(sorted(found)) or 'no fakes'})", "--families",
                                "choose families the training and test splits both hold")
    return families, train


# ------------------------------------------------------------------------------------------------- one fold


def _train_fold(cfg: Config, out: Path, model: ComparedModel, family: str, progress: bool,
                say: Callable[[str], None]) -> Path:
    """Train (or finish training) the fold; returns its folder."""
    checkpoint_dir, log_dir = out / "folds" / model.slug, out / "logs" / model.slug
    run = checkpoint_dir / family
    if (run / "history.csv").is_file() and (run / "best.pth").is_file():
        say(f"fold {family} / {model.label}: trained earlier, evaluating")  # killed before its scores were written
    elif (run / "last.pth").is_file():
        say(f"fold {family} / {model.label}: resuming from {run / 'last.pth'}")
        fit(cfg, run_name=family, checkpoint_dir=checkpoint_dir, log_dir=log_dir, resume=run / "last.pth",
            progress=progress)
    else:  # a fold killed before its first checkpoint may have left logs: they are this experiment's, replace them
        fit(cfg, run_name=family, checkpoint_dir=checkpoint_dir, log_dir=log_dir, progress=progress, overwrite=True)
    return run


def run_fold(cfg: Config, out: Path, model: ComparedModel, family: str, train_families: Mapping[str, int],
             progress: bool = True, say: Callable[[str], None] = tqdm.write) -> dict[str, Any]:
    """Train `model` without `family`'s fakes, test it on the test split, write and return the fold record."""
    fold_cfg = cfg.replace(*model.overrides, _override("data.held_out_families", [family]))
    run = _train_fold(fold_cfg, out, model, family, progress, say)
    net, trained_cfg, ckpt = load_model(run / "best.pth")
    device = resolve_device(trained_cfg.device)
    net = prepare_model(net, device, channels_last=trained_cfg.training.channels_last, compile=False)
    ev = evaluate_split(net, trained_cfg, trained_cfg.data.test_dir, device,
                        threshold=checkpoint_decision(ckpt), precision=Precision.choose(device, trained_cfg.training.amp), progress=False)
    seen = sorted(f for f in train_families if f != family)
    scores = holdout_scores(ev.videos, ev.windows, family, seen, decision_threshold(ev.aggregation, ev.threshold))
    history = pd.read_csv(run / "history.csv")
    record = {"held_out": family, "model": model.label, "overrides": list(model.overrides), **scores,
              "train_families": " ".join(seen), "best_epoch": int(ckpt["epoch"]),
              "train_seconds": float(history["seconds"].sum()), "threshold": float(ckpt["threshold"]),
              "aggregation": ev.aggregation, "checkpoint": str(run / "best.pth"), "config": fold_cfg.to_dict()}
    write_text(run / FOLD_FILE, json.dumps(record, indent=2))
    return record


def _finished(run: Path, fold_cfg: Config, model: ComparedModel) -> dict[str, Any] | None:
    """The fold's record when it finished with this config, else None. Its label and path are this run's: a fold
    folder copied from another experiment of the same fold config counts as finished."""
    try:
        record = json.loads((run / FOLD_FILE).read_text())
        same = _identity(from_dict(record["config"])) == _identity(fold_cfg)
    except (OSError, ValueError, KeyError, LabError):
        return None
    return {**record, "model": model.label, "checkpoint": str(run / "best.pth")} if same else None


# ------------------------------------------------------------------------------------------------ experiment


def leave_one_out(cfg: Config, out_dir: str | Path, *, families: Sequence[str] | None = None,
                  compare: Sequence[Compare] = (), overwrite: bool = False, progress: bool = True,
                  say: Callable[[str], None] = tqdm.write) -> LeaveOneOut:
    """Run every (family, model) fold not finished yet, then write OUT/table.{csv,md,png} atomically.

    `cfg` names the data (data.train_dir / val_dir / test_dir) and the base model; `families` the folds (default:
    every fake family of the training split); `compare` the other models, as config overrides (see
    `compared_models`). Every fold uses `cfg.seed`."""
    if cfg.data.held_out_families:
        raise ConfigError("leave-one-out sets data.held_out_families itself, fold by fold", "data.held_out_families",
                          "leave it empty")
    out = Path(out_dir)
    models = compared_models(cfg, compare)
    fold_families, train_families = _families(cfg, families)
    claim_experiment(out, cfg, overwrite)
    records, ran, skipped = [], [], []
    for family in fold_families:
        for model in models:
            name = f"{model.slug}/{family}"
            fold_cfg = cfg.replace(*model.overrides, _override("data.held_out_families", [family]))
            record = _finished(out / "folds" / model.slug / family, fold_cfg, model)
            if record is not None:
                say(f"fold {family} / {model.label}: finished earlier, skipped "
                    f"(held-out AUC {record['held_out_auc']:.3f})")
                skipped.append(name)
            else:
                say(f"fold {family} / {model.label}: training on {', '.join(f for f in train_families if f != family)}")
                record = run_fold(cfg, out, model, family, train_families, progress, say)
                say(f"fold {family} / {model.label}: in-domain AUC {record['in_domain_auc']:.3f}, "
                    f"held-out AUC {record['held_out_auc']:.3f}")
                ran.append(name)
            records.append(record)
    table = holdout_table(records)
    write_text(out / "table.csv", table.to_csv(index=False))
    write_text(out / "table.md", holdout_markdown(table) + "\n")
    plt.close(plot_holdout(table, out / "table.png"))
    return LeaveOneOut(table, out, tuple(ran), tuple(skipped))
