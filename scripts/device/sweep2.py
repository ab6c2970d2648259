"""usage: [ENERGY_FIT=1] sweep2.py NAME DATAROOT OUTDIR [overrides...]: fit config/cpu_real.yaml (+ overrides) on
DATAROOT, then score its best checkpoint (evalall.score) and print one `ROW {json}` line.

ENERGY_FIT=1 swaps in a variant of the `energy` stream for this process only (an experiment, not a model option):
each frame's energy changes minus a per-frame straight-line fit on the energy level, instead of minus the frame's
mean. A codec coding one frame at another quality changes the detail of textured areas more than of flat ones, a
change that depends on the level; an edit is a region."""
import json
import os
import sys
import time
from pathlib import Path

import torch

from lab.models import encoders

sys.path.insert(0, str(Path(__file__).parent))
from evalall import score  # noqa: E402
from sweep import fit_recipe  # noqa: E402


def detrend(d, level):
    """d, level (B, T, 1, H, W): d minus its least-squares line on level, per frame."""
    lc = level - level.mean(dim=(-2, -1), keepdim=True)
    dc = d - d.mean(dim=(-2, -1), keepdim=True)
    slope = (lc * dc).mean(dim=(-2, -1), keepdim=True) / ((lc * lc).mean(dim=(-2, -1), keepdim=True) + 1e-6)
    return dc - slope * lc


def energy_fit(self, clip):
    with torch.autocast(clip.device.type, enabled=False):
        e = self.log_energy(clip)
        first = detrend(e[:, 1:] - e[:, :-1], (e[:, 1:] + e[:, :-1]) / 2)
        second = detrend(e[:, 2:] - 2 * e[:, 1:-1] + e[:, :-2], (e[:, 2:] + e[:, 1:-1] + e[:, :-2]) / 3)
        first = torch.cat([torch.zeros_like(e[:, :1]), first], dim=1)
        second = torch.cat([torch.zeros_like(e[:, :2]), second], dim=1)
        return torch.cat([first, second], dim=2).to(clip.dtype)


if os.environ.get("ENERGY_FIT") == "1":
    encoders.DetailEnergyStream.forward = energy_fit

name, root, out, *ov = sys.argv[1:]
root = Path(root)
t0 = fit_recipe(name, root, out, ov)
device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
row = score(Path(out) / "ck" / name / "best.pth", root, device)
row.update(energy_fit=os.environ.get("ENERGY_FIT") == "1", overrides=ov, fit_s=round(time.perf_counter() - t0))
print("ROW " + json.dumps(row), flush=True)
