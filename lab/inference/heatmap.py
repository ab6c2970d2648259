"""Where the model looked: Grad-CAM on the last-layer feature maps (the ConvLSTM hidden states, or the
encoder's maps for the frame-only baseline), one map per frame of a window, and an overlay for display.

The score explained for frame t is that frame's *timeline* logit margin (fake minus the other classes),
not the clip logit: `ClipFeatures.maps` is a stack of the hidden states, and the recurrence reads the
unstacked states, so the clip logit's gradient reaches `maps` only at the step(s) the pooling reads
(with pooling="last", frame T-1 alone). The timeline logit of step t reads `maps[:, t]` directly, so every
frame gets its own map. With `model.spatial_pooling: mean` and the linear head this equals a class activation
map (CAM); the Grad-CAM form keeps it defined for `max`/`meanmax` too, where the max part's gradient reaches each
channel's strongest position only (its channel weight still scales the whole map).
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from matplotlib import colormaps
from torch import Tensor, nn

from lab.config import Config, ImageConfig
from lab.data.dataset import pad_clip
from lab.data.transforms import build_transform, centred_box
from lab.runtime.device import module_device

FAKE = 1  # class index of "fake" (lab.runtime.checkpoint.CLASS_NAMES)


def class_margin(logits: Tensor, target: int = FAKE) -> Tensor:
    """(..., K) logits -> (...,): logit of `target` minus logsumexp of the others (log-odds for K=2).
    A margin, not a probability: its gradient does not vanish when the model is confident."""
    others = torch.cat([logits[..., :target], logits[..., target + 1:]], dim=-1)
    return logits[..., target] - others.logsumexp(dim=-1)


def gradcam(model: nn.Module, clips: Tensor, *, target: int = FAKE,
            size: tuple[int, int] | None = None, first_step: int = 0) -> Tensor:
    """Grad-CAM per frame. clips (B, T, C, H, W) normalised -> (B, T, h, w) in [0, 1], at the feature-map
    resolution or bilinearly resized to `size` (H, W).

    cam_t = ReLU(sum_c alpha_tc * A_tc) with alpha_tc the spatial mean of d margin_t / d A_tc, where A are
    `forward_features(clips).maps` and margin_t the timeline margin of `target` at step t. Each window is
    scaled by its own maximum, so frames of one window compare; a window with no positive evidence is all 0.
    Steps before `first_step` (too little context, see `SequenceConfig.first_scored_step`) get all-0 maps.
    The model's parameters get no gradients (autograd.grad), and it is used in eval mode.
    """
    was_training = model.training
    model.eval()
    try:
        with torch.enable_grad():
            # Asking for the input's gradient makes every activation require grad, even under a frozen encoder.
            clips = clips.detach().requires_grad_(True)
            features = model.forward_features(clips)
            maps = features.maps  # (B, T, C, h, w)
            margins = class_margin(model.forward_head(features.sequence).float(), target)  # (B, T)
            (grads,) = torch.autograd.grad(margins[:, first_step:].sum(), maps)  # earlier steps: no evidence
    finally:
        model.train(was_training)
    weights = grads.float().mean(dim=(-2, -1), keepdim=True)  # (B, T, C, 1, 1)
    cam = F.relu((weights * maps.detach().float()).sum(dim=2))  # (B, T, h, w)
    if size is not None:
        cam = F.interpolate(cam, size=size, mode="bilinear", align_corners=False).clamp_(min=0)
    peak = cam.amax(dim=(1, 2, 3), keepdim=True)  # (B, 1, 1, 1)
    return torch.where(peak > 0, cam / peak.clamp(min=1e-12), torch.zeros_like(cam))


def window_heatmaps(model: nn.Module, cfg: Config, frames: np.ndarray, *, target: int = FAKE,
                    full_size: bool = True) -> np.ndarray:
    """One window of raw frames, uint8 RGB (t, H, W, 3) -> Grad-CAM (t, H, W) float32 in [0, 1].

    Frames go through the eval transform (the centred box of the input's aspect ratio, resized, normalised);
    a map covers that box and is 0 outside it, where the model saw nothing. A window shorter than
    `sequence.length` is padded by repeating its last frame, as inference does. `full_size=False` returns the
    small feature-map-sized maps (t, h, w) instead, for caching; `frame_heatmap` brings one to a frame.
    """
    frames = np.asarray(frames)
    count = len(frames)
    transform = build_transform(cfg.image, cfg.augmentation, train=False)
    clip = transform(pad_clip(frames, cfg.sequence.length))[None]  # (1, T, C, h, w)
    device = module_device(model)
    first = cfg.sequence.first_scored_step
    if not full_size:
        cam = gradcam(model, clip.to(device), target=target, first_step=first)
        return cam[0, :count].cpu().numpy().astype(np.float32)
    top, left, box_h, box_w = centred_box((cfg.image.height, cfg.image.width), *frames.shape[1:3])
    cam = gradcam(model, clip.to(device), target=target, size=(box_h, box_w), first_step=first)
    cam = cam[0, :count].cpu().numpy()
    out = np.zeros((count, *frames.shape[1:3]), np.float32)
    out[:, top:top + box_h, left:left + box_w] = cam
    return out


def explaining_window(windows: list[dict], index: int, first_step: int) -> dict | None:
    """The window whose Grad-CAM explains frame `index`: among `windows` ({start, end, ...}) covering the frame at
    a step with enough context (`SequenceConfig.first_scored_step`), the one whose centre is nearest to it; None
    when there is none (an item's first frames). The viewer and `lab predict --explain` both use it."""
    usable = [w for w in windows if w["start"] + first_step <= index < w["end"]]
    return min(usable, key=lambda w: abs((w["start"] + w["end"] - 1) / 2 - index)) if usable else None


def frame_heatmap(heat: np.ndarray, frame_size: tuple[int, int], image: ImageConfig) -> np.ndarray:
    """Maps over the model's input (..., h, w) -> over the frame (..., H, W): resized into the box the eval
    transform crops (`centred_box`), 0 outside it."""
    top, left, box_h, box_w = centred_box((image.height, image.width), *frame_size)
    heat = np.asarray(heat, dtype=np.float32)
    out = np.zeros(heat.shape[:-2] + tuple(frame_size), np.float32)
    out[..., top:top + box_h, left:left + box_w] = resize_heatmap(heat, (box_h, box_w))
    return out


def resize_heatmap(heat: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(..., h, w) maps in [0, 1] -> (..., H, W) by bilinear interpolation, still in [0, 1]."""
    heat = torch.as_tensor(np.asarray(heat, dtype=np.float32))
    lead = heat.shape[:-2]
    flat = heat.reshape(-1, 1, *heat.shape[-2:])
    out = F.interpolate(flat, size=size, mode="bilinear", align_corners=False).clamp_(0.0, 1.0)
    return out.reshape(*lead, *size).numpy()


def overlay_heatmap(frames: np.ndarray, heat: np.ndarray, *, alpha: float = 0.6,
                    colormap: str = "jet") -> np.ndarray:
    """Colour `heat` with `colormap` and blend it onto `frames`, weighted by the heat itself so cold regions
    keep the original pixels. frames uint8 RGB (..., H, W, 3), heat (..., H, W) in [0, 1] (resized to the
    frames when its size differs) -> uint8 RGB (..., H, W, 3)."""
    frames = np.asarray(frames)
    heat = np.asarray(heat, dtype=np.float32)
    if heat.shape[-2:] != frames.shape[-3:-1]:
        heat = resize_heatmap(heat, frames.shape[-3:-1])
    heat = np.clip(heat, 0.0, 1.0)
    colour = colormaps[colormap](heat)[..., :3] * 255.0  # (..., H, W, 3)
    weight = alpha * heat[..., None]
    out = frames.astype(np.float32) * (1.0 - weight) + colour * weight
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)
