"""Decoding frame folders and real .mp4 files; frame extraction (face tracking: test_faces.py)."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from lab.errors import DataError, StorageError
from lab.data.video import (
    IMAGE_EXTS, VIDEO_EXTS, FrameFolder, VideoFile, count_frames, count_frames_by_grabbing, is_image, is_video,
    iter_frames, list_frames, open_item, read_image,
)
from lab.data.extract import extract_frames, subsample_indices

TOLERANCE = 6  # mp4v is lossy; flat frames decode within a few grey levels


def means(frames: np.ndarray) -> np.ndarray:
    return frames.reshape(len(frames), -1).mean(axis=1)


def test_extension_sets_are_case_insensitive():
    assert {".jpg", ".jpeg", ".png", ".bmp"} == IMAGE_EXTS
    assert {".mp4", ".avi", ".mov", ".mkv", ".webm", ".mpg", ".mpeg"} == VIDEO_EXTS
    assert is_image("a/FRAME.JPG") and is_image("b.Png") and not is_image("c.txt")
    assert is_video("clip.MP4") and is_video("x.webm") and is_video("city.MPG") and not is_video("x.jpg")


def test_list_frames_natural_order_ignores_other_files(tmp_path, write_frames, indexed_frames):
    write_frames(tmp_path, indexed_frames(12), ext="png")  # frame_1 ... frame_12, unpadded
    (tmp_path / "notes.txt").write_text("not a frame")
    (tmp_path / ".hidden.png").write_bytes(b"")
    names = [p.name for p in list_frames(tmp_path)]
    assert names == [f"frame_{i}.png" for i in range(1, 13)]


def test_grayscale_and_rgba_images_become_rgb(tmp_path):
    gray = np.full((8, 10), 77, np.uint8)
    rgba = np.zeros((8, 10, 4), np.uint8)
    rgba[..., :3] = (200, 100, 50)  # RGB
    rgba[..., 3] = 128
    cv2.imwrite(str(tmp_path / "gray.png"), gray)
    cv2.imwrite(str(tmp_path / "rgba.png"), cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGRA))
    g, c = read_image(tmp_path / "gray.png"), read_image(tmp_path / "rgba.png")
    assert g.shape == (8, 10, 3) and g.dtype == np.uint8 and (g == 77).all()
    assert c.shape == (8, 10, 3) and tuple(c[0, 0]) == (200, 100, 50)


def test_frame_folder_reads_a_range(tmp_path, write_frames, indexed_frames):
    write_frames(tmp_path, indexed_frames(12), ext="png")
    src = open_item(tmp_path)
    assert isinstance(src, FrameFolder) and src.num_frames == 12 and src.fps is None
    clip = src.read(9, 3)  # frames 9, 10, 11: natural order puts frame_10 after frame_9
    assert clip.shape == (3, 32, 48, 3) and clip.dtype == np.uint8
    assert list(means(clip)) == [110.0, 120.0, 130.0]
    with pytest.raises(IndexError):
        src.read(10, 3)


def test_video_read_returns_exactly_the_requested_frames(tmp_path, write_video, indexed_frames):
    path = write_video(tmp_path / "ramp.mp4", indexed_frames(20), fps=10)
    src = open_item(path)
    assert isinstance(src, VideoFile) and src.num_frames == 20 and src.fps == pytest.approx(10)
    clip = src.read(7, 5)
    assert clip.shape == (5, 32, 48, 3) and clip.dtype == np.uint8
    got = means(clip)
    assert np.all(np.diff(got) > 0)
    assert np.allclose(got, 20 + 10 * np.arange(7, 12), atol=TOLERANCE)
    tail = list(iter_frames(path, start=15))
    assert len(tail) == 5 and np.allclose(means(np.stack(tail)), 20 + 10 * np.arange(15, 20), atol=TOLERANCE)
    assert np.allclose(means(src.read(19, 1)), 210, atol=TOLERANCE)  # the last frame is reachable


def test_frame_count_by_grabbing_matches(tmp_path, write_video, synthetic_frames):
    path = write_video(tmp_path / "clip.mp4", synthetic_frames(13))
    cap = cv2.VideoCapture(str(path))
    try:
        assert count_frames_by_grabbing(cap) == 13 == open_item(path).num_frames
    finally:
        cap.release()


class ReportsWrongCount:
    """A real capture whose container frame count is off, as with some mkv/webm headers."""

    def __init__(self, path, reported):
        self.cap, self.reported = cv2.VideoCapture(str(path)), reported

    def get(self, prop):
        return float(self.reported) if prop == cv2.CAP_PROP_FRAME_COUNT else self.cap.get(prop)

    def __getattr__(self, name):
        return getattr(self.cap, name)


@pytest.mark.parametrize("reported", [0, 9, 13, 25])
def test_unreliable_container_frame_count_is_corrected(tmp_path, write_video, synthetic_frames, reported):
    path = write_video(tmp_path / "clip.mp4", synthetic_frames(13))
    cap = ReportsWrongCount(path, reported)
    try:
        assert count_frames(cap) == 13
    finally:
        cap.release()


def test_corrupt_video_and_image_raise_data_error_naming_them(tmp_path, write_frames, indexed_frames):
    bad_video = tmp_path / "broken.mp4"
    bad_video.write_bytes(b"this is not a video" * 50)
    with pytest.raises(DataError, match="broken.mp4"):
        open_item(bad_video)
    folder = tmp_path / "frames"
    write_frames(folder, indexed_frames(3), ext="jpg")
    (folder / "frame_2.jpg").write_bytes(b"\xff\xd8garbage")
    with pytest.raises(DataError, match="frame_2.jpg"):
        open_item(folder).read(0, 3)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"no .jpg.*empty\)"):
        open_item(tmp_path / "empty")
    with pytest.raises(DataError, match="not found"):
        open_item(tmp_path / "missing.mp4")


def test_frames_of_different_sizes_in_one_folder_are_an_error(tmp_path, write_frames, indexed_frames):
    write_frames(tmp_path, indexed_frames(2, 32, 48), ext="png")
    write_frames(tmp_path, indexed_frames(1, 16, 16), ext="png", pattern="frame_{}b")
    with pytest.raises(DataError, match="one size"):
        open_item(tmp_path).read(0, 3)


def test_subsample_indices_keeps_the_first_frame_of_each_interval():
    assert subsample_indices(9, 30.0, None) == list(range(9))
    assert subsample_indices(9, 30.0, 10.0) == [0, 3, 6]
    assert len(subsample_indices(50, 25.0, 10.0)) == 20
    assert subsample_indices(5, 10.0, 60.0) == list(range(5))


def test_extract_frames_writes_every_frame_or_the_requested_rate(tmp_path, write_video, indexed_frames):
    video = write_video(tmp_path / "ramp.mp4", indexed_frames(20), fps=10)
    full = extract_frames(video, tmp_path / "all")
    assert [p.name for p in full.paths] == [f"frame_{i:04d}.jpg" for i in range(1, 21)]
    assert full.source_fps == pytest.approx(10) and full.faces_missed == full.faces_interpolated == 0
    half = extract_frames(video, tmp_path / "half", fps=5, image_format="png")
    assert len(half.paths) == 10 and all(p.suffix == ".png" for p in half.paths)
    got = means(np.stack([read_image(p) for p in half.paths]))
    assert np.allclose(got, 20 + 10 * np.arange(0, 20, 2), atol=TOLERANCE)  # frames 0, 2, 4, ...
    with pytest.raises(StorageError, match="already holds 10"):
        extract_frames(video, tmp_path / "half", fps=5, image_format="png")
    again = extract_frames(video, tmp_path / "half", fps=2.5, image_format="png", overwrite=True)
    assert len(again.paths) == 5 == len(list_frames(tmp_path / "half"))


def test_face_crop_without_any_face_raises(tmp_path, write_video, synthetic_frames):
    video = write_video(tmp_path / "noface.mp4", synthetic_frames(6, 64, 64))
    with pytest.raises(DataError, match="no face"):
        extract_frames(video, tmp_path / "out", face_crop=True)
    assert not (tmp_path / "out").exists()  # nothing written on failure
