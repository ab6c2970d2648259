"""`lab train` and the seed's `python train.py --config config/model_config.yaml --epochs 50`."""
from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Sequence

from lab.cli.common import (DEFAULT_MODEL_CONFIG, ArgumentParser, add_common_flags, add_config_flags, config_overrides,
                            guard, load_cli_config)
from lab.errors import ConfigError


def train_arguments(p: argparse.ArgumentParser) -> None:
    """The flags of `lab train` and the seed's train.py."""
    add_config_flags(p)
    p.add_argument("--epochs", type=int, help="override training.epochs")
    p.add_argument("--run-name", default=None, help="name under checkpoints/ and logs/ (default: config stem)")
    p.add_argument("--resume", metavar="PATH", help="continue from a last.pth/best.pth checkpoint (mid-epoch ones too)")
    p.add_argument("--overwrite", action="store_true", help="replace the results of an earlier run of this name")
    p.add_argument("--checkpoint-dir", default="checkpoints")
    p.add_argument("--log-dir", default="logs")
    p.add_argument("--no-progress", action="store_true", help="no tqdm bars")
    add_common_flags(p)


def train_parser(prog: str = "train.py") -> argparse.ArgumentParser:
    """The seed's `python train.py` parser."""
    p = ArgumentParser(prog=prog, description="Train a ConvLSTM deepfake detector.")
    train_arguments(p)
    return p


def cmd_train(args: argparse.Namespace) -> int:
    if args.resume:
        if args.config or args.data_config:
            raise ConfigError("--resume takes the config from the checkpoint", "--config/--data-config",
                              "drop them and change keys with --set")
        from lab.runtime.checkpoint import checkpoint_config, read_checkpoint

        ckpt = read_checkpoint(args.resume)
        overrides = config_overrides(args) + ([f"training.epochs={args.epochs}"] if args.epochs else [])
        cfg = checkpoint_config(ckpt, args.resume).replace(*overrides)
        run_name = args.run_name or ckpt.get("run_name") or Path(args.resume).parent.name
    else:
        cfg = load_cli_config(args)
        run_name = args.run_name or Path((args.config or [DEFAULT_MODEL_CONFIG])[-1]).stem
    from lab.training.loop import fit  # torch loads here: a mistake in the config is reported before that

    result = fit(cfg, run_name=run_name, checkpoint_dir=args.checkpoint_dir, log_dir=args.log_dir,
                 resume=args.resume, publish_best=Path(args.checkpoint_dir) / "best.pth",
                 progress=not args.no_progress, overwrite=args.overwrite)
    if int(os.environ.get("RANK", "0")) != 0:  # under torchrun, rank 0 reports
        return 0
    print(f"best epoch {result.best_epoch}: val AUC {result.best_metrics.get('val_roc_auc', float('nan')):.4f}, "
          f"{result.decision.describe()}")
    print(f"checkpoints: {result.best_path} (also {Path(args.checkpoint_dir) / 'best.pth'}), {result.last_path}")
    print(f"TensorBoard: tensorboard --logdir {result.log_dir}")
    return 0


def train_entry(argv: Sequence[str] | None = None) -> int:
    return guard(cmd_train, train_parser().parse_args(argv))
