"""Clip transforms: shapes, normalisation, and one draw of random parameters per clip."""
from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from lab.config import AugmentationConfig, ImageConfig, NormalizeConfig
from lab.data.transforms import build_transform, denormalize

IMAGE = ImageConfig(height=24, width=32)
ALL_ON = AugmentationConfig(horizontal_flip=True, random_crop=True, color_jitter=True, jitter_strength=0.4,
                            crop_scale=(0.5, 1.0), jpeg_compression=True, jpeg_quality=(20, 60))
ONLY_FLIP = AugmentationConfig(horizontal_flip=True, random_crop=False, color_jitter=False)


def clip_tensor(frames: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(frames).permute(0, 3, 1, 2).contiguous()  # (T, H, W, 3) -> (T, 3, H, W)


def test_eval_transform_resizes_and_normalises(synthetic_frames):
    frames = synthetic_frames(5, 48, 64)
    out = build_transform(IMAGE, AugmentationConfig(), train=False)(frames)  # numpy (T, H, W, 3) accepted
    assert out.shape == (5, 3, 24, 32) and out.dtype == torch.float32
    grey = torch.full((4, 3, 10, 12), 128, dtype=torch.uint8)
    norm = NormalizeConfig()
    out = build_transform(IMAGE, AugmentationConfig(), train=False)(grey)
    expected = (128 / 255 - torch.tensor(norm.mean)) / torch.tensor(norm.std)
    assert torch.allclose(out[:, :, 5, 5], expected.expand(4, 3), atol=1e-5)
    back = denormalize(out, norm.mean, norm.std)
    assert back.min() >= 0 and back.max() <= 1 and torch.allclose(back, torch.full_like(back, 128 / 255), atol=1e-5)


def test_eval_transform_is_deterministic(synthetic_frames):
    clip = clip_tensor(synthetic_frames(3, 40, 40))
    transform = build_transform(IMAGE, ALL_ON, train=False)
    assert torch.equal(transform(clip), transform(clip))


@pytest.mark.parametrize("seed", range(5))
def test_train_transform_draws_one_set_of_parameters_per_clip(seed, synthetic_frames):
    """T identical frames must stay identical after crop + flip + jitter + JPEG, whatever was drawn."""
    frame = synthetic_frames(1, 48, 64, seed=seed)
    clip = clip_tensor(np.repeat(frame, 6, axis=0))
    torch.manual_seed(seed)
    out = build_transform(IMAGE, ALL_ON, train=True)(clip)
    assert out.shape == (6, 3, 24, 32) and out.dtype == torch.float32
    for t in range(1, 6):
        assert torch.equal(out[t], out[0])
    assert not torch.equal(out[0], build_transform(IMAGE, ALL_ON, train=False)(clip)[0])  # something was applied


def test_flip_applies_to_every_frame_or_none(synthetic_frames):
    clip = clip_tensor(synthetic_frames(5, IMAGE.height, IMAGE.width))  # different, non-symmetric frames
    plain = build_transform(IMAGE, ONLY_FLIP, train=False)(clip)
    mirrored = plain.flip(-1)
    transform = build_transform(IMAGE, ONLY_FLIP, train=True)
    outcomes = set()
    for seed in range(12):
        torch.manual_seed(seed)
        out = transform(clip)
        flipped = [torch.allclose(out[t], mirrored[t]) for t in range(5)]
        kept = [torch.allclose(out[t], plain[t]) for t in range(5)]
        assert all(flipped) or all(kept), f"seed {seed}: frames disagree (flipped {flipped})"
        outcomes.add(all(flipped))
    assert outcomes == {True, False}  # both outcomes occur across seeds


def test_jpeg_compression_alters_a_video_clip(synthetic_frames):
    clip = clip_tensor(synthetic_frames(3, IMAGE.height, IMAGE.width))
    aug = AugmentationConfig(horizontal_flip=False, random_crop=False, color_jitter=False,
                             jpeg_compression=True, jpeg_quality=(5, 5))
    out = build_transform(IMAGE, aug, train=True)(clip)
    assert not torch.allclose(out, build_transform(IMAGE, aug, train=False)(clip))


def test_transform_pickles_for_dataloader_workers(synthetic_frames):
    transform = pickle.loads(pickle.dumps(build_transform(IMAGE, ALL_ON, train=True)))
    assert transform(clip_tensor(synthetic_frames(2))).shape == (2, 3, 24, 32)


def test_bad_clip_shapes_are_rejected():
    transform = build_transform(IMAGE, AugmentationConfig(), train=False)
    with pytest.raises(ValueError, match=r"\(T, 3, H, W\)"):
        transform(torch.zeros(3, 10, 10, dtype=torch.uint8))
