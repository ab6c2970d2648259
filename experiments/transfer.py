"""The generalisation matrix of docs/results/real-deepfakes.md ("Generalisation"): trained checkpoints, each scored
on each test set, video ROC-AUC per fake family (each against all the set's reals) and over all fakes.

    python experiments/transfer.py \\
        --model temporal=RUNS/rf/ck/rf_seed42/best.pth --model faceswap=RUNS/fs/ck/fs_seed42/best.pth \\
        --test temporal=data_real/test --test faceswap=data_faceswap/test --out RUNS/transfer.json

Prints the matrix and writes it as JSON (model -> "set/family" -> AUC) to --out.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from lab.evaluation.transfer import generalisation_matrix
from lab.outputs import write_text
from lab.runtime.checkpoint import load_model
from lab.scoring.decision import checkpoint_decision


def _pair(text: str) -> tuple[str, Path]:
    name, sep, path = text.partition("=")
    if not sep or not name or not path:
        raise argparse.ArgumentTypeError(f"{text!r}: give NAME=PATH")
    return name, Path(path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], allow_abbrev=False)
    ap.add_argument("--model", type=_pair, action="append", required=True, metavar="NAME=CHECKPOINT",
                    help="a trained checkpoint (best.pth), one matrix row; repeat for more")
    ap.add_argument("--test", type=_pair, action="append", required=True, metavar="NAME=DIR",
                    help="a test split folder with real/ and fake/ and its manifest.csv; repeat for more")
    ap.add_argument("--out", type=Path, required=True, help="where the matrix goes, as JSON")
    ap.add_argument("--overwrite", action="store_true", help="replace --out when it exists")
    args = ap.parse_args()
    if args.out.exists() and not args.overwrite:
        ap.error(f"{args.out} exists: choose another --out, or add --overwrite")
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    models = {}
    for name, path in args.model:
        model, cfg, ckpt = load_model(path, device=device)
        models[name] = (model, cfg, checkpoint_decision(ckpt))
    matrix = generalisation_matrix(models, dict(args.test), device)
    print(matrix.round(3).to_string())
    cells = {row: {f"{s}/{f}": round(float(v), 4) for (s, f), v in matrix.loc[row].items() if v == v}
             for row in matrix.index}
    write_text(args.out, json.dumps(cells, indent=1))


if __name__ == "__main__":
    main()
