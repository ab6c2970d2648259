"""Score finished recipe runs: every (or each named) OUT/ck/<run>/best.pth on DATA's val and test splits, with the
test AUC per fake family, severity and format (each against all reals). The per-run rows of docs/results/gpu.md
("Real-footage recipe, four seeds", "Real-footage recipe variants") and docs/results/real-footage.md sections 4-5
come from here, through `experiments/sweep.py` (which calls `score` after each fit) or directly:

    python experiments/evalall.py data_real OUT                 # every run in OUT/ck
    python experiments/evalall.py data_real OUT T16_seed42      # only these runs

Prints one JSON row per run and writes them all to OUT/sweep.json.
"""
from __future__ import annotations

import argparse
import json
import traceback
from pathlib import Path

import pandas as pd
import torch
from sklearn.metrics import roc_auc_score

from lab.evaluation.evaluate import evaluate_split
from lab.outputs import write_text
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], allow_abbrev=False)
    ap.add_argument("data", type=Path, help="the dataset root the runs trained on (train/ val/ test/ with manifests)")
    ap.add_argument("out", type=Path, help="the sweep folder: runs in OUT/ck/<run>/best.pth")
    ap.add_argument("names", nargs="*", metavar="RUN", help="score only these runs (default: every run)")
    args = ap.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    rows = []
    for best in sorted((args.out / "ck").glob("*/best.pth")):
        if args.names and best.parent.name not in args.names:
            continue
        try:
            rows.append(score(best, args.data, device))
            print(json.dumps(rows[-1]), flush=True)
        except Exception:  # one broken run does not stop the others; its traceback says why
            traceback.print_exc()
    write_text(args.out / "sweep.json", json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
