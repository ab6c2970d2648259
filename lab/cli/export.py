"""`lab export --onnx CHECKPOINT OUT`: the checkpoint's model as ONNX (fixed T, dynamic batch), checked with
onnxruntime; `--int8` writes the statically quantised CPU variant."""
from __future__ import annotations

import argparse


def export_arguments(p: argparse.ArgumentParser) -> None:
    """The flags of `lab export`."""
    p.add_argument("--onnx", nargs=2, metavar=("CHECKPOINT", "OUT"), required=True,
                   help="the checkpoint to export and the .onnx file to write")
    p.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    p.add_argument("--tolerance", type=float, default=1e-4,
                   help="largest |onnxruntime - PyTorch| logit difference accepted (default 1e-4)")
    p.add_argument("--int8", action="store_true", help="write the INT8 CPU variant (static quantisation, "
                   "docs/inference.md); needs --calibration-data")
    p.add_argument("--calibration-data", metavar="DIR",
                   help="split folder (real/, fake/) whose windows calibrate --int8")
    p.add_argument("--calibration-windows", type=int, default=32, metavar="N",
                   help="calibration windows, spread over DIR (default 32)")
    p.add_argument("--int8-convs", default="encoder", choices=("encoder", "all"),
                   help="convolutions made INT8: the encoder's (default) or the ConvLSTM's too")
    p.add_argument("--int8-tolerance", type=float, default=0.1, metavar="P",
                   help="largest |INT8 - PyTorch| clip P(fake) on the calibration windows accepted (default 0.1)")
    p.add_argument("--debug", action="store_true", help="show tracebacks for input errors")


def cmd_export(args: argparse.Namespace) -> int:
    from lab.inference.export import export_onnx
    from lab.inference.quantize import int8_settings

    checkpoint, out = args.onnx
    int8 = int8_settings(args.int8, args.calibration_data, args.calibration_windows, args.int8_convs)
    result = export_onnx(checkpoint, out, overwrite=args.overwrite, tolerance=args.tolerance, int8=int8,
                         int8_tolerance=args.int8_tolerance)
    print(f"wrote {result.path}: input clips {list(result.input_shape)}, outputs logits and step_logits, "
          f"opset {result.opset}; onnxruntime matches PyTorch within {result.max_abs_diff:.1e}"
          + ("" if int8 is None else f" in fp32; INT8 ({int8.convs} convolutions, {result.int8_windows} "
             f"calibration windows) P(fake) within {result.int8_max_abs_dprob:.3f}"))
    return 0
