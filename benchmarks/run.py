"""The benchmark driver (`python -m benchmarks`, `make bench`, `lab bench`): the fast paths against their
baselines, measured side by side in one run and reported as ratios.

Each comparison runs its two variants interleaved (one warm-up call each, then rounds A B, B A, ...) and keeps
the median, so drift on a shared machine falls on both alike. Absolute numbers describe this machine; read
the ratios. Speed targets live here, never in timed unit tests. `quick=True` is a smoke run, not a measurement.
"""
from __future__ import annotations

import json
import sys
import tempfile
import time
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import pandas as pd
import torch

from benchmarks.basic import (CASES as BASIC_CASES, MEMORY_FPS, bench_convlstm_input, bench_gpu_forward, bench_loader,
                              bench_memory, bench_streaming, bench_train_step)
from benchmarks.cache import CASE as CACHE_CASE, bench_frame_cache
from benchmarks.checkpoint import bench_checkpoint_write
from benchmarks.compress import (CASES as COMPRESS_CASES, FULL as COMPRESS_FULL, QUICK as COMPRESS_QUICK, bench_int8,
                                 bench_train_flops)
from benchmarks.convlstm import CASE as CONVLSTM_CASE, bench_convlstm_vs_naive
from benchmarks.faces import CASE as FACE_CASE, bench_face_detectors
from benchmarks.inference import CASES as INFERENCE_CASES, bench_onnx, bench_shared_encoder
from benchmarks.timing import COLUMNS, FULL, QUICK, demo_config, interleaved, machine_info, row, synthetic_video
from lab.outputs import write_text

CASES = (*BASIC_CASES, "checkpoint write", "face detector", "shared encoder", "onnx runtime", "int8 onnx",
         "train flops", "frame cache", CONVLSTM_CASE)
assert CASES[8:10] == INFERENCE_CASES and CASES[7] == FACE_CASE and CASES[10:12] == COMPRESS_CASES
assert CASES[12] == CACHE_CASE


def headline_ratios(table: pd.DataFrame) -> dict[str, float]:
    """bench.json's flat `ratios`: one number per row key, the worst of the rows that share it (see COLUMNS)."""
    out: dict[str, float] = {}
    for key, rows in table.dropna(subset=["key"]).groupby("key", sort=False):
        out[str(key)] = float(rows["ratio"].min() if (rows["ratio_is"] == "speed-up").all() else rows["ratio"].max())
    return out


# ------------------------------------------------------------------------------------------------ driver


def run_bench(quick: bool = False, out_dir: str | Path = "reports/bench") -> pd.DataFrame:
    """Run every case (the CUDA variants too when a GPU is present), write `bench.md` and `bench.json` to
    `out_dir`, and return the table (one row per comparison, columns `COLUMNS`)."""
    sizes = QUICK if quick else FULL
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    started = time.perf_counter()
    rows: list[dict] = []

    def run(label: str, fn: Callable[[], list[dict]]) -> None:
        t0 = time.perf_counter()
        rows.extend(fn())
        print(f"[bench] {label}: {time.perf_counter() - t0:.1f}s", file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory(prefix="lab-bench-") as tmp:
        work = Path(tmp)
        short = synthetic_video(work / "one" / "real" / "video.mp4", sizes.video_frames)
        ten, sixty = (synthetic_video(work / f"memory{n}" / "real" / "video.mp4", n, fps=MEMORY_FPS)
                      for n in sizes.memory_frames)
        for device in devices:
            run(f"{CASES[0]} ({device})", lambda: bench_convlstm_input(device, sizes))
            run(f"{CASES[1]} ({device})", lambda: bench_streaming(device, sizes, short))
            run(f"{CONVLSTM_CASE} ({device})", lambda: bench_convlstm_vs_naive(
                device, quick, sizes.lstm_batch, sizes.lstm_steps, min(sizes.repeats, 5), interleaved, row))
            # (5 rounds: at 56x56 one forward+backward is seconds on 2 cores)
        run(CASES[2], lambda: bench_memory(sizes, ten, sixty))
        run(CASES[3], lambda: bench_loader(sizes, work / "synth"))
        for device in devices:
            run(f"{CASES[4]} ({device})", lambda: bench_train_step(device, sizes))
        if torch.cuda.is_available():
            run(CASES[5], lambda: bench_gpu_forward(devices[-1], sizes))
        for device in devices:
            side = sizes.gpu_side if device.type == "cuda" else sizes.ckpt_side
            run(f"{CASES[6]} ({device})", lambda: bench_checkpoint_write(
                device, side, sizes.gpu_steps, sizes.ckpt_batch, sizes.ckpt_repeats, interleaved, row))
        run(CASES[7], lambda: bench_face_detectors(sizes.face_frames, max(3, sizes.repeats // 3), interleaved, row))
        share = synthetic_video(work / "share" / "real" / "video.mp4", sizes.share_frames)
        for device in devices:
            run(f"{CASES[8]} ({device})", lambda: bench_shared_encoder(
                device, sizes.gpu_side if device.type == "cuda" else sizes.share_side, sizes.share_steps,
                sizes.share_frames, sizes.share_repeats, share, interleaved, row))
        run(CASES[9], lambda: bench_onnx(sizes.ckpt_side, sizes.gpu_steps, sizes.repeats, work, demo_config(),
                                         interleaved, row, sizes.onnx_models))
        small = COMPRESS_QUICK if quick else COMPRESS_FULL  # case 10 reuses case 9's graphs, case 3's data
        run(CASES[10], lambda: bench_int8(work, work / "synth" / "train", small.int8_windows, sizes.repeats,
                                          interleaved, row, small.int8_scopes, sizes.onnx_models))
        run(CASES[11], lambda: bench_train_flops(small.flops_side, small.flops_steps, small.flops_batch,
                                                 small.flops_repeats, interleaved, row, small.matmul_side))
        run(CACHE_CASE, lambda: bench_frame_cache(devices, quick, work, interleaved, row))
    table = pd.DataFrame(rows, columns=list(COLUMNS))
    meta = {"machine": machine_info(), "quick": quick, "sizes": asdict(sizes), "seconds": time.perf_counter() - started,
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "method": f"interleaved rounds (A B, B A, ...) after one warm-up call each, median of {sizes.repeats}; "
                      "torch threads left at the default"}
    write_report(table, meta, out_dir)
    return table


def format_table(table: pd.DataFrame) -> str:
    """The table as aligned text, numbers to 4 significant digits and ratios with an x."""
    shown = table.assign(a_value=table["a_value"].map("{:.4g}".format), b_value=table["b_value"].map("{:.4g}".format),
                         ratio=table["ratio"].map("{:.2f}x".format))
    return shown.drop(columns="setting").to_string(index=False) + "\n\nsettings:\n" + "\n".join(
        f"  {i}. {row.case} ({row.device}): {row.setting}" for i, row in enumerate(table.itertuples(), start=1))


def write_report(table: pd.DataFrame, meta: dict, out_dir: str | Path) -> Path:
    """`bench.json` (machine, sizes and rows) and `bench.md` (the same, readable) in `out_dir`."""
    out = Path(out_dir)
    ratios = headline_ratios(table)
    write_text(out / "bench.json", json.dumps({**meta, "ratios": ratios, "rows": table.to_dict("records")},
                                              indent=2) + "\n")
    m = meta["machine"]
    lines = ["# `lab bench`", "",
             f"{meta['date']}, {'quick (smoke sizes)' if meta['quick'] else 'full'} run, {meta['seconds']:.0f}s. "
             f"torch {m['torch']}, {m['cpu_count']} CPUs ({m['torch_threads']} torch threads), "
             f"devices: {', '.join(m['devices'])}. Python {m['python']}, OpenCV {m['opencv']}, {m['platform']}.", "",
             f"Method: {meta['method']}. Ratio `speed-up` = how many times faster b is than a; `b / a` = the plain "
             "quotient (for the training step: the cost of the ConvLSTM over the frame-only model; for memory: "
             "the growth from the short to the long video).", "",
             "| case | device | a | b | unit | a value | b value | ratio | ratio is | setting |",
             "|---|---|---|---|---|---:|---:|---:|---|---|"]
    lines += [f"| {r.case} | {r.device} | {r.a} | {r.b} | {r.unit} | {r.a_value:.4g} | {r.b_value:.4g} | "
              f"{r.ratio:.2f}x | {r.ratio_is} | {r.setting} |" for r in table.itertuples()]
    if ratios:
        lines += ["", "Headline ratios (bench.json `ratios`; the worst row where several share a key):", "",
                  "| key | ratio |", "|---|---:|"] + [f"| `{k}` | {v:.2f}x |" for k, v in ratios.items()]
    write_text(out / "bench.md", "\n".join(lines) + "\n")
    return out / "bench.md"
