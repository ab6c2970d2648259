"""usage: evalall.py DATAROOT OUTDIR [NAME...]: score every (or each named) OUTDIR/ck/*/best.pth on val and test;
test AUC per family, severity and format."""
import json
import sys
import traceback
from pathlib import Path

import pandas as pd
import torch
from sklearn.metrics import roc_auc_score

from lab.evaluation.evaluate import evaluate_split
from lab.runtime.checkpoint import load_model



def score(best: Path, root: Path, device: torch.device) -> dict:
    """val/test AUCs of one best.pth, and test AUC per family, severity and format (each against all reals)."""
    model, cfg, ck = load_model(best, device=device)
    row = {"name": best.parent.name, "epoch": ck.get("epoch")}
    for split in ("val", "test"):
        ev = evaluate_split(model, cfg, root / split, device, threshold=ck["threshold"], progress=False)
        row[f"{split}_clip"] = round(ev.metrics["clip"]["roc_auc"], 3)
        row[f"{split}_video"] = round(ev.metrics["video"][ev.aggregation]["roc_auc"], 3)
        if split == "test":
            man = pd.read_csv(root / split / "manifest.csv")
            v = ev.videos.copy()
            man["key"] = man["item"].str.replace(r"\.mp4$", "", regex=True)  # both sides: one form
            v["key"] = v["item"].str.replace(r"\.mp4$", "", regex=True)
            v = v.merge(man[["key", "family", "severity", "format"]].rename(columns={"family": "fam"}),
                        on="key", suffixes=("_ev", ""))
            assert len(v) == len(ev.videos), "every scored video has a manifest row"
            reals = v[v.label == 0]
            for fam, g in v[v.label == 1].groupby("fam"):
                d = pd.concat([reals, g])
                row[f"fam_{fam}"] = round(roc_auc_score(d.label, d.score), 3)
            for col, prefix in (("severity", "sev"), ("format", "fmt")):
                for key, g in v.groupby(col):
                    if g.label.nunique() == 2:
                        row[f"{prefix}_{key}"] = round(roc_auc_score(g.label, g.score), 3)
    return row


if __name__ == "__main__":
    root, out = Path(sys.argv[1]), Path(sys.argv[2])
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    rows = []
    only = set(sys.argv[3:])  # names to score (default: every run)
    for best in sorted((out / "ck").glob("*/best.pth")):
        if only and best.parent.name not in only:
            continue
        try:
            rows.append(score(best, root, device))
            print(json.dumps(rows[-1]), flush=True)
        except Exception:
            traceback.print_exc()
    Path(out / "sweep.json").write_text(json.dumps(rows, indent=1))
