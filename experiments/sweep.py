"""Recipe sweeps on a real-footage set: fit `config/cpu_real.yaml` plus overrides, then score the best checkpoint
(`evalall.score`: val/test AUCs, test AUC per family, severity and format) and print one `ROW {json}` line. The
per-seed rows of docs/results/gpu.md ("Real-footage recipe, four seeds", "Real-footage recipe variants", "H200
previous-recipe sweep") and docs/results/real-footage.md sections 4, 5 and 8 come from here. On a CUDA machine,
from the repository root (config/ is read from there):

    lab synth --real-footage --footage embedded --out data_real
    python experiments/sweep.py base data_real OUT device=cuda training.amp=false data.num_workers=2 \\
        --seeds 42 1 2 3 --jobs 4 --budget 300
    python experiments/sweep.py T16 data_real OUT device=cuda training.amp=false data.num_workers=2 \\
        sequence.length=16 sequence.stride=8 training.epochs=16 training.early_stopping.patience=16 \\
        --seeds 42 1 2 3 --jobs 4 --budget 300

One run (no --seeds) runs here; with --seeds, each seed is its own run NAME_seedS, in its own process, --jobs at a
time, its output in OUT/logs/<run>.log. A run stopped by --budget is scored from its best checkpoint so far. Every
row goes to OUT/rows.jsonl. Checkpoints and TensorBoard logs: OUT/ck/<run>/, OUT/tb/<run>/.

`--energy-fit` swaps in a variant of the `energy` stream for the run's process only (an experiment, not a model
option): each frame's energy changes minus a per-frame straight-line fit on the energy level, instead of minus the
frame's mean. A codec coding one frame at another quality changes the detail of textured areas more than of flat
ones, a change that depends on the level; an edit is a region. docs/results/real-footage.md section 8 has its rows.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

from evalall import score  # beside this script
from lab.config import load_config
from lab.models import encoders
from lab.outputs import write_text
from lab.training.loop import fit


def detrend(d, level):
    """d, level (B, T, 1, H, W): d minus its least-squares line on level, per frame."""
    lc = level - level.mean(dim=(-2, -1), keepdim=True)
    dc = d - d.mean(dim=(-2, -1), keepdim=True)
    slope = (lc * dc).mean(dim=(-2, -1), keepdim=True) / ((lc * lc).mean(dim=(-2, -1), keepdim=True) + 1e-6)
    return dc - slope * lc


def energy_fit(self, clip):
    """`DetailEnergyStream.forward` with the per-frame straight-line fit (see --energy-fit)."""
    with torch.autocast(clip.device.type, enabled=False):
        e = self.log_energy(clip)
        first = detrend(e[:, 1:] - e[:, :-1], (e[:, 1:] + e[:, :-1]) / 2)
        second = detrend(e[:, 2:] - 2 * e[:, 1:-1] + e[:, :-2], (e[:, 2:] + e[:, 1:-1] + e[:, :-2]) / 3)
        first = torch.cat([torch.zeros_like(e[:, :1]), first], dim=1)
        second = torch.cat([torch.zeros_like(e[:, :2]), second], dim=1)
        return torch.cat([first, second], dim=2).to(clip.dtype)


def run_one(name: str, root: Path, out: Path, overrides: list[str], energy: bool, scored: bool,
            config: str = "config/cpu_real.yaml") -> dict | None:
    """Fit one recipe into OUT/ck/NAME (printing FITDONE), then score it; returns its row (None: not scored)."""
    if energy:
        encoders.DetailEnergyStream.forward = energy_fit
    paths = [f"data.{s}_dir={root / s}" for s in ("train", "val", "test")]
    cfg = load_config("config/data_config.yaml", config, overrides=paths + overrides)
    t0 = time.perf_counter()
    result = fit(cfg, run_name=name, checkpoint_dir=out / "ck", log_dir=out / "tb", progress=False, overwrite=True)
    print(f"FITDONE {name} {time.perf_counter() - t0:.0f}s best_epoch {result.best_epoch}", flush=True)
    if not scored:
        return None
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    row = score(out / "ck" / name / "best.pth", root, device)
    row.update(energy_fit=energy, config=config, overrides=overrides, fit_s=round(time.perf_counter() - t0))
    print("ROW " + json.dumps(row), flush=True)
    return row


def run_many(runs: list[tuple[str, list[str]]], args: argparse.Namespace) -> list[dict]:
    """Each run in its own process, --jobs at a time, stopped after --budget seconds; the rows of all of them (a run
    without its ROW line is scored from its best checkpoint, if it wrote one)."""
    logs = args.out / "logs"
    logs.mkdir(parents=True, exist_ok=True)

    def launch(run: tuple[str, list[str]]) -> str:
        name, overrides = run
        cmd = [sys.executable, __file__, name, str(args.data), str(args.out), *overrides]
        cmd += ["--config", args.config, "--child"] + ["--energy-fit"] * args.energy_fit + ["--no-score"] * args.no_score
        with open(logs / f"{name}.log", "w") as log:
            try:
                subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, timeout=args.budget)
            except subprocess.TimeoutExpired:
                print(f"{name}: stopped after {args.budget} s", file=log, flush=True)
        return name

    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        for name in pool.map(launch, runs):
            print(f"{name} finished ({logs / f'{name}.log'})", flush=True)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    rows = []
    for name, overrides in runs:
        lines = [line[4:] for line in (logs / f"{name}.log").read_text().splitlines() if line.startswith("ROW ")]
        best = args.out / "ck" / name / "best.pth"
        if lines:
            rows.append(json.loads(lines[-1]))
        elif not args.no_score and best.is_file():
            rows.append({**score(best, args.data, device), "overrides": overrides, "cut_short": True})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], allow_abbrev=False)
    ap.add_argument("name", help="run name (with --seeds: the prefix of NAME_seedS)")
    ap.add_argument("data", type=Path, help="a `lab synth --real-footage` folder (train/ val/ test/)")
    ap.add_argument("out", type=Path, help="sweep folder: OUT/ck/<run>, OUT/tb/<run>, OUT/logs, OUT/rows.jsonl")
    ap.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="config overrides on the --config overlay")
    ap.add_argument("--config", default="config/cpu_real.yaml",
                    help="the recipe overlay, on top of config/data_config.yaml (default config/cpu_real.yaml)")
    ap.add_argument("--seeds", type=int, nargs="+", metavar="S", help="one run per seed (seed=S), named NAME_seedS")
    ap.add_argument("--jobs", type=int, default=1, help="runs at the same time, with --seeds (default 1)")
    ap.add_argument("--budget", type=float, metavar="SECONDS", help="stop each run after this long, with --seeds; "
                    "it is scored from its best checkpoint so far")
    ap.add_argument("--energy-fit", action="store_true", help="the experimental energy stream (see above)")
    ap.add_argument("--no-score", action="store_true", help="fit only (score later with experiments/evalall.py)")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)  # one of run_many's runs: it collects
    args = ap.parse_intermixed_args()
    if args.seeds is None:
        rows = [row for row in [run_one(args.name, args.data, args.out, args.overrides, args.energy_fit,
                                        not args.no_score, args.config)] if row is not None]
    else:
        runs = [(f"{args.name}_seed{s}", [*args.overrides, f"seed={s}"]) for s in args.seeds]
        rows = run_many(runs, args)
    if rows and not args.child:
        previous = (args.out / "rows.jsonl").read_text() if (args.out / "rows.jsonl").is_file() else ""
        write_text(args.out / "rows.jsonl", previous + "".join(json.dumps(r) + "\n" for r in rows))


if __name__ == "__main__":
    main()
