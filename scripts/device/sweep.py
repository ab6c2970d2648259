"""usage: sweep.py NAME DATAROOT OUTDIR [overrides...]: fit config/cpu_real.yaml (+ overrides) on DATAROOT.
Prints one line per epoch (fit's own). evalall.py scores the best checkpoint afterwards (so a timeout loses nothing)."""
import sys
import time
from pathlib import Path

from lab.config import load_config
from lab.training.loop import fit

name, root, out, *ov = sys.argv[1:]
root = Path(root)
paths = [f"data.{s}_dir={root / s}" for s in ("train", "val", "test")]
cfg = load_config("config/data_config.yaml", "config/cpu_real.yaml", overrides=paths + ov)
t0 = time.perf_counter()
res = fit(cfg, run_name=name, checkpoint_dir=f"{out}/ck", log_dir=f"{out}/logs", progress=False, overwrite=True)
print(f"FITDONE {name} {time.perf_counter() - t0:.0f}s best_epoch {res.best_epoch}", flush=True)
