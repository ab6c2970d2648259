"""Face swaps: a fake differs from its real only inside its stored mask (exactly before encoding, up to the codec
after), reals and fakes share the crop, landmarks are found on every frame and cached, and the split keeps the
test identity's scene out of training."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from lab.data.clips import load_clip
from lab.data.faceswap.composite import BLENDS, COLOURS, composite
from lab.data.faceswap.generate import FaceSwapSpec, _sources, _span, check_sources, generate_faceswap
from lab.data.faceswap.landmarks import CNN, HOG, clip_landmarks
from lab.data.faceswap.swap import crop_frames, to_crop
from lab.data.video import open_item
from lab.errors import ConfigError

FRAMES = 12
# carphone (P2) as the test target, faces from P1 (kphotoalbum's clip) and from carphone itself (reenactment)
SPEC = FaceSwapSpec(train=0, val=0, test=6, frames=FRAMES, train_targets=("kphotoalbum-movie",),
                    test_targets=("carphone_pristine",), seed=3)


@pytest.fixture(scope="module")
def swaps(registry_cache, tmp_path_factory):
    root = tmp_path_factory.mktemp("swaps")
    manifest = generate_faceswap(root, SPEC)
    clip, _ = load_clip("carphone_pristine")
    pairs = []
    for (_, real), (_, fake) in zip(manifest[manifest.label == 0].iterrows(), manifest[manifest.label == 1].iterrows()):
        mask = cv2.imread(str(root / "test" / fake["mask"]), cv2.IMREAD_GRAYSCALE).reshape(FRAMES, 96, 96) > 0
        crop = tuple(int(v) for v in real["crop"].split())
        pairs.append(dict(real=real, fake=fake, mask=mask, crop=crop,
                          real_frames=open_item(root / "test" / real["item"]).read(0, FRAMES).astype(int),
                          fake_frames=open_item(root / "test" / fake["item"]).read(0, FRAMES).astype(int),
                          source=crop_frames(clip[real["start"]:real["start"] + FRAMES], crop, 96).astype(int)))
    return manifest, pairs


def test_the_manifest_records_each_fakes_variant(swaps):
    manifest, pairs = swaps
    fakes = manifest[manifest.label == 1]
    assert set(fakes.face_source) == {"P1", "reenact"} and set(fakes.target) == {"P2"}
    assert set(fakes.relation) == {"identity swap", "reenactment"}
    assert fakes[["warp", "colour", "blend", "erode", "blur", "smoothing"]].notna().all().all()
    assert set(manifest.format) == {"png", "jpg", "mp4"} and set(manifest.split_rule) == {"clip:test"}


def test_reals_and_fakes_share_the_crop_geometry(swaps):
    _, pairs = swaps
    for pair in pairs:
        real, fake = pair["real"], pair["fake"]
        assert (real["crop"], real["start"], real["format"], real["frames"]) == (
            fake["crop"], fake["start"], fake["format"], fake["frames"])
        x0, y0, x1, y1 = pair["crop"]
        assert x1 - x0 == y1 - y0 > 0  # a square in the frame, resized to 96
        if real["format"] == "png":  # the real is the clip's crop, bit for bit
            assert np.array_equal(pair["real_frames"], pair["source"])


def test_a_fake_differs_from_its_real_only_inside_its_mask(swaps):
    _, pairs = swaps
    for pair in pairs:
        mask, fmt = pair["mask"], pair["real"]["format"]
        difference = np.abs(pair["fake_frames"] - pair["real_frames"]).mean(-1)
        assert mask.any(axis=(1, 2)).all() and not mask.all()
        if fmt == "png":  # lossless: exactly equal outside, and the mask is where it changed
            assert difference[~mask].max() == 0 and difference[mask].mean() > 1
            continue
        # lossy: outside the mask no further from the real than the codec is from its own input
        codec_error = np.abs(pair["real_frames"] - pair["source"]).mean()
        outside, inside = difference[~mask].mean(), difference[mask].mean()
        print(f"{fmt} {pair['fake']['relation']}: codec {codec_error:.2f}, outside {outside:.2f}, inside {inside:.2f}")
        assert outside <= codec_error
        if pair["fake"]["relation"] == "identity swap":  # another face: several times the outside change
            assert inside >= 3 * outside


@pytest.mark.parametrize("blend", BLENDS)
def test_every_blend_leaves_the_target_exact_outside_its_support(registry_cache, blend):
    clip, _ = load_clip("carphone_pristine")
    points = clip_landmarks("carphone_pristine", clip).points[40]
    crop = (30, 20, 130, 120)
    target = crop_frames(clip[40:41], crop, 96)[0]
    face = np.random.default_rng(0).integers(0, 256, target.shape, dtype=np.uint8)
    for colour in COLOURS:
        fake, support = composite(target, face, to_crop(points, crop, 96), erode=4, blur=6, colour=colour,
                                  blend_method=blend)
        assert np.array_equal(fake[~support], target[~support]) and (fake[support] != target[support]).any()
    if blend != "alpha":  # what the clamp is for: these blends reach beyond the mask they are given
        from lab.data.faceswap.composite import blend as raw_blend, feathered_mask

        alpha = feathered_mask(to_crop(points, crop, 96), target.shape[:2], 4, 6)
        assert (raw_blend(face, target, alpha, blend) != target)[~support].any()


def test_landmarks_are_found_on_every_frame_and_cached(registry_cache, monkeypatch):
    clip, _ = load_clip("carphone_pristine")
    track = clip_landmarks("carphone_pristine", clip)
    assert track.found.all() and track.points.shape == (120, 68, 2)
    assert (track.how == HOG).sum() >= 110 and (track.how == CNN).sum() >= 1  # HOG misses the last frames
    import lab.data.faceswap.landmarks as landmarks

    monkeypatch.setattr(landmarks, "detect_landmarks", lambda frames: pytest.fail("the cached track was not used"))
    assert np.array_equal(clip_landmarks("carphone_pristine", clip).points, track.points)


def test_the_split_keeps_the_test_scene_out_of_training():
    spec = FaceSwapSpec()
    check_sources(spec)  # the real-footage set's clip split: P1, P2 train clips, P3 (movie-hello) a test clip
    assert spec.test_targets == ("movie-hello",)
    for target in spec.train_targets:
        assert "movie-hello" not in _sources(spec, target)
        assert _span(spec, target, "train")[1] <= _span(spec, target, "val")[0]  # val is the time tail
    assert _sources(spec, "movie-hello") == ["kphotoalbum-movie", "carphone_pristine", "reenact"]
    with pytest.raises(ConfigError, match="both a training and a test target"):
        FaceSwapSpec(train_targets=("movie-hello",), test_targets=("movie-hello",))
    with pytest.raises(ConfigError, match="keep the clip split"):
        check_sources(SPEC)  # carphone is a training clip of the real-footage set
