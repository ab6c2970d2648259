"""ConvLSTM cell/stack against torch.nn.LSTM, encoders, input streams, the clip classifiers and the summary.

Everything runs on CPU with tiny inputs (32-64 px, a few frames); the seed-sized run is marked slow.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import replace
from pathlib import Path

import pytest
import torch
import torchvision.models as tv
from torch import nn

from lab.config import ClassifierConfig, ConvLSTMConfig, ModelConfig
from lab.models.encoders import BACKBONES, FusedStem, InputStreams, ResidualStream, build_encoder
from lab.errors import ConfigError, DataError
from lab.models.classifier import ConvLSTMClassifier, FrameClassifier, LastPooling, build_model
from lab.models.convlstm import ConvLSTM, ConvLSTMCell
from lab.models.pretrained import damage
from lab.models.summary import summarize

# An even kernel with padding="same" makes PyTorch warn that it pads a copy; expected here.
pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel:UserWarning")

TINY = ModelConfig(pretrained=False, convlstm=ConvLSTMConfig(hidden_channels=(8, 6), num_layers=2),
                   classifier=ClassifierConfig(dropout=0.0))


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)  # (one intra-op thread for the whole run: conftest.py)


def tiny(**changes) -> ModelConfig:
    lstm = changes.pop("convlstm", {})
    return replace(TINY, convlstm=replace(TINY.convlstm, **lstm), **changes)


# ------------------------------------------------------------------------------------------ ConvLSTM core


def _copy_lstm_weights(lstm: nn.LSTM, conv: ConvLSTM) -> None:
    """nn.LSTM parameters -> 1x1 ConvLSTM convs (cells ordered layer-major, forward then backward)."""
    with torch.no_grad():
        for index, cell in enumerate(conv.cells):
            layer, direction = divmod(index, conv.num_directions)
            suffix = f"_l{layer}" + ("_reverse" if direction else "")
            cell.input_conv.weight.copy_(getattr(lstm, "weight_ih" + suffix)[..., None, None])
            cell.hidden_conv.weight.copy_(getattr(lstm, "weight_hh" + suffix)[..., None, None])
            cell.input_conv.bias.copy_(getattr(lstm, "bias_ih" + suffix) + getattr(lstm, "bias_hh" + suffix))


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("with_state", [False, True])
def test_kernel1_convlstm_on_1x1_maps_equals_nn_lstm(bidirectional, with_state):
    B, T, C, H = 3, 5, 4, 6
    lstm = nn.LSTM(C, H, num_layers=2, bidirectional=bidirectional, batch_first=True)
    conv = ConvLSTM(C, H, kernel_size=1, num_layers=2, bidirectional=bidirectional)
    _copy_lstm_weights(lstm, conv)
    x = torch.randn(B, T, C)
    cells = len(conv.cells)
    h0, c0 = torch.randn(cells, B, H), torch.randn(cells, B, H)

    expected, (h_n, c_n) = lstm(x, (h0, c0) if with_state else None)
    state = [(h0[i, ..., None, None], c0[i, ..., None, None]) for i in range(cells)] if with_state else None
    out, final = conv(x[..., None, None], state)

    assert out.shape == (B, T, H * conv.num_directions, 1, 1)
    torch.testing.assert_close(out[..., 0, 0], expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(torch.stack([h for h, _ in final])[..., 0, 0], h_n, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(torch.stack([c for _, c in final])[..., 0, 0], c_n, atol=1e-5, rtol=1e-5)


def test_cell_gate_layout_and_zero_state():
    cell = ConvLSTMCell(3, 5, kernel_size=3)
    assert cell.input_conv.out_channels == cell.hidden_conv.out_channels == 20
    assert cell.hidden_conv.bias is None
    bias = cell.input_conv.bias.detach()
    assert torch.all(bias[5:10] == 1.0) and not torch.all(bias[:5] == 1.0)  # forget gate = 2nd block
    x = torch.randn(2, 3, 7, 9)
    zeros = (torch.zeros(2, 5, 7, 9), torch.zeros(2, 5, 7, 9))
    for got, want in zip(cell(x), cell(x, zeros)):
        torch.testing.assert_close(got, want)


@pytest.mark.parametrize("max_pixels", [0, 10**9])  # both paths: one concat convolution per step, batched over T
def test_chunks_with_carried_state_equal_one_pass(max_pixels):
    conv = ConvLSTM(3, [4, 5], kernel_size=3, num_layers=2).eval()
    conv.batched_input_max_pixels = max_pixels
    x = torch.randn(2, 7, 3, 8, 8)
    whole, whole_final = conv(x)
    first, state = conv(x[:, :3])
    second, final = conv(x[:, 3:], state)
    torch.testing.assert_close(torch.cat([first, second], dim=1), whole, atol=1e-6, rtol=1e-5)
    for (h, c), (h_ref, c_ref) in zip(final, whole_final):
        torch.testing.assert_close(h, h_ref, atol=1e-6, rtol=1e-5)
        torch.testing.assert_close(c, c_ref, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("bidirectional", [False, True])
def test_batched_and_stepwise_input_conv_agree(bidirectional, monkeypatch):
    from lab.models.convlstm import ConvLSTMCell

    concat_steps = []  # the override really switches the path: count the per-step concat convolutions
    step_concat = ConvLSTMCell.step_concat
    monkeypatch.setattr(ConvLSTMCell, "step_concat",
                        lambda self, *a, **k: concat_steps.append(1) or step_concat(self, *a, **k))
    conv = ConvLSTM(3, 4, kernel_size=3, num_layers=2, bidirectional=bidirectional)
    x = torch.randn(2, 4, 3, 6, 6)
    conv.batched_input_max_pixels = 0
    stepwise, _ = conv(x)
    assert len(concat_steps) == 4 * len(conv.cells)
    conv.batched_input_max_pixels = 10**9
    batched, _ = conv(x)
    assert len(concat_steps) == 4 * len(conv.cells)  # none more
    torch.testing.assert_close(batched, stepwise, atol=1e-5, rtol=1e-5)


def test_input_conv_batching_follows_the_measured_rule_per_device(monkeypatch):
    """CPU: batched up to 14x14 maps; CUDA: up to 28x28, and at every size under bf16 autocast (the H100
    figures in lab/models/convlstm.py); an instance's `batched_input_max_pixels` overrides both."""
    from types import SimpleNamespace

    from lab.models import convlstm

    def maps(side: int, device: str):
        return SimpleNamespace(shape=(2, 16, 64, side, side), device=torch.device(device))

    assert [convlstm.batched_input(maps(s, "cpu")) for s in (7, 14, 28, 56)] == [True, True, False, False]
    monkeypatch.setattr(torch, "is_autocast_enabled", lambda device_type=None: False)
    assert [convlstm.batched_input(maps(s, "cuda")) for s in (7, 14, 28, 56)] == [True, True, True, False]
    monkeypatch.setattr(torch, "is_autocast_enabled", lambda device_type=None: device_type == "cuda")
    monkeypatch.setattr(torch, "get_autocast_dtype", lambda device_type: torch.float16)  # unmeasured: as fp32
    assert [convlstm.batched_input(maps(s, "cuda")) for s in (7, 14, 28, 56)] == [True, True, True, False]
    monkeypatch.setattr(torch, "get_autocast_dtype", lambda device_type: torch.bfloat16)
    assert [convlstm.batched_input(maps(s, "cuda")) for s in (7, 14, 28, 56)] == [True, True, True, True]
    assert not convlstm.batched_input(maps(7, "cuda"), max_pixels=0)
    assert convlstm.batched_input(maps(56, "cpu"), max_pixels=56 * 56)


@pytest.mark.parametrize("batched", [False, True])
def test_equals_the_usual_concat_convlstm_in_outputs_and_gradients(batched):
    """The bench's baseline (one conv over concat[x_t, h] per step) with the same weights gives the same
    outputs and the same gradients for the input and every weight, on both paths over the input conv."""
    from benchmarks.reference import NaiveConvLSTM

    torch.manual_seed(0)
    ours = ConvLSTM(3, 4, kernel_size=3)
    ours.batched_input_max_pixels = 10**9 if batched else 0
    cell = ours.cells[0]
    naive = NaiveConvLSTM.like(cell)
    x = torch.randn(2, 5, 3, 6, 6, requires_grad=True)
    upstream = torch.randn(2, 5, 4, 6, 6)  # a non-uniform output gradient, so every gate's path is checked
    (ours(x)[0] * upstream).sum().backward()
    ours_x_grad, x.grad = x.grad, None
    out = naive(x)
    (out * upstream).sum().backward()
    torch.testing.assert_close(ours(x)[0], out, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(ours_x_grad, x.grad, atol=1e-5, rtol=1e-5)
    weight = torch.cat([cell.input_conv.weight.grad, cell.hidden_conv.weight.grad], dim=1)
    torch.testing.assert_close(weight, naive.conv.weight.grad, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(cell.input_conv.bias.grad, naive.conv.bias.grad, atol=1e-5, rtol=1e-5)


def test_time_major_input_and_output():
    conv = ConvLSTM(3, 4, num_layers=2, bidirectional=True)
    x = torch.randn(2, 5, 3, 6, 6)
    batch_major, _ = conv(x)
    conv.batch_first = False
    time_major, _ = conv(x.transpose(0, 1))
    assert time_major.shape == (5, 2, 8, 6, 6)
    torch.testing.assert_close(time_major.transpose(0, 1), batch_major)


@pytest.mark.parametrize("kernel_size", [1, 2, 3, 4, 5])
def test_odd_and_even_kernels_keep_spatial_size(kernel_size):
    conv = ConvLSTM(3, [4, 2], kernel_size=kernel_size, num_layers=2)
    out, final = conv(torch.randn(1, 3, 3, 7, 10))
    assert out.shape == (1, 3, 2, 7, 10) and final[-1][0].shape == (1, 2, 7, 10)


def test_hidden_channels_single_value_for_all_layers_and_bad_count():
    assert ConvLSTM(3, 4, num_layers=3).hidden_channels == (4, 4, 4)
    assert ConvLSTM(3, [4], num_layers=2).hidden_channels == (4, 4)
    with pytest.raises(ValueError, match="one per layer"):
        ConvLSTM(3, [4, 5, 6], num_layers=2)


# --------------------------------------------------------------------------------------------- encoders


@pytest.mark.parametrize("backbone", sorted(BACKBONES))
def test_every_backbone_at_every_output_stride(backbone):
    x = torch.randn(2, 3, 64, 64)
    channels = []
    for stride in (4, 8, 16, 32):
        encoder = build_encoder(backbone, pretrained=False, output_stride=stride).eval()
        with torch.no_grad():
            maps = encoder(x)
        assert maps.shape == (2, encoder.out_channels, 64 // stride, 64 // stride)
        channels.append(encoder.out_channels)
    assert channels == sorted(channels) and len(set(channels)) == 4


def test_residual_stream_and_fused_stem():
    clip = torch.randn(2, 4, 3, 8, 8)
    residual = ResidualStream()(clip)
    assert torch.all(residual[:, 0] == 0)
    torch.testing.assert_close(residual[:, 2], clip[:, 2] - clip[:, 1])
    streams = InputStreams(("rgb", "residual"))
    assert streams.out_channels == 6 and streams(clip).shape == (2, 4, 6, 8, 8)
    encoder = build_encoder("resnet18", output_stride=8, in_channels=6)
    stem = encoder.body.stem[0]
    assert isinstance(stem, FusedStem)  # random encoder: the new filters start at the RGB filters' scale
    assert 0.7 < stem.extra.weight.std() / stem.rgb.weight.std() < 1.4
    beside_pretrained = FusedStem(nn.Conv2d(3, 64, 7), 3, small_init=True)
    assert beside_pretrained.extra.weight.std() < 0.2 * beside_pretrained.rgb.weight.std()
    with pytest.raises(ConfigError, match="input_streams"):
        InputStreams(("rgb", "flow"))
    with pytest.raises(ConfigError, match="input_streams"):
        InputStreams(("residual", "residual"))
    # temporal-only streams (no RGB): the first stream goes through the backbone's own first convolution
    temporal_only = build_encoder("resnet18", output_stride=8, in_channels=InputStreams(("residual", "residual2")).out_channels)
    assert isinstance(temporal_only.body.stem[0], FusedStem) and temporal_only(torch.randn(2, 6, 32, 32)).shape[0] == 2


def test_frozen_backbone_keeps_batchnorm_in_eval_and_stream_filters_trainable():
    encoder = build_encoder("resnet18", freeze=True, output_stride=8, in_channels=6)
    assert not encoder.body.stem[1].training  # from construction on, not only after .train()
    encoder.train()
    stem = encoder.body.stem[0]
    frozen = [p for n, p in encoder.named_parameters() if "extra" not in n]
    assert frozen and not any(p.requires_grad for p in frozen) and stem.extra.weight.requires_grad
    bns = [m for m in encoder.modules() if isinstance(m, nn.BatchNorm2d)]
    assert bns and not any(m.training for m in bns)
    before = bns[0].running_mean.clone()
    encoder(torch.randn(2, 6, 32, 32)).sum().backward()
    torch.testing.assert_close(bns[0].running_mean, before)
    assert stem.extra.weight.grad is not None and stem.rgb.weight.grad is None


def _offline(monkeypatch, tmp_path: Path) -> Path:
    """An empty torch hub cache in tmp_path and a download that fails the test if anything starts one."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))

    def no_network(url, *args, **kwargs):
        raise AssertionError(f"a download of {url} was attempted")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)
    return Path(torch.hub.get_dir()) / "checkpoints"


def test_pretrained_offline_names_the_file_and_the_switch(monkeypatch, tmp_path):
    folder = _offline(monkeypatch, tmp_path)
    with pytest.raises(ConfigError) as info:
        build_model(tiny(pretrained=True))
    message = str(info.value)
    assert "resnet18-f37072fd.pth" in message and str(folder) in message and "copy torchvision's file" in message
    assert "model.pretrained=false" in message and "\n" not in message


def test_a_weight_file_must_hash_to_the_prefix_in_its_name(monkeypatch, tmp_path):
    """torch.hub hashes a file only when it downloads it; here a hand-placed file is checked before it is read."""
    data = b"any bytes"
    digest = hashlib.sha256(data).hexdigest()
    good, bad = tmp_path / f"net-{digest[:8]}.pth", tmp_path / f"net-{digest[8:16]}.pth"
    good.write_bytes(data)
    bad.write_bytes(data)
    assert damage(good) is None
    assert damage(bad) == f"its SHA-256 starts with {digest[:8]}, its name says {digest[8:16]}"
    folder = _offline(monkeypatch, tmp_path / "home")
    weights = tv.EfficientNet_B0_Weights.DEFAULT
    folder.mkdir(parents=True)
    torch.save(tv.efficientnet_b0().state_dict(), folder / Path(weights.url).name)  # loads, but is not the file
    with pytest.raises(DataError, match=r"truncated or altered.*efficientnet_b0_rwightman-7f5810bc\.pth\): delete it"):
        build_encoder("efficientnet_b0", pretrained=True, output_stride=8)


# ----------------------------------------------------------------------------------------- classifiers

OPTIONS = {
    "last": {},
    "mean": {"pooling": "mean"},
    "attention": {"pooling": "attention"},
    "bidirectional-last": {"convlstm": {"bidirectional": True}},
    "bidirectional-attention": {"convlstm": {"bidirectional": True}, "pooling": "attention"},
    "residual-stride8": {"input_streams": ("rgb", "residual"), "output_stride": 8},
    "stride16-kernel2-dropout": {"output_stride": 16, "convlstm": {"kernel_size": 2, "dropout": 0.2}},
    "one-layer": {"convlstm": {"hidden_channels": (8,), "num_layers": 1}},
    "efficientnet_b0": {"backbone": "efficientnet_b0", "output_stride": 16},
    "frame": {"temporal": "frame"},
    "frame-residual": {"temporal": "frame", "input_streams": ("rgb", "residual"), "backbone": "efficientnet_b2"},
}


@pytest.mark.parametrize("name", OPTIONS)
def test_classifier_shapes_for_every_option(name):
    cfg = tiny(**OPTIONS[name])
    model = build_model(cfg)
    B, T, size = 2, 3, 64
    clip = torch.randn(B, T, 3, size, size)
    logits = model(clip)
    feats = model.forward_features(clip)
    side = math.ceil(size / cfg.output_stride)
    dim = model.embed_dim
    assert logits.shape == (B, 2) and torch.isfinite(logits).all()
    assert feats.embedding.shape == (B, dim) and feats.sequence.shape == (B, T, dim)
    assert feats.maps.shape[:2] == (B, T) and feats.maps.shape[-2:] == (side, side)
    assert model.forward_head(feats.sequence).shape == (B, T, 2)
    assert model.forward_timeline(clip).shape == (B, T, 2)
    if cfg.pooling == "attention" and cfg.temporal == "convlstm":
        assert feats.attention.shape == (B, T)
        torch.testing.assert_close(feats.attention.sum(1), torch.ones(B))
    else:
        assert feats.attention is None
    expected = ConvLSTMClassifier if cfg.temporal == "convlstm" else FrameClassifier
    assert type(model) is expected


def test_bidirectional_last_pooling_takes_each_directions_final_step():
    sequence = torch.randn(2, 5, 8)  # forward half = channels 0..3, backward half = 4..7
    embedding, attention = LastPooling(8, num_directions=2)(sequence)
    torch.testing.assert_close(embedding, torch.cat([sequence[:, -1, :4], sequence[:, 0, 4:]], dim=1))
    assert attention is None
    torch.testing.assert_close(LastPooling(8)(sequence)[0], sequence[:, -1])


def test_gradients_reach_the_first_layer():
    model = build_model(tiny(input_streams=("rgb", "residual"), output_stride=8, pooling="attention"))
    model(torch.randn(2, 3, 3, 32, 32)).logsumexp(1).sum().backward()
    stem = model.encoder.body.stem[0]
    for param in (stem.rgb.weight, stem.extra.weight, model.convlstm.cells[0].input_conv.weight):
        assert param.grad is not None and param.grad.abs().sum() > 0


def test_frame_baseline_averages_per_frame_logits():
    model = build_model(tiny(temporal="frame", output_stride=16)).eval()
    clip = torch.randn(2, 4, 3, 32, 32)
    with torch.no_grad():
        timeline, logits = model.forward_timeline(clip), model(clip)
        from_embedding = model.forward_head(model.forward_features(clip).embedding)
    torch.testing.assert_close(logits, timeline.mean(1))
    torch.testing.assert_close(logits, from_embedding, atol=1e-5, rtol=1e-5)


def test_classifier_timeline_can_run_in_chunks():
    # RGB only: a residual stream restarts at zeros in each chunk (it needs the chunk's previous frame)
    model = build_model(tiny(output_stride=16, input_streams=("rgb",))).eval()
    clip = torch.randn(1, 5, 3, 32, 32)
    with torch.no_grad():
        whole = model.forward_features(clip)
        first = model.forward_features(clip[:, :2])
        second = model.forward_features(clip[:, 2:], first.state)
    torch.testing.assert_close(torch.cat([first.sequence, second.sequence], 1), whole.sequence,
                               atol=1e-5, rtol=1e-5)


def test_channels_last_model_and_input_give_the_same_logits():
    model = build_model(tiny(input_streams=("rgb", "residual"), output_stride=16)).eval()
    clip = torch.randn(2, 3, 3, 32, 32)
    with torch.no_grad():
        reference = model(clip)
        model = model.to(memory_format=torch.channels_last)
        frames_last = clip.flatten(0, 1).contiguous(memory_format=torch.channels_last).unflatten(0, (2, 3))
        torch.testing.assert_close(model(frames_last), reference, atol=1e-4, rtol=1e-4)


def test_summary_is_one_line_and_leaves_batchnorm_stats_alone():
    model = build_model(tiny(freeze_backbone=True, output_stride=16))
    bn = next(m for m in model.modules() if isinstance(m, nn.BatchNorm2d))
    before = bn.running_mean.clone()
    line = summarize(model, (1, 2, 3, 32, 32))
    assert "\n" not in line and "params" in line and "trainable" in line and "FLOPs per clip 2x3x32x32" in line
    torch.testing.assert_close(bn.running_mean, before)
    assert model.training


@pytest.mark.slow
def test_seed_model_forward_backward_on_cpu():
    model = build_model(ModelConfig(pretrained=False))  # resnet18, hidden [64, 128], 2 layers
    clip = torch.randn(2, 16, 3, 224, 224)
    loss = nn.functional.cross_entropy(model(clip), torch.tensor([0, 1]))
    loss.backward()
    assert torch.isfinite(loss)
    stem = model.encoder.body.stem[0]  # the default streams [rgb, residual]: a FusedStem
    assert stem.rgb.weight.grad.abs().sum() > 0 and stem.extra.weight.grad.abs().sum() > 0
    assert model.convlstm.out_channels == 128 and model.head.in_features == 128


def test_second_order_stream_cancels_steady_motion_and_doubles_flicker():
    from lab.models.encoders import SecondOrderStream

    t = torch.arange(6, dtype=torch.float32).view(1, 6, 1, 1, 1)
    ramp = (0.1 * t).expand(1, 6, 3, 4, 4)  # a steady change: first differences constant, second zero
    assert torch.allclose(SecondOrderStream()(ramp), torch.zeros_like(ramp), atol=1e-6)
    flicker = ((-1.0) ** t).expand(1, 6, 3, 4, 4)  # +-1 every frame
    out = SecondOrderStream()(flicker)
    assert torch.equal(out[:, :2], torch.zeros_like(out[:, :2]))  # no second difference yet
    assert torch.allclose(out[:, 2:].abs(), torch.full_like(out[:, 2:], 4.0))


def test_spatial_max_pooling_keeps_a_small_region_that_the_mean_dilutes():
    from lab.models.classifier import spatial_pool

    maps = torch.zeros(2, 3, 4, 8, 8)
    maps[0, :, :, 1:3, 1:3] = 1.0  # a 2x2 region of 8x8 in item 0
    assert torch.allclose(spatial_pool(maps, "mean")[0], torch.full((3, 4), 4 / 64))
    assert torch.equal(spatial_pool(maps, "max")[0], torch.ones(3, 4))
    both = spatial_pool(maps, "meanmax", num_directions=2)  # per direction: [mean_f, max_f | mean_b, max_b]
    assert both.shape == (2, 3, 8) and torch.equal(both[0, 0, [2, 3, 6, 7]], torch.ones(4))


@pytest.mark.parametrize("pooling", ["last", "attention"])
def test_meanmax_models_build_and_run_bidirectional(pooling):
    cfg = tiny(spatial_pooling="meanmax", pooling=pooling, input_streams=("rgb", "residual", "residual2"),
               convlstm={"hidden_channels": (4,), "num_layers": 1, "bidirectional": True})
    model = build_model(cfg).eval()
    logits, timeline = model(torch.randn(2, 4, 3, 32, 32), with_timeline=True)
    assert logits.shape == (2, 2) and timeline.shape == (2, 4, 2) and model.embed_dim == 16


def test_config_knows_every_stream_the_model_implements():
    from lab.config import STREAM_NAMES
    from lab.models.encoders import STREAMS

    assert tuple(STREAMS) == STREAM_NAMES


def test_detail_energy_stream_sees_a_local_detail_change_and_not_motion_or_global_changes():
    from lab.models.encoders import DetailEnergyStream

    stream = DetailEnergyStream()
    texture = torch.rand(1, 1, 1, 40, 40).expand(1, 1, 3, 40, 40)  # random detail, the same in each channel
    still = texture.expand(1, 4, 3, 40, 40).clone()
    moving = torch.cat([texture.roll(k, dims=-1) for k in range(4)], dim=1)  # a pan: 1 px per frame
    local = still.clone()
    local[:, 2, :, 14:26, 14:26] *= 1.5  # frame 2: 1.5x the detail (contrast) in a 12x12 patch
    whole = still.clone()
    whole[:, 2] *= 1.5  # frame 2: 1.5x the detail everywhere, as a codec's coarser or finer frame does
    offset = still.clone()
    offset[:, 2] += 0.5  # frame 2 brighter by a constant: no detail changes
    for clip in (still, moving, local, whole, offset):
        out = stream(clip)
        assert out.shape == (1, 4, 2, 40, 40) and stream.context == 2
        assert out[:, 0].abs().max() == 0 and out[:, 1, 1].abs().max() == 0  # no frames before t: zeros
    assert stream(still).abs().max() == 0
    assert stream(offset).abs().max() < 1e-4  # the high-pass removes a constant (without it: log 2.9 here)
    assert stream(whole).abs().max() < 1e-2  # a whole-frame change is taken out with the frame's mean
    inner = (slice(None), slice(None), slice(None), slice(8, 32), slice(8, 32))
    # a pan moves detail around but barely changes a 7x7 neighbourhood's energy; the plain residual is large
    assert stream(moving)[inner].abs().mean() < 0.1 < ResidualStream()(moving)[inner].abs().mean()
    # the local change: log energy jumps by L = log(1.5^2) into frame 2 and back out of it, at the patch's centre
    # (less the frame's mean: 12x12 of 40x40 pixels, widened by the 7x7 window)
    jump, centre = 2 * math.log(1.5), stream(local)[:, :, :, 18:22, 18:22].mean(dim=(0, 3, 4))  # (T, 2)
    for t, channel, expected in ((2, 0, jump), (3, 0, -jump), (2, 1, jump), (3, 1, -2 * jump)):
        assert 0.7 * abs(expected) < centre[t, channel] * math.copysign(1, expected) < abs(expected)
    with torch.autocast("cpu", dtype=torch.bfloat16):  # float32 inside whatever the autocast
        under_amp = stream(local)
    torch.testing.assert_close(under_amp, stream(local), atol=1e-6, rtol=0)
