"""INT8 ONNX against fp32 ONNX on a trained checkpoint: P(fake) differences and test ROC-AUC of each variant.

    python experiments/measure_int8.py checkpoints/demo/best.pth data/train data/test --windows 32
    python experiments/measure_int8.py checkpoints/demo_real/best.pth data/real_footage_demo/train \
        data/real_footage_demo/test --windows 32

Exports the checkpoint once (fp32, checked against PyTorch), then quantises it several ways (static QDQ on
the encoder's convolutions, the encoder's without its stem, every convolution; dynamic) and scores every window of
TEST_DIR with each graph in onnxruntime. Prints one JSON line per variant: the AUC table of
docs/results/compression.md ("INT8 quantisation", "AUC") on `make demo`'s two checkpoints and their test splits
(the commands above).
"""
from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
import onnx
import torch
from sklearn.metrics import roc_auc_score

from lab.data.dataset import build_dataset
from lab.inference.export import export_onnx, ort_session
from lab.inference.quantize import Int8Settings, calibration_clips, conv_nodes, quantize_int8
from lab.runtime.checkpoint import load_model


def scores(session, dataset) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Clip P(fake), per-step P(fake) and labels of every window, one window per call."""
    probs, steps, labels = [], [], []
    for i in range(len(dataset)):
        clip, label = dataset[i]
        logits, step_logits = session.run(["logits", "step_logits"], {"clips": clip.numpy()[None]})
        probs.append(torch.from_numpy(logits).softmax(-1)[0, 1].item())
        steps.append(torch.from_numpy(step_logits).softmax(-1)[0, :, 1].numpy())
        labels.append(int(label))
    return np.array(probs), np.stack(steps), np.array(labels)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], allow_abbrev=False)
    ap.add_argument("checkpoint", help="a trained checkpoint")
    ap.add_argument("train_dir", help="the split whose windows calibrate the INT8 graphs")
    ap.add_argument("test_dir", help="the split every graph scores")
    ap.add_argument("--windows", type=int, default=32, help="calibration windows (default 32, as lab export)")
    args = ap.parse_args()
    model, cfg, _ = load_model(args.checkpoint)
    clips = calibration_clips(Int8Settings(Path(args.train_dir), args.windows), cfg)
    test = build_dataset(args.test_dir, cfg.sequence, cfg.image, cfg.augmentation, train=False)
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = export_onnx(args.checkpoint, Path(tmp) / "fp32.onnx").path.read_bytes()
        graph = onnx.load_from_string(fp32)
        encoder = conv_nodes(graph, "encoder")
        stem = [n.name for n in graph.graph.node if n.name in encoder and any(
            p.key == "pkg.torch.onnx.name_scopes" and ".stem" in p.value for p in n.metadata_props)]
        variants = {"fp32": fp32,
                    "int8 encoder convs": quantize_int8(fp32, clips, "encoder"),
                    "int8 encoder convs but the stem": quantize_int8(fp32, clips, nodes=[n for n in encoder
                                                                                         if n not in stem]),
                    "int8 all convs": quantize_int8(fp32, clips, "all")}
        from onnxruntime.quantization import QuantType, quantize_dynamic
        (Path(tmp) / "dyn.onnx").unlink(missing_ok=True)
        quantize_dynamic(str(Path(tmp) / "fp32.onnx"), str(Path(tmp) / "dyn.onnx"), weight_type=QuantType.QInt8,
                         op_types_to_quantize=["Conv"])
        variants["dynamic int8 convs"] = (Path(tmp) / "dyn.onnx").read_bytes()
        ref = None
        for name, data in variants.items():
            try:
                probs, steps, labels = scores(ort_session(data), test)
            except Exception as exc:  # dynamic ConvInteger may not run; say so
                print(json.dumps({"variant": name, "error": str(exc)[:200]}), flush=True)
                continue
            ref = ref or (probs, steps)
            print(json.dumps({"variant": name, "test_windows": len(labels), "clip_auc": roc_auc_score(labels, probs),
                              "max_abs_dprob_clip": float(np.abs(probs - ref[0]).max()),
                              "mean_abs_dprob_clip": float(np.abs(probs - ref[0]).mean()),
                              "max_abs_dprob_steps": float(np.abs(steps - ref[1]).max()),
                              "stem_nodes": stem if name == "fp32" else None}), flush=True)


if __name__ == "__main__":
    main()
