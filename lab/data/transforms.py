"""Clip transforms: torchvision v2 on a `tv_tensors.Video`, so one draw of random parameters
(crop box, flip, jitter factors, JPEG quality, H.264 CRF) applies to every frame of a clip.

Crop geometry, the same in training and evaluation: frames are never squashed. The reference box is the
largest box with the model input's aspect ratio (image.width / image.height) centred in the frame: for a
square input on 16:9 video, the full height and the middle 9/16 of the width. Evaluation uses that box.
Training draws a box of the same aspect ratio whose area is `augmentation.crop_scale` of the reference box,
anywhere in the frame (so the sides of a wide frame are seen too). Either way the box is resized to
(image.height, image.width).

Input: uint8 `(T, C, H, W)` tensor or uint8 `(T, H, W, 3)` numpy array. Output: float32 `(T, C, h, w)`
normalised with the config's mean/std at `(image.height, image.width)`.
"""
from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np
import torch
from torchvision import tv_tensors
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F

from lab.config import AugmentationConfig, ImageConfig
from lab.data.perturb import PERTURBATIONS


def to_clip_tensor(clip: torch.Tensor | np.ndarray) -> torch.Tensor:
    """uint8 `(T, H, W, 3)` numpy or `(T, C, H, W)` tensor -> uint8 `(T, C, H, W)` tensor.
    Float tensors are taken as [0, 1] and converted to uint8 (JPEG and colour ops expect it)."""
    if isinstance(clip, np.ndarray):
        if clip.ndim != 4 or clip.shape[-1] != 3:
            raise ValueError(f"numpy clip must be (T, H, W, 3), got {clip.shape}")
        clip = torch.from_numpy(np.ascontiguousarray(clip)).permute(0, 3, 1, 2)
    if clip.ndim != 4 or clip.shape[1] != 3:
        raise ValueError(f"clip tensor must be (T, 3, H, W), got {tuple(clip.shape)}")
    if clip.is_floating_point():
        clip = F.to_dtype(clip, torch.uint8, scale=True)
    elif clip.dtype != torch.uint8:
        raise TypeError(f"clip must be uint8 or float in [0, 1], got {clip.dtype}")
    return clip


class ClipJPEG:
    """JPEG-compress every frame of a clip at one quality drawn from `quality` (inclusive), with OpenCV.
    Used instead of v2.JPEG, whose torchvision.io codec is deprecated since torchvision 0.29 and warns
    on every call. Takes and returns uint8 `(T, 3, H, W)` (a `tv_tensors.Video` stays one)."""

    def __init__(self, quality: Sequence[int]):
        lo, hi = (int(q) for q in quality)
        if not 1 <= lo <= hi <= 100:
            raise ValueError(f"JPEG quality range must satisfy 1 <= low <= high <= 100, got {quality}")
        self.quality = (lo, hi)

    def __call__(self, clip: torch.Tensor) -> torch.Tensor:
        quality = int(torch.randint(self.quality[0], self.quality[1] + 1, ()).item())  # torch RNG: seedable
        frames = clip.permute(0, 2, 3, 1).numpy()[..., ::-1]  # (T, H, W, 3) BGR view
        coded = np.stack([_jpeg_roundtrip(f, quality) for f in frames])[..., ::-1]  # back to RGB
        out = torch.from_numpy(np.ascontiguousarray(coded)).permute(0, 3, 1, 2)
        return tv_tensors.wrap(out, like=clip) if isinstance(clip, tv_tensors.TVTensor) else out

    def __repr__(self) -> str:
        return f"ClipJPEG(quality={list(self.quality)})"


class ClipDegrade:
    """With probability `p`, degrade the whole clip with one `lab.data.perturb` perturbation at a severity drawn
    uniformly from `severity` (inclusive; integers for H.264's CRF): one draw per clip, so the frames stay
    consistent in time. Takes and returns uint8 `(T, 3, H, W)` (a `tv_tensors.Video` stays one). Holds only a
    name and numbers, so it pickles into DataLoader workers."""

    def __init__(self, name: str, p: float, severity: Sequence[float]):
        if name not in PERTURBATIONS or PERTURBATIONS[name].temporal:
            raise ValueError(f"{name!r} is not a frame-count-preserving perturbation")
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"probability must be in [0, 1], got {p}")
        self.name, self.p = name, float(p)
        self.severity = (float(severity[0]), float(severity[1]))
        self.integer = name == "h264"

    def draw(self) -> float | None:
        """The severity for one clip, or None when this clip is left as it is (torch RNG: seedable)."""
        if self.p == 0.0 or float(torch.rand(())) >= self.p:
            return None
        lo, hi = self.severity
        if self.integer:
            return float(torch.randint(int(lo), int(hi) + 1, ()))
        return lo + (hi - lo) * float(torch.rand(()))

    def __call__(self, clip: torch.Tensor) -> torch.Tensor:
        severity = self.draw()
        if severity is None:
            return clip
        seed = int(torch.randint(0, 2**31 - 1, ()))  # the noise's draws follow the torch RNG too
        frames = clip.permute(0, 2, 3, 1).numpy()  # (T, H, W, 3)
        out = torch.from_numpy(PERTURBATIONS[self.name](frames, severity, seed)).permute(0, 3, 1, 2)
        return tv_tensors.wrap(out, like=clip) if isinstance(clip, tv_tensors.TVTensor) else out

    def __repr__(self) -> str:
        return f"ClipDegrade({self.name!r}, p={self.p}, severity={list(self.severity)})"


def degradations(aug: AugmentationConfig) -> list[ClipDegrade]:
    """The clip degradations `aug` switches on (p > 0), in the order a video meets them: downscaled, blurred,
    noisy, then re-encoded."""
    wanted = [("downscale", aug.downscale_p, aug.downscale_factor), ("blur", aug.blur_p, aug.blur_sigma),
              ("noise", aug.noise_p, aug.noise_sigma), ("h264", aug.h264_reencode_p, aug.h264_crf)]
    return [ClipDegrade(name, p, severity) for name, p, severity in wanted if p > 0]


def _jpeg_roundtrip(frame_bgr: np.ndarray, quality: int) -> np.ndarray:
    ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(frame_bgr), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:  # pragma: no cover - OpenCV always encodes uint8 3-channel frames
        raise RuntimeError("cv2.imencode failed on a frame")
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)


def centred_box(size: Sequence[int], height: int, width: int) -> tuple[int, int, int, int]:
    """(top, left, h, w): the largest box with the aspect ratio of `size` (h, w), centred in a height x width
    frame. It is what evaluation shows the model, and what a random training crop is a fraction of."""
    out_h, out_w = size
    if width * out_h >= height * out_w:  # the frame is wider than the output: full height
        box_h, box_w = height, max(1, min(width, round(height * out_w / out_h)))
    else:
        box_h, box_w = max(1, min(height, round(width * out_h / out_w))), width
    return (height - box_h) // 2, (width - box_w) // 2, box_h, box_w


class AspectCrop(v2.Transform):
    """Crop a box with the aspect ratio of `size` (h, w) and resize it to `size`; see the module docstring.

    random=False: the largest such box, centred. random=True: a box whose area is a fraction in `scale` of
    that largest box, at a uniformly random position; one draw per clip (the same box on every frame)."""

    def __init__(self, size: Sequence[int], scale: Sequence[float] = (1.0, 1.0), random: bool = False):
        super().__init__()
        self.size = (int(size[0]), int(size[1]))
        self.scale = (float(scale[0]), float(scale[1]))
        if not 0 < self.scale[0] <= self.scale[1] <= 1:
            raise ValueError(f"crop scale must satisfy 0 < low <= high <= 1, got {scale}")
        self.random = random

    def make_params(self, flat_inputs: list) -> dict:
        height, width = v2.query_size(flat_inputs)
        top, left, box_h, box_w = centred_box(self.size, height, width)
        if not self.random:
            return {"top": top, "left": left, "height": box_h, "width": box_w}
        area = float(torch.empty(()).uniform_(*self.scale))  # torch RNG: seeded per worker and epoch
        box_h, box_w = max(1, round(box_h * area ** 0.5)), max(1, round(box_w * area ** 0.5))
        top = int(torch.randint(0, height - box_h + 1, ()))
        left = int(torch.randint(0, width - box_w + 1, ()))
        return {"top": top, "left": left, "height": box_h, "width": box_w}

    def transform(self, inpt, params: dict):
        return F.resized_crop(inpt, **params, size=list(self.size), antialias=True)


class ClipTransform:
    """Thin wrapper: wraps the clip as a `tv_tensors.Video` (one parameter draw per clip), runs the
    v2 pipeline and returns a plain float tensor `(T, C, h, w)`. Picklable for DataLoader workers."""

    def __init__(self, pipeline: v2.Transform):
        self.pipeline = pipeline

    def __call__(self, clip: torch.Tensor | np.ndarray) -> torch.Tensor:
        out = self.pipeline(tv_tensors.Video(to_clip_tensor(clip)))
        return out.as_subclass(torch.Tensor)

    def __repr__(self) -> str:
        return f"ClipTransform({self.pipeline})"


def _color_jitter(aug: AugmentationConfig) -> v2.ColorJitter | None:
    if not (aug.color_jitter and aug.jitter_strength > 0):
        return None
    s = aug.jitter_strength
    return v2.ColorJitter(brightness=s, contrast=s, saturation=s, hue=min(s / 10, 0.5))


def build_transform(image: ImageConfig, augmentation: AugmentationConfig, train: bool,
                    jitter_in_loader: bool = True) -> ClipTransform:
    """Train: random aspect-preserving crop (or the centred one), flip, colour jitter, JPEG, the clip
    degradations (`degradations`: downscale, blur, noise, H.264), then float + normalise. Eval: the centred
    aspect-preserving crop + normalise. Each augmentation is drawn once per clip. `jitter_in_loader=False`
    (training only): no colour jitter and no normalisation, the clip stays float in [0, 1] for `DeviceJitter`."""
    size = (image.height, image.width)
    aug = augmentation
    random_crop = train and aug.random_crop
    steps: list[v2.Transform] = [AspectCrop(size, tuple(aug.crop_scale) if random_crop else (1.0, 1.0), random_crop)]
    if train and aug.horizontal_flip:
        steps.append(v2.RandomHorizontalFlip(p=0.5))
    jitter = _color_jitter(aug) if train else None
    if jitter is not None and jitter_in_loader:
        steps.append(jitter)
    if train and aug.jpeg_compression:
        # After the resize: re-encoding at model resolution is much cheaper than at source resolution
        # and still teaches robustness to block artefacts. JPEG needs uint8, so it precedes ToDtype.
        steps.append(ClipJPEG(aug.jpeg_quality))
    if train:
        # Also after the resize, for the same reason: H.264 at model resolution costs ~10 ms per 8x32x32 clip.
        steps += degradations(aug)
    steps.append(v2.ToDtype(torch.float32, scale=True))
    if not train or jitter_in_loader:
        steps.append(v2.Normalize(mean=list(aug.normalize.mean), std=list(aug.normalize.std)))
    return ClipTransform(v2.Compose(steps))


def jitter_on_device(augmentation: AugmentationConfig, device: torch.device) -> bool:
    """Whether training runs colour jitter and normalisation on `device` (`augmentation.jitter_on`; "auto":
    on CUDA). On one core the jitter of a 16-frame 224x224 clip takes about 110 ms, most of it the hue step, so
    loader workers cannot feed a GPU step that consumes hundreds of clips a second."""
    where = augmentation.jitter_on
    return where == "device" or (where == "auto" and device.type == "cuda")


class DeviceJitter:
    """Training's colour jitter and normalisation for a batch already on the training device: float clips
    (B, T, C, H, W) in [0, 1], as `build_transform(..., jitter_in_loader=False)` leaves them. torchvision's
    `ColorJitter` runs once per clip, so each clip gets its own draw and all its frames the same one, as in the
    loader. The draws come from the global torch RNG of the process that calls it (the training loop seeds it
    every step)."""

    def __init__(self, augmentation: AugmentationConfig):
        self.jitter = _color_jitter(augmentation)
        self.mean, self.std = list(augmentation.normalize.mean), list(augmentation.normalize.std)
        self._stats: dict[torch.device, tuple[torch.Tensor, torch.Tensor]] = {}  # no host copy per step

    def __call__(self, clips: torch.Tensor) -> torch.Tensor:
        if self.jitter is not None:
            clips = torch.stack([self.jitter(tv_tensors.Video(clip)).as_subclass(torch.Tensor) for clip in clips])
        if clips.device not in self._stats:
            self._stats[clips.device] = tuple(torch.tensor(v, device=clips.device).view(1, 1, 3, 1, 1)
                                              for v in (self.mean, self.std))
        mean, std = self._stats[clips.device]
        return (clips - mean) / std

    def __repr__(self) -> str:
        return f"DeviceJitter({self.jitter}, mean={self.mean}, std={self.std})"


def denormalize(x: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """Undo `Normalize` on `(..., C, H, W)` (a frame, `(T, C, H, W)` clip or a batch) -> [0, 1] for display."""
    shape = (-1, 1, 1)
    mean_t = torch.as_tensor(mean, dtype=x.dtype, device=x.device).view(shape)
    std_t = torch.as_tensor(std, dtype=x.dtype, device=x.device).view(shape)
    return (x * std_t + mean_t).clamp(0.0, 1.0)
