"""usage: evalall.py DATAROOT OUTDIR: score every OUTDIR/ck/*/best.pth on val and test; AUC per family/severity."""
import json
import sys
import traceback
from pathlib import Path

import pandas as pd
import torch
from sklearn.metrics import roc_auc_score

from lab.evaluation.evaluate import evaluate_split
from lab.runtime.checkpoint import load_model

root, out = Path(sys.argv[1]), Path(sys.argv[2])
device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
rows = []
for best in sorted((out / "ck").glob("*/best.pth")):
    try:
        model, cfg, ck = load_model(best, device=device)
        row = {"name": best.parent.name, "epoch": ck.get("epoch")}
        for split in ("val", "test"):
            ev = evaluate_split(model, cfg, root / split, device, threshold=ck["threshold"], progress=False)
            row[f"{split}_clip"] = round(ev.metrics["clip"]["roc_auc"], 3)
            row[f"{split}_video"] = round(ev.metrics["video"][ev.aggregation]["roc_auc"], 3)
            if split == "test":
                man = pd.read_csv(root / split / "manifest.csv")
                v = ev.videos.copy()
                v["key"] = v["item"].str.replace(r"\.mp4$", "", regex=True)
                v = v.merge(man[["item", "family", "severity"]].rename(columns={"item": "key", "family": "fam"}), on="key", suffixes=("_ev", ""))
                reals = v[v.label == 0]
                for fam, g in v[v.label == 1].groupby("fam"):
                    d = pd.concat([reals, g])
                    row[f"fam_{fam}"] = round(roc_auc_score(d.label, d.score), 3)
                for sev, g in v.groupby("severity"):
                    if g.label.nunique() == 2:
                        row[f"sev_{sev}"] = round(roc_auc_score(g.label, g.score), 3)
        rows.append(row)
        print(json.dumps(row), flush=True)
    except Exception:
        traceback.print_exc()
Path(out / "sweep.json").write_text(json.dumps(rows, indent=1))
