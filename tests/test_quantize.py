"""`lab export --onnx ... --int8`: the INT8 graph stays close to the model and ranks clips as it does; bad flags get one
line; and the bench's FLOP counter gives a positive fraction."""
import numpy as np
import onnx
import pytest
import torch

from lab.cli.main import main as lab_main
from lab.data.dataset import build_dataset
from lab.inference.export import export_onnx, ort_session
from lab.inference.quantize import Int8Settings
from lab.runtime.checkpoint import load_model
from test_bad_input import assert_contract, call


def test_int8_export_is_close_to_the_model_and_ranks_clips_alike(tiny_checkpoint, synth_root, tmp_path):
    result = export_onnx(tiny_checkpoint, tmp_path / "m.onnx", int8=Int8Settings(synth_root / "train", windows=4))
    assert result.int8_windows == 4 and result.int8_max_abs_dprob is not None

    graph = onnx.load(str(result.path))
    ops = {n.op_type for n in graph.graph.node}
    assert {"QuantizeLinear", "DequantizeLinear", "Conv"} <= ops  # QDQ around the convolutions
    int8_weights = [t for t in graph.graph.initializer if t.data_type == onnx.TensorProto.INT8 and len(t.dims) == 4]
    assert int8_weights  # the conv weights are stored as int8, not fp32
    meta = {p.key: p.value for p in graph.metadata_props}
    assert meta["convlstm_lab.precision"].startswith("int8 QDQ") and "convlstm_lab.config" in meta

    # Windows the calibration never saw (the test split), against eager PyTorch in fp32.
    model, cfg, _ = load_model(tiny_checkpoint)
    test = build_dataset(synth_root / "test", cfg.sequence, cfg.image, cfg.augmentation, train=False)
    clips = torch.stack([test[i][0] for i in range(len(test))])
    with torch.no_grad():
        ref = model(clips).softmax(-1)[:, 1].numpy()
    session = ort_session(result.path)
    got = torch.from_numpy(session.run(["logits"], {"clips": clips.numpy()})[0]).softmax(-1)[:, 1].numpy()
    # uint8 activations cut each calibrated range into 255 steps (0.4 % of it) and the error compounds over the
    # encoder's layers: a few hundredths of P(fake) at most is what 8 bits allow; more would mean a broken graph
    # (a wrong scale or zero point moves P by tenths).
    assert np.abs(got - ref).max() < 0.05, np.abs(got - ref).max()
    assert np.ptp(ref) > 0.01  # the clips do get different scores, so the ranking below means something
    ranks = [np.argsort(np.argsort(p)) for p in (got, ref)]
    assert np.corrcoef(*ranks)[0, 1] > 0.9  # Spearman's rho: it orders the clips as the fp32 model does


def test_int8_flags_give_one_line_errors_before_any_export(tiny_checkpoint, synth_root, tmp_path, capsys):
    out = tmp_path / "m.onnx"
    assert_contract(call(capsys, lab_main, "export", "--onnx", tiny_checkpoint, out, "--int8"),
                    "--int8 needs calibration windows", "--calibration-data")
    assert_contract(call(capsys, lab_main, "export", "--onnx", tiny_checkpoint, out, "--calibration-data",
                         synth_root / "train"), "without --int8")
    assert_contract(call(capsys, lab_main, "export", "--onnx", tiny_checkpoint, out, "--int8", "--calibration-data",
                         tmp_path / "nowhere"), "calibration data folder not found", "nowhere")
    assert_contract(call(capsys, lab_main, "export", "--onnx", tiny_checkpoint, out, "--int8", "--calibration-data",
                         synth_root / "train", "--calibration-windows", "0"), "not positive", "--calibration-windows")
    assert_contract(call(capsys, lab_main, "export", "--onnx", tiny_checkpoint, out, "--int8", "--calibration-data",
                         synth_root / "train", "--int8-convs", "head"), "--int8-convs")
    assert not out.exists()


def test_the_training_flop_fraction_is_positive():
    from benchmarks.timing import interleaved, row as _row
    from benchmarks.compress import bench_train_flops

    tiny = ("model.output_stride=8", "model.convlstm.hidden_channels=[8,8]")
    (row,) = bench_train_flops(side=32, steps=2, batch=1, repeats=1, interleaved=interleaved, row=_row,
                               matmul_side=256, overrides=tiny)
    assert row["key"] == "train_flops_fraction" and row["ratio_is"] == "b / a"
    assert row["a_value"] > 0 and row["b_value"] > 0 and 0 < row["ratio"] < 10
    assert row["ratio"] == pytest.approx(row["b_value"] / row["a_value"])
