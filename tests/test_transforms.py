"""Clip transforms: shapes, normalisation, and one draw of random parameters per clip."""
from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from lab.config import AugmentationConfig, ImageConfig, NormalizeConfig
from lab.data.transforms import DeviceJitter, build_transform, denormalize, jitter_on_device

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


# ------------------------------------------------------------------------------------------ crop geometry

SQUARE = ImageConfig(height=32, width=32)
CROP_ONLY = AugmentationConfig(horizontal_flip=False, random_crop=True, color_jitter=False, crop_scale=(0.8, 1.0))
SHAPES = {"16:9": (1080, 1920), "4:3": (480, 640), "9:16": (1280, 720)}


def ramp(height: int, width: int) -> torch.Tensor:
    """One frame whose red channel is the column and green channel the row, both scaled to 0..255."""
    x = torch.linspace(0, 255, width).round().to(torch.uint8).expand(height, width)
    y = torch.linspace(0, 255, height).round().to(torch.uint8)[:, None].expand(height, width)
    return torch.stack([x, y, torch.zeros_like(x)])[None]  # (1, 3, H, W)


def seen(out: torch.Tensor, height: int, width: int) -> tuple[float, float, float, float]:
    """(left, right, top, bottom) source coordinates the transformed frame shows, read off the ramps."""
    img = denormalize(out[0], NormalizeConfig().mean, NormalizeConfig().std) * 255
    return (img[0, :, 0].mean() / 255 * width, img[0, :, -1].mean() / 255 * width,
            img[1, 0, :].mean() / 255 * height, img[1, -1, :].mean() / 255 * height)


@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES.keys())
def test_training_crop_moves_over_the_whole_frame_and_keeps_the_aspect_ratio(shape):
    height, width = shape
    frame = ramp(height, width)
    train = build_transform(SQUARE, CROP_ONLY, train=True)
    torch.manual_seed(0)
    boxes = np.array([seen(train(frame), height, width) for _ in range(60)])
    lefts, rights, tops, bottoms = boxes.T
    long_side = max(height, width)
    # the box's position varies along the long side, and reaches near both ends of it
    spread = (lefts, rights) if width >= height else (tops, bottoms)
    assert spread[0].std() > 0.03 * long_side
    assert spread[0].min() < 0.08 * long_side and spread[1].max() > 0.92 * long_side
    # every crop is square in source pixels, like the 32x32 output: nothing is squashed
    np.testing.assert_allclose(rights - lefts, bottoms - tops, rtol=0.06)


@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES.keys())
def test_evaluation_sees_the_centred_box_of_the_same_aspect_ratio(shape):
    height, width = shape
    left, right, top, bottom = seen(build_transform(SQUARE, CROP_ONLY, train=False)(ramp(height, width)), height, width)
    side = min(height, width)
    np.testing.assert_allclose([right - left, bottom - top], [side, side], rtol=0.06)  # square, as trained
    np.testing.assert_allclose([(left + right) / 2, (top + bottom) / 2], [width / 2, height / 2], rtol=0.04)


def test_device_jitter_draws_per_clip_and_the_loader_leaves_it_out(synthetic_frames):
    """`augmentation.jitter_on: device`: the loader's clip stays unjittered in [0, 1]; `DeviceJitter` then gives
    every clip of the batch its own draw, one for all of its frames, and normalises as the loader would."""
    aug = AugmentationConfig(horizontal_flip=False, random_crop=False, color_jitter=True, jitter_strength=0.4)
    grey = torch.full((4, 3, 24, 32), 100, dtype=torch.uint8)
    loader_side = build_transform(IMAGE, aug, train=True, jitter_in_loader=False)(grey)
    assert torch.allclose(loader_side, torch.full_like(loader_side, 100 / 255))  # neither jittered nor normalised

    frame = clip_tensor(synthetic_frames(1, 24, 32))[0] / 255.0
    batch = frame.expand(3, 4, *frame.shape).clone()  # three identical clips of four identical frames
    torch.manual_seed(0)
    out = DeviceJitter(aug)(batch)
    assert out.shape == batch.shape
    for clip in out:
        assert torch.equal(clip, clip[:1].expand_as(clip))  # one draw per clip
    assert not torch.allclose(out[0], out[1]) and not torch.allclose(out[1], out[2])  # a draw per clip
    norm = NormalizeConfig()
    plain = DeviceJitter(AugmentationConfig(color_jitter=False))(batch)
    expected = (batch - torch.tensor(norm.mean).view(3, 1, 1)) / torch.tensor(norm.std).view(3, 1, 1)
    assert torch.allclose(plain, expected, atol=1e-6)


def test_jitter_goes_to_the_device_on_cuda_or_when_asked():
    cuda, cpu = torch.device("cuda"), torch.device("cpu")
    assert jitter_on_device(AugmentationConfig(), cuda) and not jitter_on_device(AugmentationConfig(), cpu)
    assert jitter_on_device(AugmentationConfig(jitter_on="device"), cpu)
    assert not jitter_on_device(AugmentationConfig(jitter_on="loader"), cuda)
