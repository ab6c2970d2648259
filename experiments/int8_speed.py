"""fp32 ONNX against its INT8 variants, one clip per call, on this CPU: what the benchmarks' "int8 onnx" case
measures, plus dynamic quantisation and static INT8 without the stem convolutions. The speed table of
docs/results/compression.md ("INT8 quantisation", "Speed"): its demo-model row is `make demo`'s checkpoint,

    python experiments/int8_speed.py checkpoints/demo/best.pth data/train --windows 16 --repeats 11

and its seed-model row the same with a checkpoint of `config/model_config.yaml` at image.height/width 112 and
`--repeats 7`. The checkpoint's weights do not change the speed.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import onnx
from onnxruntime.quantization import QuantType, quantize_dynamic

# `benchmarks` is the checkout's top-level package (its interleaved timer), not installed with `lab`: this script
# runs from the checkout it lives in.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.timing import interleaved  # noqa: E402
from lab.inference.export import export_onnx, ort_session  # noqa: E402
from lab.inference.quantize import Int8Settings, calibration_clips, conv_nodes, quantize_int8  # noqa: E402
from lab.runtime.checkpoint import load_model  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], allow_abbrev=False)
    ap.add_argument("checkpoint", help="a checkpoint written by training")
    ap.add_argument("calibration_dir", help="a split (real/, fake/) whose windows calibrate the INT8 graphs")
    ap.add_argument("--windows", type=int, default=16, help="calibration windows (default 16)")
    ap.add_argument("--repeats", type=int, default=7, help="interleaved rounds; the median is kept (default 7)")
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
