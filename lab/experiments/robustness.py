"""Robustness sweep: how a checkpoint's AUC falls as its test videos are re-encoded, compressed, shrunk, blurred,
made noisy or played at half the frame rate (`lab experiment robustness`).

For each perturbation and severity, every item of the split is decoded, perturbed as a whole video
(`lab.data.perturb`) and written as lossless PNG frames to a temporary copy of the split (manifest included);
that copy is evaluated exactly as `lab eval` evaluates the original (same windows, aggregation and threshold),
then deleted. The unperturbed split is the first row. Results: `robustness.csv`, `robustness.md`,
`robustness.png` and, last, `robustness.json` (its presence marks a finished sweep), each written atomically.
"""
from __future__ import annotations

import csv
import json
import math
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import pandas as pd
import torch
from tqdm.auto import tqdm

from lab.config import Config
from lab.data.dataset import MANIFEST, discover_items
from lab.data.perturb import PERTURBATIONS, check_severity, item_seed, perturb_item, perturbation
from lab.data.video import is_video
from lab.errors import StorageError
from lab.evaluation.evaluate import evaluate_split
from lab.evaluation.viz import finish
from lab.outputs import ensure_writable, write_text
from lab.runtime.device import Precision
from lab.scoring.decision import Decision, as_decision

RESULT_FILES = ("robustness.csv", "robustness.md", "robustness.png", "robustness.json")
# `--quick`: one or two severities of each kind, the harshest that still says something
QUICK_SEVERITIES: dict[str, tuple[float, ...]] = {"h264": (23, 40), "jpeg": (30,), "downscale": (0.5,),
                                                  "blur": (1.0,), "noise": (10.0,), "fps": (2,)}


def default_severities() -> dict[str, tuple[float, ...]]:
    """Every perturbation at its default severities (CRF 23/28/35/40, JPEG 90/70/50/30, ...)."""
    return {name: p.severities for name, p in PERTURBATIONS.items()}


def write_perturbed_split(data_dir: str | Path, out: str | Path, name: str, severity: float, *,
                          progress: bool = False) -> Path:
    """A copy of the split `data_dir` (seed layout) in `out` with every item perturbed: `real|fake/<item>/`
    PNG folders (a video `x.mp4` becomes the folder `x`), and its manifest with the item names changed to match."""
    data_dir, out = Path(data_dir), Path(out)
    found, _ = discover_items(data_dir)
    renamed: dict[str, str] = {}
    for path, _label in tqdm(found, desc=f"{name} {severity:g}", leave=False, disable=not progress):
        item = path.relative_to(data_dir).as_posix()
        target = path.with_suffix("") if is_video(path) else path
        new = target.relative_to(data_dir).as_posix()
        if (out / new).exists():
            raise StorageError(f"two items become {new} once videos are written as frame folders", path,
                               "rename one of them")
        perturb_item(path, out / new, name, severity, seed=item_seed(item, severity))
        renamed[item] = renamed[str(path.with_suffix("").relative_to(data_dir).as_posix())] = new
    manifest = data_dir / MANIFEST
    if manifest.is_file():
        with manifest.open(newline="") as fh:
            rows = list(csv.DictReader(fh))
        for row in rows:
            row["item"] = renamed.get(Path(row["item"].strip()).as_posix(), row["item"])
        with (out / MANIFEST).open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]) if rows else ["item", "family"])
            writer.writeheader()
            writer.writerows(rows)
    return out


@dataclass
class RobustnessResult:
    table: pd.DataFrame  # perturbation, severity, unit, clip_auc, video_auc, video_accuracy, n_videos, seconds
    out: Path | None  # the folder written, or None


def claim_robustness_folder(out: str | Path, overwrite: bool) -> Path:
    """`out` writable and holding no earlier sweep's files, unless `overwrite` (they are then replaced)."""
    out = Path(out)
    found = [f for f in RESULT_FILES if (out / f).exists()]
    if found and not overwrite:
        raise StorageError(f"folder already holds a robustness sweep ({', '.join(found)})", out,
                           "pass --out ANOTHER_FOLDER, or --overwrite to replace it")
    return ensure_writable(out, "robustness report", "--out")


def robustness_sweep(model: torch.nn.Module, cfg: Config, data_dir: str | Path, device: torch.device | str, *,
                     threshold: float | Decision, severities: Mapping[str, Sequence[float]] | None = None,
                     precision: Precision | None = None, out: str | Path | None = None, overwrite: bool = False,
                     checkpoint: str | Path | None = None, tmp_dir: str | Path | None = None,
                     progress: bool = True) -> RobustnessResult:
    """Evaluate `model` on `data_dir` unperturbed and under each perturbation at each severity (default: every
    perturbation at its default severities); with `out`, write the table, markdown, plot and JSON there.
    `threshold`: the checkpoint's Decision (`checkpoint_decision(ckpt)`: temperature and threshold, as `lab eval`
    uses them) or a plain threshold on uncalibrated scores. The perturbed copies are temporary and have no
    decoded-frame cache, so they are read with data.cache=off."""
    decision = as_decision(threshold)
    if tmp_dir is not None and not Path(tmp_dir).is_dir():
        raise StorageError("temporary folder does not exist", tmp_dir, "create it, or leave --tmp-dir out")
    perturbed_cfg = cfg.replace("data.cache=off")
    severities = dict(default_severities() if severities is None else severities)
    for name, levels in severities.items():
        for level in levels:
            check_severity(name, level)
    if out is not None:
        out = claim_robustness_folder(out, overwrite)  # before minutes of work
    device = torch.device(device)
    conditions = [("none", math.nan)] + [(n, float(s)) for n, levels in severities.items() for s in levels]
    rows = []
    for name, severity in tqdm(conditions, desc="robustness", disable=not progress):
        t0 = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="lab-robustness-", dir=tmp_dir) as tmp:
            split = Path(data_dir) if name == "none" else write_perturbed_split(
                data_dir, Path(tmp) / "split", name, severity, progress=progress)
            ev = evaluate_split(model, cfg if name == "none" else perturbed_cfg, split, device, threshold=decision,
                                precision=precision, progress=False)
        video = ev.metrics["video"][ev.aggregation]
        rows.append({"perturbation": name, "severity": severity,
                     "unit": "" if name == "none" else perturbation(name).unit,
                     "clip_auc": ev.metrics["clip"]["roc_auc"], "video_auc": video["roc_auc"],
                     "video_accuracy": video["accuracy"], "n_windows": ev.metrics["n_windows"],
                     "n_videos": ev.metrics["n_videos"], "seconds": round(time.perf_counter() - t0, 2)})
    table = pd.DataFrame(rows)
    if out is not None:
        write_robustness(table, out, meta={"checkpoint": str(checkpoint) if checkpoint else None,
                                           "data_dir": str(data_dir), "threshold": decision.threshold,
                                           "decision": decision.to_dict(),
                                           "aggregation": cfg.inference.aggregation,
                                           "severities": {k: list(v) for k, v in severities.items()}})
    return RobustnessResult(table, out)


def markdown_table(table: pd.DataFrame) -> str:
    """The sweep as a markdown table, with each row's clip-AUC change from the unperturbed split."""
    clean = table.loc[table["perturbation"] == "none", "clip_auc"]
    base = float(clean.iloc[0]) if len(clean) else math.nan
    lines = ["| perturbation | severity | clip ROC-AUC | change | video ROC-AUC | video accuracy |",
             "|---|---|---|---|---|---|"]
    for r in table.itertuples():
        level = "—" if r.perturbation == "none" else f"{r.severity:g} ({r.unit})"
        change = "" if r.perturbation == "none" else f"{r.clip_auc - base:+.3f}"
        lines.append(f"| {r.perturbation} | {level} | {r.clip_auc:.3f} | {change} | {r.video_auc:.3f} "
                     f"| {r.video_accuracy:.3f} |")
    return "\n".join(lines)


def plot_robustness(tables: pd.DataFrame | Mapping[str, pd.DataFrame], save_path: str | Path | None = None,
                    metric: str = "clip_auc"):
    """One panel per perturbation: `metric` against severity (mild to harsh, left to right), the unperturbed
    value dashed. A mapping of tables (e.g. without and with augmentation) draws one line per table."""
    tables = {"model": tables} if isinstance(tables, pd.DataFrame) else dict(tables)
    kinds = [k for k in dict.fromkeys(k for t in tables.values() for k in t["perturbation"]) if k != "none"]
    cols = min(3, max(1, len(kinds)))
    rows = max(1, math.ceil(len(kinds) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False)
    for ax, kind in zip(axes.flat, kinds):
        for i, (label, table) in enumerate(tables.items()):
            part = table[table["perturbation"] == kind]
            colour = f"C{i}"
            ax.plot(range(len(part)), part[metric], marker="o", c=colour, label=label)
            clean = table.loc[table["perturbation"] == "none", metric]
            if len(clean):
                ax.axhline(float(clean.iloc[0]), ls="--", c=colour, lw=1)
            ax.set_xticks(range(len(part)), [f"{s:g}" for s in part["severity"]])
            unit = part["unit"].iloc[0] if len(part) else ""
        ax.set(title=kind, xlabel=unit, ylabel=metric.replace("_", " "), ylim=(0.0, 1.02))
    for ax in list(axes.flat)[len(kinds):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=8, loc="lower left")
    fig.suptitle("ROC-AUC under perturbation (dashed: unperturbed)")
    return finish(fig, save_path)


def write_robustness(table: pd.DataFrame, out: str | Path, meta: dict) -> Path:
    """robustness.csv, .md, .png, then .json (the marker of a finished sweep), each atomically."""
    out = Path(out)
    write_text(out / "robustness.csv", table.to_csv(index=False))
    title = f"# Robustness of `{meta.get('checkpoint')}` on `{meta.get('data_dir')}`\n\n"
    write_text(out / "robustness.md", title + markdown_table(table) + "\n\n![robustness](robustness.png)\n")
    plt.close(plot_robustness(table, out / "robustness.png"))
    records = json.loads(table.to_json(orient="records"))  # NaN -> null
    write_text(out / "robustness.json", json.dumps({**meta, "rows": records}, indent=2))
    return out
