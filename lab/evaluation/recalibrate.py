"""`lab calibrate`: fit the temperature and choose the threshold of an existing checkpoint on a validation split.

The weights are untouched. The result goes to a new file beside the checkpoint (`best.pth` ->
`best.calibrated.pth`) unless `out` names another; an existing file is replaced only with `overwrite` (also the
checkpoint itself, `out=checkpoint`), atomically, so another run's checkpoint is never overwritten silently.
The checkpoint's config records the rule (`training.threshold`, `training.target_fpr`,
`training.temperature_scaling`) and `calibration` where it was fitted.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from torch.utils.data import DataLoader

from lab.data.dataset import build_dataset, resolve_num_workers
from lab.errors import StorageError
from lab.evaluation.calibration import Calibration
from lab.evaluation.calibration import decide
from lab.runtime.checkpoint import atomic_save, checkpoint_config, load_model, read_checkpoint
from lab.runtime.device import Precision, prepare_model, resolve_device
from lab.scoring.decision import Decision, checkpoint_decision
from lab.scoring.windows import score_loader


@dataclass(frozen=True)
class Recalibrated:
    path: Path  # the checkpoint written
    decision: Decision
    calibration: Calibration
    previous: Decision  # what the checkpoint stored before
    data_dir: str


def default_output(checkpoint: str | Path) -> Path:
    path = Path(checkpoint)
    return path.with_name(f"{path.stem}.calibrated{path.suffix or '.pth'}")


def calibrate_checkpoint(checkpoint: str | Path, data_dir: str | Path | None = None, out: str | Path | None = None, *,
                         method: str | None = None, target_fpr: float | None = None,
                         temperature_scaling: bool | None = None, overwrite: bool = False,
                         overrides: tuple[str, ...] | list[str] = (), progress: bool = True) -> Recalibrated:
    """Score `data_dir` (default: the checkpoint's data.val_dir) with the checkpoint's model, fit T, choose the
    threshold (`method`, `target_fpr`, `temperature_scaling` default to the checkpoint's config), and write the
    checkpoint with its new decision to `out`. Refuses an existing `out` unless `overwrite`, before any work."""
    ckpt = read_checkpoint(checkpoint)
    cfg = checkpoint_config(ckpt, checkpoint)
    rule = [f"training.threshold={method}"] if method else []
    rule += [f"training.target_fpr={target_fpr}"] if target_fpr is not None else []
    rule += [f"training.temperature_scaling={str(temperature_scaling).lower()}"] if temperature_scaling is not None \
        else []
    cfg = cfg.replace(*rule)
    target = Path(out) if out is not None else default_output(checkpoint)
    if target.exists() and not overwrite:
        raise StorageError("checkpoint already exists and calibration will not replace it", target,
                           "pass --out NEW.pth, or --overwrite to replace it (the weights stay the same)")
    data_dir = str(data_dir or cfg.data.val_dir)
    model, run_cfg, _ = load_model(checkpoint, "cpu", list(overrides))
    device = resolve_device(run_cfg.device)
    # the run's own validation view: its cache setting, and a leave-one-out fold's held-out family kept out
    ds = build_dataset(data_dir, run_cfg.sequence, run_cfg.image, run_cfg.augmentation, False,
                       cache=run_cfg.data.cache, held_out_families=run_cfg.data.held_out_families)
    loader = DataLoader(ds, batch_size=run_cfg.inference.batch_size, shuffle=False,
                        num_workers=resolve_num_workers(run_cfg.data.num_workers))
    model = prepare_model(model, device, channels_last=run_cfg.training.channels_last, compile=False)
    scored = score_loader(model, loader, device, Precision.choose(device, run_cfg.training.amp),
                          progress=progress)
    t = cfg.training
    decision, calibration, threshold = decide(scored.labels, scored.logits, t.threshold, t.target_fpr,
                                              t.temperature_scaling)
    payload = {**ckpt, "config": cfg.to_dict(), "threshold": threshold, "decision": decision.to_dict(),
               "calibration": {**calibration.to_dict(), "data_dir": data_dir}}
    atomic_save(payload, target)
    return Recalibrated(target, decision, calibration, checkpoint_decision(ckpt), data_dir)
