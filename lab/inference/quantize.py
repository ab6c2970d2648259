"""INT8 ONNX for the CPU: onnxruntime static quantisation of the exported graph's convolutions.

QDQ format, int8 weights per output channel, uint8 activations whose ranges come from calibration on real
windows of a data folder (the eval transform, windows spread over the whole split so both classes are seen).
`convs="encoder"` (the default) quantises the frame encoder's convolutions and leaves the ConvLSTM's gates in
fp32; `"all"` quantises the ConvLSTM's convolutions too. Measured speed and AUC: docs/results/compression.md.
"""
from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from lab.config import Config
from lab.errors import ConfigError, DataError

CONV_SCOPES = ("encoder", "all")


@dataclass(frozen=True)
class Int8Settings:
    """What `lab export --onnx ... --int8` quantises and what it calibrates on."""

    calibration_data: Path  # a split folder in the seed layout (real/, fake/), e.g. data/train
    windows: int = 32  # calibration windows, spread evenly over the split's windows
    convs: str = "encoder"  # which convolutions become int8: "encoder" or "all" (the ConvLSTM's too)

    def __post_init__(self) -> None:
        if self.windows < 1:
            raise ConfigError(f"{self.windows} calibration windows is not positive", "--calibration-windows",
                              "give at least 1 (32 is the default)")
        if self.convs not in CONV_SCOPES:
            raise ConfigError(f"unknown convolution scope {self.convs!r}", "--int8-convs",
                              f"use one of {', '.join(CONV_SCOPES)}")


def calibration_clips(settings: Int8Settings, cfg: Config) -> list[np.ndarray]:
    """Up to `settings.windows` eval-transformed windows (1, T, 3, H, W) float32 from the calibration folder,
    at evenly spaced window indices (a split lists its reals first, so the first N would be one class)."""
    import warnings

    from lab.data.dataset import build_dataset

    root = Path(settings.calibration_data)
    if not root.is_dir():
        raise DataError("calibration data folder not found", root,
                        "give a split folder with real/ and fake/ inside, e.g. data/train")
    with warnings.catch_warnings():  # a split with one class still calibrates; the dataset's notes are for training
        warnings.simplefilter("ignore")
        dataset = build_dataset(root, cfg.sequence, cfg.image, cfg.augmentation, train=False)
    if len(dataset) == 0:
        raise DataError("no windows to calibrate on", root, "give a split folder with real/ and fake/ items")
    picks = np.unique(np.linspace(0, len(dataset) - 1, min(settings.windows, len(dataset))).round().astype(int))
    return [dataset[int(i)][0].numpy()[None].astype(np.float32) for i in picks]


def conv_nodes(model, convs: str) -> list[str]:
    """Names of the Conv nodes to quantise: those the exporter traced inside `net.encoder` (its name scopes), or all
    but the input streams' fixed filters (the `energy` stream's blur feeds a log: it stays fp32)."""
    nodes = [n for n in model.graph.node if n.op_type == "Conv"]
    if convs == "all":
        return [n.name for n in nodes if not any(p.key == "pkg.torch.onnx.name_scopes" and "'net.streams'" in p.value
                                                 for p in n.metadata_props)]
    scoped = [n.name for n in nodes if any(p.key == "pkg.torch.onnx.name_scopes" and "'net.encoder'" in p.value
                                           for p in n.metadata_props)]
    if not scoped:  # an exporter that stopped recording scopes must not silently quantise nothing
        raise RuntimeError("no Conv node of the exported graph is marked as inside net.encoder")
    return scoped


class _Windows:
    """An onnxruntime CalibrationDataReader (which is anything with `get_next`) over a list of clips."""

    def __init__(self, clips: list[np.ndarray]):
        self._it: Iterator[np.ndarray] = iter(clips)

    def get_next(self) -> dict[str, np.ndarray] | None:
        clip = next(self._it, None)
        return None if clip is None else {"clips": clip}


def quantize_int8(fp32: bytes, clips: list[np.ndarray], convs: str = "encoder", *,
                  nodes: list[str] | None = None) -> bytes:
    """The fp32 graph `fp32` with the chosen convolutions as int8 QDQ (per-channel weights), activation ranges
    calibrated (min/max) on `clips`. Runs onnxruntime's pre-processing (shape inference, graph optimisation)
    first, as its quantisation guide asks."""
    import onnx
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if nodes is None:  # chosen from the exporter's node metadata, before pre-processing rewrites the graph
        nodes = conv_nodes(onnx.load_from_string(fp32), convs)
    with tempfile.TemporaryDirectory(prefix="lab-int8-") as tmp:
        src, pre, out = (Path(tmp) / name for name in ("fp32.onnx", "pre.onnx", "int8.onnx"))
        src.write_bytes(fp32)
        # ONNX's own shape inference, not onnxruntime's symbolic one: every dimension but the batch is fixed, and
        # the symbolic pass fails on some exported graphs (the Concat of `meanmax` spatial pooling, for one).
        quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
        quantize_static(str(pre), str(out), _Windows(clips), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        op_types_to_quantize=["Conv"], nodes_to_quantize=nodes)
        model = onnx.load(str(out))
    source = onnx.load_from_string(fp32)
    del model.metadata_props[:]
    model.metadata_props.extend(source.metadata_props)  # the config, threshold and input description travel on
    entry = model.metadata_props.add()
    entry.key, entry.value = "convlstm_lab.precision", (
        f"int8 QDQ: {len(nodes)} Conv nodes ({convs}), per-channel int8 weights, uint8 activations "
        f"calibrated (min/max) on {len(clips)} windows")
    return model.SerializeToString()


def int8_settings(int8: bool, calibration_data: str | None, windows: int, convs: str) -> Int8Settings | None:
    """The CLI's flags as settings (None: fp32), refusing calibration flags without --int8 and --int8 without data."""
    if not int8:
        if calibration_data is not None:
            raise ConfigError("--calibration-data is given without --int8", "--calibration-data",
                              "add --int8 to write the INT8 variant, or drop --calibration-data")
        return None
    if calibration_data is None:
        raise ConfigError("--int8 needs calibration windows", "--calibration-data",
                          "give a split folder of training data, e.g. --calibration-data data/train")
    return Int8Settings(Path(calibration_data), windows, convs)
