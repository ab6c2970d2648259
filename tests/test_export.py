"""`lab export --onnx`: the exported graph reproduces the model in onnxruntime, describes itself, and bad input
gets one line."""
import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from lab.cli.main import main as lab_main
from lab.inference import export as export_module
from lab.inference.export import ExportError, export_onnx
from lab.runtime.checkpoint import load_model
from test_bad_input import assert_contract, call


@pytest.mark.slow  # two ONNX exports
def test_an_export_that_does_not_match_writes_nothing_and_keeps_the_old_file(tiny_checkpoint, tmp_path, monkeypatch):
    (tmp_path / "m.onnx").write_bytes(b"the previous, good export")
    monkeypatch.setattr(export_module, "_check", lambda *a, **k: 0.5)
    with pytest.raises(ExportError, match="differs from PyTorch by 5.00e-01"):
        export_onnx(tiny_checkpoint, tmp_path / "m.onnx", overwrite=True)
    with pytest.raises(ExportError, match="differs from PyTorch"):
        export_onnx(tiny_checkpoint, tmp_path / "sub" / "n.onnx")
    assert (tmp_path / "m.onnx").read_bytes() == b"the previous, good export"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]  # no temp file, no new folder


def test_export_cli_writes_a_graph_that_matches_pytorch_at_any_batch_size_and_describes_itself(
        tiny_checkpoint, tmp_path, capsys):
    out = tmp_path / "m.onnx"
    code, stdout, _ = call(capsys, lab_main, "export", "--onnx", tiny_checkpoint, out)
    assert code == 0 and out.is_file() and "onnxruntime matches PyTorch within" in stdout
    diff = float(stdout.rsplit("onnxruntime matches PyTorch within", 1)[1].split()[0])
    assert diff < 1e-4  # checked by the export itself, at the two batch sizes it tries

    # An independent check at a batch size the export never saw: both outputs, against eager PyTorch.
    model, cfg, ckpt = load_model(tiny_checkpoint)
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].shape[0] == "batch"  # a dynamic batch dimension
    clips = torch.randn(5, *session.get_inputs()[0].shape[1:], generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        logits, steps = model(clips, with_timeline=True)
    got_logits, got_steps = session.run(["logits", "step_logits"], {"clips": clips.numpy()})
    assert got_logits.shape == (5, 2) and got_steps.shape == (5, cfg.sequence.length, 2)
    assert np.abs(got_logits - logits.numpy()).max() < 1e-4 and np.abs(got_steps - steps.numpy()).max() < 1e-4
    assert np.ptp(got_logits[:, 1]) > 1e-4  # different clips, different scores: not a constant graph
    meta = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert json.loads(meta["convlstm_lab.config"])["sequence"]["length"] == cfg.sequence.length
    assert float(meta["convlstm_lab.threshold"]) == pytest.approx(ckpt["threshold"])

    # It writes once, and bad input is one line.
    assert_contract(call(capsys, lab_main, "export", "--onnx", tiny_checkpoint, out), "the output file exists",
                    "--overwrite")
    assert_contract(call(capsys, lab_main, "export", "--onnx", tiny_checkpoint, tmp_path / "m.bin"),
                    "not an .onnx file")
    assert_contract(call(capsys, lab_main, "export", "--onnx", tmp_path / "none.pth", tmp_path / "new" / "n.onnx"),
                    "checkpoint not found", "none.pth")
    assert not (tmp_path / "new").exists()  # nothing is created for a failed export
    (tmp_path / "folder.onnx").mkdir()
    assert_contract(call(capsys, lab_main, "export", "--onnx", tiny_checkpoint, tmp_path / "folder.onnx",
                         "--overwrite"), "the output is a folder")


def test_an_exporter_failure_is_one_line_naming_the_checkpoint(tiny_checkpoint, tmp_path, capsys, monkeypatch):
    def fail(*args, **kwargs):
        print("[torch.onnx] Obtain model graph ... failed")  # the exporter's narration, kept for --debug
        raise RuntimeError("Could not guard on data-dependent expression\nmore detail")

    monkeypatch.setattr(torch.onnx, "export", fail)
    result = call(capsys, lab_main, "export", "--onnx", tiny_checkpoint, tmp_path / "m.onnx")
    assert_contract(result, "could not be exported to ONNX: Could not guard on data-dependent expression",
                    "--debug")
    assert "Obtain model graph" not in result[1] + result[2] and not (tmp_path / "m.onnx").exists()
