"""usage: sweep.py NAME DATAROOT OUTDIR [overrides...]: fit config/cpu_real.yaml (+ overrides) on DATAROOT.
Prints one line per epoch (fit's own). evalall.py scores the best checkpoint afterwards (so a timeout loses nothing)."""
import sys
import time
from pathlib import Path

from lab.config import load_config
from lab.training.loop import fit


def fit_recipe(name: str, root: Path, out: str, overrides: list[str]) -> float:
    """Fit config/cpu_real.yaml + overrides on root's splits into out/{ck,logs}/NAME; print FITDONE, return the
    start time (time.perf_counter)."""
    paths = [f"data.{s}_dir={root / s}" for s in ("train", "val", "test")]
    cfg = load_config("config/data_config.yaml", "config/cpu_real.yaml", overrides=paths + overrides)
    t0 = time.perf_counter()
    res = fit(cfg, run_name=name, checkpoint_dir=f"{out}/ck", log_dir=f"{out}/logs", progress=False, overwrite=True)
    print(f"FITDONE {name} {time.perf_counter() - t0:.0f}s best_epoch {res.best_epoch}", flush=True)
    return t0


if __name__ == "__main__":
    name, root, out, *ov = sys.argv[1:]
    fit_recipe(name, Path(root), out, ov)
