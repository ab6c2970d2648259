"""The training-free D3 baseline (`model.temporal: d3`): builds with nothing to train, scores jitter in embedding
space higher than even motion, fits which side is fake on training data, and runs through `lab train`/`eval`."""
import math

import pytest
import torch

from _fixtures import tiny_config
from lab.config import Config
from lab.errors import ConfigError
from lab.models.classifier import D3Classifier, build_model
from lab.models.d3 import log_spread, second_order

PIXELS = ("model.temporal=d3", "model.d3.embedding=pixels", "model.d3.pixel_grid=4")


def _model(*overrides: str) -> D3Classifier:
    cfg = Config().replace("model.temporal=d3", "model.pretrained=false", "model.output_stride=8", *overrides)
    return build_model(cfg.model).eval()


@pytest.mark.parametrize("embedding", ["backbone", "pixels"])
def test_d3_builds_with_no_trainable_parameters_and_gives_finite_logits(embedding):
    model = _model(f"model.d3.embedding={embedding}")
    assert isinstance(model, D3Classifier)
    assert not any(p.requires_grad for p in model.parameters())
    clips = torch.randn(3, 6, 3, 32, 32)
    logits, timeline = model(clips, with_timeline=True)
    assert logits.shape == (3, 2) and timeline.shape == (3, 6, 2)
    assert torch.isfinite(logits).all() and torch.isfinite(timeline).all()
    assert torch.allclose(timeline, logits[:, None].expand_as(timeline))  # one score per window, every step
    still = model(torch.zeros(1, 6, 3, 32, 32))  # perfectly even motion: spread 0, still finite
    assert torch.isfinite(still).all()


@pytest.mark.parametrize("difference", ["distance", "vector"])
def test_jitter_in_embedding_space_raises_the_spread(difference):
    torch.manual_seed(0)
    steady = torch.arange(8.0)[None, :, None] * torch.randn(1, 1, 16)  # (1, 8, 16): constant velocity
    jitter = steady + 0.3 * torch.randn(1, 8, 16)
    assert second_order(steady, difference).abs().max() < 1e-4
    assert log_spread(jitter, difference) > log_spread(steady, difference) + 3


def test_jittering_frames_raise_the_models_fake_logit_once_fitted_that_way():
    torch.manual_seed(0)
    ramp = torch.linspace(-1, 1, 8)[None, :, None, None, None].expand(4, 8, 3, 16, 16).clone()  # steady fade
    jittered = ramp + 0.5 * torch.rand(4, 8, 3, 1, 1)  # each frame's colour jumps
    model = _model(*PIXELS)
    spreads = torch.cat([model.forward_features(ramp).embedding, model.forward_features(jittered).embedding])[:, 0]
    fitted = model.fit_direction(spreads, torch.tensor([0] * 4 + [1] * 4))
    assert fitted["direction"] == 1.0 and fitted["train_auc"] == 1.0
    p_fake = model(torch.cat([ramp, jittered])).softmax(-1)[:, 1]
    assert (p_fake[4:] > 0.5).all() and (p_fake[:4] < 0.5).all()


def test_direction_is_fitted_not_assumed():
    model = _model(*PIXELS)
    spreads = torch.tensor([2.0, 2.2, 1.9, 2.1, -1.0, -0.8, -1.2, -0.9])  # here fakes move *more evenly*
    labels = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1])
    assert not model.fitted
    fitted = model.fit_direction(spreads, labels)
    assert model.fitted and fitted["direction"] == -1.0 and fitted["train_auc"] == 0.0
    probs = model.forward_head(spreads[:, None]).softmax(-1)[:, 1]
    assert (probs[4:] > 0.5).all() and (probs[:4] < 0.5).all()
    with pytest.raises(ValueError, match="same D3 spread"):
        model.fit_direction(torch.ones(4), torch.tensor([0, 0, 1, 1]))


def test_d3_needs_four_frames_per_window():
    with pytest.raises(ConfigError, match="sequence.length"):
        Config().replace("model.temporal=d3", "sequence.length=3", "sequence.stride=3")


def test_lab_train_fits_d3_without_optimising_and_its_checkpoint_evaluates(synth_root, tmp_path):
    from lab.evaluation.evaluate import evaluate_split
    from lab.runtime.checkpoint import load_model, read_checkpoint
    from lab.training.loop import fit

    cfg = tiny_config(synth_root, *PIXELS)
    result = fit(cfg, run_name="d3", checkpoint_dir=tmp_path / "ck", log_dir=tmp_path / "logs", progress=False)
    ckpt = read_checkpoint(result.best_path)
    assert ckpt["optimizer"] is None and ckpt["epoch"] == 0
    assert ckpt["training_free"]["direction"] in (1.0, -1.0)
    assert math.isfinite(result.best_metrics["val_roc_auc"]) and (tmp_path / "ck" / "d3" / "last.pth").is_file()
    # the same calibrated decision as a trained model's checkpoint (`lab train` prints it), not a "legacy" one
    assert result.decision is not None and ckpt["decision"]["method"] == cfg.training.threshold
    assert "temperature" in ckpt["calibration"]
    model, cfg, ckpt = load_model(result.best_path)
    assert model.fitted and float(model.scale) == pytest.approx(ckpt["training_free"]["scale"])
    ev = evaluate_split(model, cfg, synth_root / "test", torch.device("cpu"), threshold=ckpt["threshold"],
                        progress=False)
    assert 0.0 <= ev.metrics["clip"]["roc_auc"] <= 1.0
    with pytest.raises(ConfigError, match="nothing to resume"):
        fit(cfg, run_name="d3", checkpoint_dir=tmp_path / "ck", log_dir=tmp_path / "logs", progress=False,
            resume=result.last_path)
