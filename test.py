"""Seed entry point: score a video or frame folder, or evaluate a split (same as `lab predict` / `lab eval`).

    python test.py --video path/to/video.mp4 --checkpoint checkpoints/best.pth
    python test.py --frames path/to/frames/ --checkpoint checkpoints/best.pth
    python test.py --eval --data_dir data/test/ --checkpoint checkpoints/best.pth
"""
import sys

from lab.cli.evaluate import test_entry

if __name__ == "__main__":
    sys.exit(test_entry())
