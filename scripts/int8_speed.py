"""fp32 ONNX against its INT8 variants, one clip per call, on this CPU: what `lab bench`'s "int8 onnx" case
measures, plus dynamic quantisation and static INT8 without the stem convolutions.

    python scripts/int8_speed.py CHECKPOINT CALIBRATION_DIR [--windows 16] [--repeats 7]

The checkpoint's weights do not change the speed; README "Quantisation" quotes this script's output.
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import onnx
from onnxruntime.quantization import QuantType, quantize_dynamic

from benchmarks.timing import interleaved
from lab.inference.export import export_onnx, ort_session
from lab.inference.quantize import Int8Settings, calibration_clips, conv_nodes, quantize_int8
from lab.runtime.checkpoint import load_model


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("checkpoint")
    ap.add_argument("calibration_dir")
    ap.add_argument("--windows", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--fp32-onnx", help="an existing export of CHECKPOINT (skips the export)")
    args = ap.parse_args()
    _, cfg, _ = load_model(args.checkpoint)
    clips = calibration_clips(Int8Settings(Path(args.calibration_dir), args.windows), cfg)
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(args.fp32_onnx) if args.fp32_onnx else export_onnx(args.checkpoint, Path(tmp) / "m.onnx").path
        fp32 = src.read_bytes()
        graph = onnx.load_from_string(fp32)
        encoder = conv_nodes(graph, "encoder")
        stem = {n.name for n in graph.graph.node if any(p.key == "pkg.torch.onnx.name_scopes" and ".stem" in p.value
                                                        for p in n.metadata_props)}
        quantize_dynamic(str(src), str(Path(tmp) / "dyn.onnx"), weight_type=QuantType.QInt8,
                         op_types_to_quantize=["Conv"])
        variants = {"fp32": fp32, "static encoder": quantize_int8(fp32, clips, "encoder"),
                    "static encoder but stem": quantize_int8(fp32, clips, nodes=[n for n in encoder if n not in stem]),
                    "static all": quantize_int8(fp32, clips, "all"),
                    "dynamic convs": (Path(tmp) / "dyn.onnx").read_bytes()}
    sessions = {name: ort_session(data) for name, data in variants.items()}
    clip = clips[0]
    t = interleaved({name: (lambda s=s: s.run(None, {"clips": clip})) for name, s in sessions.items()}, args.repeats)
    for name in sessions:
        print(f"{name:>24}: {t[name] * 1e3:8.1f} ms per clip, {t['fp32'] / t[name]:.2f}x fp32")
    print(f"1 clip of {cfg.sequence.length}x3x{cfg.image.height}x{cfg.image.width}, median of {args.repeats} "
          f"interleaved rounds, {len(clips)} calibration windows")


if __name__ == "__main__":
    main()
