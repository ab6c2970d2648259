"""Seed entry point: `python train.py --config config/model_config.yaml --epochs 50` (same as `lab train`)."""
import sys

from lab.cli.train import train_entry

if __name__ == "__main__":
    sys.exit(train_entry())
