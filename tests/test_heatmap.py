"""Grad-CAM heatmaps and their overlay: shapes, range, one map per frame, response to the input."""
import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from lab.runtime.checkpoint import load_model
from lab.inference.heatmap import class_margin, gradcam, overlay_heatmap, resize_heatmap, window_heatmaps
from lab.models.classifier import ClipFeatures
from lab.data.video import open_item


@pytest.fixture(scope="module")
def loaded(tiny_checkpoint):
    return load_model(tiny_checkpoint)


def _item(root, cls, index=0):
    return sorted(p for p in (root / "test" / cls).iterdir() if not p.name.startswith("."))[index]


def test_window_heatmaps_shapes_and_range(loaded, synth_root):
    model, cfg, _ = loaded  # tiny: 32x32 input, output stride 8 -> 4x4 ConvLSTM maps, pooling "last"
    frames = open_item(_item(synth_root, "fake")).read(0, cfg.sequence.length)  # (4, 32, 32, 3)
    heat = window_heatmaps(model, cfg, frames)
    assert heat.shape == (4, 32, 32) and heat.dtype == np.float32
    assert heat.min() >= 0.0 and heat.max() <= 1.0
    assert heat.max() in (0.0, pytest.approx(1.0))  # scaled by the window's peak
    assert window_heatmaps(model, cfg, frames, full_size=False).shape == (4, 4, 4)

    # Frames of another size than the model's input: maps come back at the frames' size.
    big = np.stack([cv2.resize(f, (56, 40)) for f in frames])
    assert window_heatmaps(model, cfg, big).shape == (4, 40, 56)
    # 16:9 frames: the model sees the centred square (eval crop); the map lies there and is 0 at the sides.
    wide = np.stack([cv2.resize(f, (64, 36)) for f in frames])
    heat = window_heatmaps(model, cfg, wide)
    assert heat.shape == (4, 36, 64)
    assert heat[:, :, :14].max() == 0 and heat[:, :, 50:].max() == 0 and heat[:, :, 14:50].max() > 0
    # A window shorter than sequence.length (the end of a short video) is padded, then cut back.
    assert window_heatmaps(model, cfg, frames[:2]).shape == (2, 32, 32)


def test_every_frame_with_context_gets_a_map_and_earlier_frames_none(loaded, synth_root):
    """With pooling="last" the clip logit's gradient reaches only the last step's maps; the timeline
    target gives each frame its own. Fake and real margins are opposite, so at every frame with enough
    context at least one of the two maps is non-zero; frames before `min_context` are never evidence."""
    model, cfg, _ = loaded
    assert cfg.model.pooling == "last"
    cfg = cfg.replace("sequence.min_context=2")
    frames = open_item(_item(synth_root, "real")).read(0, cfg.sequence.length)
    fake, real = (window_heatmaps(model, cfg, frames, target=t) for t in (1, 0))
    assert fake[0].max() == 0 and real[0].max() == 0  # step 0 has seen one frame (and a zero residual)
    for t in range(1, len(frames)):
        assert fake[t].max() > 0 or real[t].max() > 0, f"frame {t} has no map"


def test_heatmap_differs_between_clips_and_leaves_model_alone(loaded, synth_root):
    model, cfg, _ = loaded
    a = open_item(_item(synth_root, "fake")).read(0, 4)
    b = open_item(_item(synth_root, "real")).read(0, 4)
    model.train()
    heat_a, heat_b = window_heatmaps(model, cfg, a), window_heatmaps(model, cfg, b)
    assert model.training, "gradcam restores the model's mode"
    model.eval()
    assert not np.allclose(heat_a, heat_b, atol=1e-3)
    assert np.allclose(heat_a, window_heatmaps(model, cfg, a), atol=1e-5), "deterministic in eval mode"
    assert all(p.grad is None for p in model.parameters()), "no parameter gradients accumulate"


class FlickerDetector(nn.Module):
    """A minimal detector with lab.models.classifier's interface: its feature maps are the per-pixel frame-to-frame
    change (4x4-pooled), and its fake logit grows with their mean. A region that flickers is, by
    construction, the region that matters."""

    def __init__(self):
        super().__init__()
        self.head = nn.Linear(1, 2)
        with torch.no_grad():
            self.head.weight.copy_(torch.tensor([[-1.0], [1.0]]))
            self.head.bias.zero_()

    def forward_features(self, clip):  # (B, T, 3, H, W)
        change = torch.cat([torch.zeros_like(clip[:, :1]), clip[:, 1:] - clip[:, :-1]], dim=1).abs().mean(2)
        maps = F.avg_pool2d(change, 4).unsqueeze(2)  # (B, T, 1, H/4, W/4)
        sequence = maps.mean(dim=(-2, -1))  # (B, T, 1)
        return ClipFeatures(sequence.mean(dim=1), sequence, None, maps)

    def forward_head(self, embedding):
        return self.head(embedding)


def test_heatmap_concentrates_on_the_region_that_matters():
    torch.manual_seed(0)
    still = torch.rand(3, 32, 32).expand(6, 3, 32, 32).clone()  # a static texture ...
    still[:, :, 8:16, 20:28] = torch.rand(6, 3, 8, 8)  # ... with a square that flickers (rows 8-15, cols 20-27)
    cam = gradcam(FlickerDetector(), still[None], size=(32, 32))[0]  # (6, 32, 32)
    assert cam.shape == (6, 32, 32) and float(cam.min()) >= 0 and float(cam.max()) == pytest.approx(1.0)
    assert float(cam[0].max()) == 0.0, "the first frame has no change, so no evidence"
    for t in range(1, 6):
        mass = cam[t] / cam[t].sum()
        assert float(mass[8:16, 20:28].sum()) > 0.6
        assert float(mass[6:18, 18:30].sum()) > 0.99  # bilinear upsampling blurs half a 4-pixel cell
        row, col = divmod(int(cam[t].argmax()), 32)
        assert 8 <= row < 16 and 20 <= col < 28


def test_class_margin_is_the_log_odds_for_two_classes():
    logits = torch.tensor([[0.3, 1.5], [2.0, -1.0]])
    assert torch.allclose(class_margin(logits, 1), logits[:, 1] - logits[:, 0])
    assert torch.allclose(class_margin(logits, 0), logits[:, 0] - logits[:, 1])


def test_overlay_heatmap():
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (3, 20, 30, 3), dtype=np.uint8)
    cold = overlay_heatmap(frames, np.zeros((3, 20, 30)))
    assert cold.dtype == np.uint8 and cold.shape == frames.shape
    assert np.array_equal(cold, frames), "zero heat keeps the frame"
    hot = overlay_heatmap(frames[0], np.ones((5, 5)))  # a small map is resized to the frame
    assert hot.shape == (20, 30, 3) and hot.dtype == np.uint8 and not np.array_equal(hot, frames[0])
    half = np.zeros((20, 30), np.float32)
    half[:, 15:] = 1.0
    out = overlay_heatmap(frames[0], half)
    assert np.array_equal(out[:, :15], frames[0][:, :15]) and not np.array_equal(out[:, 15:], frames[0][:, 15:])
    assert resize_heatmap(np.ones((2, 4, 4)), (8, 12)).shape == (2, 8, 12)
