"""`make demo`: synthesise the embedded dataset, train the ConvLSTM and two ablations, evaluate, score a video.

The headline is the gap: the ConvLSTM with a frame-residual stream sees the temporal artifacts the
synthetic fakes carry, while the frame-only baseline (no recurrence, RGB only) cannot, because every
single synthetic fake frame is distributed like a real one.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import pandas as pd

from lab.errors import DataError, StorageError

DEMO_CONFIGS = ("config/data_config.yaml", "config/demo.yaml")
# 128/24/24 videos per class of 24 frames at 32x32: enough distinct videos that a from-scratch encoder
# generalises instead of memorising, small enough to train three models in minutes on 2 CPU cores.
DEMO_SPEC = dict(train=128, val=24, test=24, frames=24, height=32, width=32)
# (run name, what it is, overrides on top of config/demo.yaml)
VARIANTS = (
    ("demo", "ConvLSTM, RGB + frame residual (main)", ()),
    ("demo_rgb_convlstm", "ConvLSTM, RGB only", ("model.input_streams=[rgb]",)),
    ("demo_frame_baseline", "frame-only baseline (no recurrence), RGB", ("model.temporal=frame", "model.input_streams=[rgb]")),
)


def _prepare_data(root: Path) -> None:
    from lab.data.synth import SynthSpec, generate

    splits = [root / s for s in ("train", "val", "test")]
    foreign = [s for s in splits if s.exists() and any(s.iterdir()) and not (s / "manifest.csv").is_file()]
    if foreign:
        raise StorageError("folder holds data that lab synth did not write, and the demo will not overwrite it",
                           foreign[0], "run lab demo --data-root OTHER_DIR")
    t0 = time.perf_counter()
    manifest = generate(root, SynthSpec(**DEMO_SPEC), overwrite=True)
    print(f"[1/4] synthetic dataset: {len(manifest)} items in {root}/{{train,val,test}} "
          f"({time.perf_counter() - t0:.1f}s)")


def ablation_table(rows: list[dict]) -> str:
    lines = ["| model | run | test clip ROC-AUC | test video ROC-AUC | video accuracy | train time |",
             "|---|---|---|---|---|---|"]
    lines += [f"| {r['model']} | {r['run']} | {r['clip_auc']:.3f} | {r['video_auc']:.3f} | {r['video_acc']:.3f} "
              f"| {r['train_s']:.0f}s |" for r in rows]
    return "\n".join(lines)


def run_demo(data_root: str | Path = "data", progress: bool = True, checkpoint_dir: str = "checkpoints",
             reports_dir: str = "reports", log_dir: str = "logs") -> int:
    from lab.runtime.checkpoint import load_model
    from lab.cli.commands import test_entry
    from lab.config import load_config
    from lab.runtime.device import resolve_device
    from lab.evaluation.evaluate import evaluate_split
    from lab.evaluation.report import write_report
    from lab.training.loop import fit

    from lab.data.outputs import ensure_writable

    start = time.perf_counter()
    root = Path(data_root)
    for folder, what, flag in ((root, "data", "--data-root"), (checkpoint_dir, "checkpoint", "checkpoint_dir"),
                               (log_dir, "log", "log_dir"), (reports_dir, "report", "reports_dir")):
        ensure_writable(folder, what, flag)  # before minutes of training, not after
    _prepare_data(root)
    paths = {"data.train_dir": root / "train", "data.val_dir": root / "val", "data.test_dir": root / "test"}
    data_overrides = [f"{k}={v}" for k, v in paths.items()]

    rows = []
    for i, (run, what, overrides) in enumerate(VARIANTS):
        cfg = load_config(*DEMO_CONFIGS, overrides=data_overrides + list(overrides))
        print(f"[2/4] training {what} ({run})")
        t0 = time.perf_counter()
        result = fit(cfg, run_name=run, checkpoint_dir=checkpoint_dir, log_dir=log_dir, progress=progress,
                     publish_best=Path(checkpoint_dir) / "best.pth" if i == 0 else None,
                     overwrite=True)  # the demo regenerates its data, runs and reports every time
        train_s = time.perf_counter() - t0
        model, cfg, ckpt = load_model(result.best_path)
        device = resolve_device(cfg.device)
        ev = evaluate_split(model.to(device), cfg, paths["data.test_dir"], device, threshold=ckpt["threshold"],
                            progress=False)
        write_report(ev, Path(reports_dir) / run, cfg=cfg, checkpoint=result.best_path, title=f"Demo: {what}",
                     overwrite=True)
        video = ev.metrics["video"][ev.aggregation]
        rows.append({"model": what, "run": run, "clip_auc": ev.metrics["clip"]["roc_auc"],
                     "video_auc": video["roc_auc"], "video_acc": video["accuracy"], "train_s": train_s,
                     "best_epoch": result.best_epoch})
        print(f"      test ROC-AUC clips {rows[-1]['clip_auc']:.3f}, videos {rows[-1]['video_auc']:.3f} "
              f"({train_s:.0f}s)")

    table = ablation_table(rows)
    out = Path(reports_dir) / "demo"
    (out / "ablation.md").write_text("# Does time help? (test split of the synthetic dataset)\n\n" + table + "\n")
    (out / "ablation.json").write_text(json.dumps(rows, indent=2))
    print("[3/4] ablation (test split):\n" + table)

    video = sorted((root / "test" / "fake").glob("*.mp4")) + sorted((root / "test" / "real").glob("*.mp4"))
    if not video:
        raise DataError("no .mp4 to score", root / "test", "regenerate the demo data (lab demo writes some)")
    print(f"[4/4] python test.py --video {video[0]} --checkpoint {checkpoint_dir}/best.pth")
    code = test_entry(["--video", str(video[0]), "--checkpoint", f"{checkpoint_dir}/best.pth"])
    print(pd.Series({"data": str(root), "checkpoint": f"{checkpoint_dir}/best.pth", "reports": f"{reports_dir}/demo/",
                     "TensorBoard": f"tensorboard --logdir {log_dir}",
                     "minutes": f"{(time.perf_counter() - start) / 60:.1f}"}).to_string())
    return code
