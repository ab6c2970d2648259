"""`lab export --onnx CHECKPOINT OUT.onnx`: the checkpoint's model as ONNX, checked against PyTorch.

The graph takes `clips` (B, T, 3, H, W): normalised frames at the checkpoint's `sequence.length` and
`image` size, B dynamic. It returns `logits` (B, 2) and `step_logits` (B, T, 2) (P(fake) = softmax[..., 1],
per clip and per step). The ConvLSTM's loop over T is unrolled, so T is fixed. Exported with
`torch.onnx.export(dynamo=True)`; the model's config (less its data paths), threshold and input normalisation
travel in the ONNX metadata, so the file describes itself. Before anything is written, onnxruntime scores random
clips at two batch sizes, and the export fails unless every logit matches PyTorch within `tolerance`. The graph
is fp32 (the checkpoint's threshold was chosen under the training precision, bf16 autocast on a GPU), unless
`int8` asks for the INT8 CPU variant (`lab.inference.quantize`): then the checked fp32 graph is quantised and
the INT8 graph's clip P(fake) on the calibration windows is compared with PyTorch's (reported, and refused
beyond `int8_tolerance`).
"""
from __future__ import annotations

import contextlib
import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from lab.config import to_dict
from lab.errors import LabError, StorageError
from lab.outputs import ensure_writable, write_bytes
from lab.runtime.checkpoint import load_model
from lab.scoring.decision import checkpoint_decision


class ExportError(LabError):
    """The exported graph does not reproduce the model."""


class _WithTimeline(nn.Module):
    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, clips: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.net(clips, with_timeline=True)


@dataclass(frozen=True)
class ExportResult:
    path: Path
    input_shape: tuple[int | str, ...]  # ("batch", T, 3, H, W)
    max_abs_diff: float  # onnxruntime against PyTorch, over both outputs and the checked batch sizes (fp32 graph)
    opset: int
    int8_max_abs_dprob: float | None = None  # INT8 graph against PyTorch: largest |d clip P(fake)|
    int8_windows: int = 0  # calibration windows used (and compared on)


def export_onnx(checkpoint: str | Path, out: str | Path, *, overwrite: bool = False,
                tolerance: float = 1e-4, check_batches: tuple[int, ...] = (1, 3), int8=None,
                int8_tolerance: float = 0.1) -> ExportResult:
    """Export `checkpoint`'s model, check it with onnxruntime, and only then write `out` (atomically): a failed
    export or check leaves whatever was at `out` untouched. `int8`: a `lab.inference.quantize.Int8Settings`."""
    out = Path(out)
    if out.suffix.lower() != ".onnx":
        raise StorageError("the output is not an .onnx file", out, "give a path ending in .onnx")
    if out.is_dir():
        raise StorageError("the output is a folder", out, "give a file path ending in .onnx")
    if out.exists() and not overwrite:
        raise StorageError("the output file exists", out, "choose another path, or pass --overwrite to replace it")
    model, cfg, ckpt = load_model(checkpoint)  # CPU, fp32, eval mode
    calibration = None
    if int8 is not None:  # read the windows before minutes of exporting: a bad folder fails first
        from lab.inference.quantize import calibration_clips

        calibration = calibration_clips(int8, cfg)
    net = _WithTimeline(model).eval()
    shape = (cfg.sequence.length, cfg.image.channels, cfg.image.height, cfg.image.width)
    example = torch.randn(2, *shape, generator=torch.Generator().manual_seed(0))
    batch = torch.export.Dim("batch", min=1, max=4096)
    narration = io.StringIO()
    try:
        with contextlib.redirect_stdout(narration):  # the exporter narrates each stage on stdout
            program = torch.onnx.export(net, (example,), dynamo=True, dynamic_shapes=({0: batch},),
                                        input_names=["clips"], output_names=["logits", "step_logits"])
    except Exception as exc:
        exc.add_note(narration.getvalue())  # shown with --debug: which torch.export attempts failed, and why
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise ExportError(f"the model could not be exported to ONNX: {first}", checkpoint,
                          "rerun with --debug for the exporter's log") from exc
    proto = program.model_proto
    config = {k: v for k, v in to_dict(cfg).items() if k != "data"}  # not the training machine's paths
    # `threshold` applies to softmax(logits) as exported; `decision` holds the temperature T and the threshold on
    # softmax(logits / T) with the rule that chose it (lab.scoring.decision).
    decision = checkpoint_decision(ckpt)
    meta = {"convlstm_lab.config": json.dumps(config), "convlstm_lab.threshold": str(ckpt.get("threshold", 0.5)),
            "convlstm_lab.temperature": str(decision.temperature),
            "convlstm_lab.decision": json.dumps(decision.to_dict()),
            "convlstm_lab.input": "clips (batch, T, 3, H, W): RGB in [0, 1], normalised with config "
                                  "augmentation.normalize (mean, std), centred crop of the input's aspect, resized"}
    for key, value in meta.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    data = proto.SerializeToString()
    try:
        diff = _check(data, model, shape, check_batches)
    except Exception as exc:
        raise ExportError(f"onnxruntime could not run the exported graph: {str(exc).strip()[:200]}", checkpoint,
                          "rerun with --debug and report it with the checkpoint's config") from exc
    if not diff <= tolerance:
        raise ExportError(f"onnxruntime differs from PyTorch by {diff:.2e}, more than {tolerance:.0e}", checkpoint,
                          "nothing was written; report it with the checkpoint's config")
    int8_diff = None
    if calibration is not None:
        from lab.inference.quantize import quantize_int8

        try:
            data = quantize_int8(data, calibration, int8.convs)
        except Exception as exc:
            raise ExportError(f"onnxruntime could not quantise the graph: {str(exc).strip()[:200]}", checkpoint,
                              "rerun with --debug; the fp32 export (without --int8) is unaffected") from exc
        int8_diff = _prob_diff(data, model, calibration)
        if not int8_diff <= int8_tolerance:
            raise ExportError(f"the INT8 graph's P(fake) differs from PyTorch by {int8_diff:.3f} on the calibration "
                              f"windows, more than {int8_tolerance}", checkpoint,
                              "nothing was written; use the fp32 export (no --int8)"
                              + (", or --int8-convs encoder" if int8.convs == "all" else ""))
    ensure_writable(out.parent, "ONNX output", "--onnx")
    write_bytes(out, data)
    opset = max((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), default=0)
    return ExportResult(out, ("batch", *shape), diff, opset, int8_diff, len(calibration or ()))


def ort_session(model: bytes | str | Path):
    """An onnxruntime CPU session with as many intra-op threads as torch uses (the CPUs this process may use)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")  # idle threads leave the cores
    source = model if isinstance(model, bytes) else str(model)
    return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])


def _check(model_bytes: bytes, model: nn.Module, shape: tuple[int, ...], batches: tuple[int, ...]) -> float:
    """Largest |onnxruntime - PyTorch| over both outputs, for random clips at each batch size."""
    session = ort_session(model_bytes)
    worst = 0.0
    for b in batches:
        clips = torch.randn(b, *shape, generator=torch.Generator().manual_seed(b))
        with torch.no_grad():
            ref = [t.numpy() for t in model(clips, with_timeline=True)]
        got = session.run(["logits", "step_logits"], {"clips": clips.numpy()})
        worst = max(worst, *(float(np.abs(g - r).max()) for g, r in zip(got, ref)))
    return worst


def _prob_diff(model_bytes: bytes, model: nn.Module, clips: list[np.ndarray]) -> float:
    """Largest |P(fake) onnxruntime - P(fake) PyTorch| of the clip output (the verdict's score) over `clips`."""
    session = ort_session(model_bytes)
    worst = 0.0
    for clip in clips:
        with torch.no_grad():
            ref = model(torch.from_numpy(clip)).softmax(-1)[:, 1]
        got = torch.from_numpy(session.run(["logits"], {"clips": clip})[0]).softmax(-1)[:, 1]
        worst = max(worst, float((got - ref).abs().max()))
    return worst
