"""Frame decoding for one item: a folder of frame images or a video file (no windowing here).

Every reader returns RGB uint8 frames, `(H, W, 3)` one at a time or `(T, H, W, 3)` for a range.
Video captures are opened for one read and released at once, so a `FrameSource` holds only
plain data (path, frame count, fps): it pickles into DataLoader workers and never shares a cv2 handle.

What a frame index means: frame i of a video is the i-th frame in presentation order, i.e. what a
sequential decode from the start yields (B-frames reordered, as displayed). It is not a time: in a
variable-frame-rate video a window of T frames spans a variable time. Random access (`read(start, n)`)
returns exactly the frames a sequential decode gives: OpenCV seeks by frame number only where its
timestamp-to-frame arithmetic is exact for every frame (constant frame rate, checked against the packet
timestamps at open); other videos are read forward from the first frame (correct, slower). Frames come
upright as a player shows them: the container's rotation (phones write it) is applied, so a portrait
phone video gives portrait frames in every reader.
"""
from __future__ import annotations

import math
import os
import re
from fractions import Fraction
from pathlib import Path
from typing import Iterator

# FFmpeg inside OpenCV prints its own decoder complaints ("moov atom not found", "Invalid NAL unit size") to
# stderr, dozens of lines per broken file; our DataError says what is wrong in one line instead. Read at the
# first capture; set OPENCV_FFMPEG_LOGLEVEL=32 to see them again.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")

import cv2  # noqa: E402
import numpy as np

from lab.errors import DataError
from lab.outputs import atomic_path

IMAGE_EXTS = frozenset({".jpg", ".jpeg", ".png", ".bmp"})
VIDEO_EXTS = frozenset({".mp4", ".avi", ".mov", ".mkv", ".webm", ".mpg", ".mpeg"})

_REENCODE_HINT = "re-encode it with ffmpeg -i IN -c:v libx264 OUT.mp4, or remove it"


def is_image(path: str | Path) -> bool:
    return Path(path).suffix.lower() in IMAGE_EXTS


def is_video(path: str | Path) -> bool:
    return Path(path).suffix.lower() in VIDEO_EXTS


def natural_key(name: str) -> list:
    """Sort key that orders embedded numbers by value: frame_2 < frame_10."""
    return [(0, int(part), "") if part.isdigit() else (1, 0, part.lower())
            for part in re.split(r"(\d+)", name) if part]


def list_frames(folder: str | Path) -> list[Path]:
    """Image files directly inside `folder`, in natural order (hidden files ignored)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError("frame folder does not exist", folder, "pass a folder of .jpg/.png frames")
    frames = [p for p in folder.iterdir() if p.is_file() and is_image(p) and not p.name.startswith(".")]
    return sorted(frames, key=lambda p: natural_key(p.name))


# ------------------------------------------------------------------------------------------- pixels


def to_rgb(frame: np.ndarray, source: str | Path = "<array>") -> np.ndarray:
    """OpenCV's BGR / BGRA / grayscale (8 or 16 bit) -> RGB uint8 `(H, W, 3)`."""
    if frame.dtype == np.uint16:
        frame = (frame >> 8).astype(np.uint8)
    elif frame.dtype != np.uint8:
        raise DataError(f"image has {frame.dtype} pixels", source, "save it as an 8- or 16-bit JPEG or PNG")
    if frame.ndim == 3 and frame.shape[2] == 1:
        frame = frame[:, :, 0]
    if frame.ndim == 2:
        return cv2.cvtColor(frame, cv2.COLOR_GRAY2RGB)
    if frame.ndim == 3 and frame.shape[2] == 3:
        return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
    if frame.ndim == 3 and frame.shape[2] == 4:
        return cv2.cvtColor(frame, cv2.COLOR_BGRA2RGB)  # alpha dropped, colour kept
    raise DataError(f"image has shape {frame.shape}, not grayscale, RGB or RGBA", source,
                    "save it as a grayscale, RGB or RGBA JPEG or PNG")


def read_image(path: str | Path) -> np.ndarray:
    """One image file -> RGB uint8 `(H, W, 3)`. imdecode(fromfile) also handles non-ASCII paths."""
    path = Path(path)
    try:
        raw = np.fromfile(path, dtype=np.uint8)
    except OSError as exc:
        raise DataError(f"cannot read image, {exc.strerror}", path,
                        "check that the file exists and is readable") from None
    image = cv2.imdecode(raw, cv2.IMREAD_UNCHANGED) if raw.size else None
    if image is None:
        raise DataError("image is empty or corrupt" if raw.size else "image is an empty file", path,
                        "replace or delete it")
    return to_rgb(image, path)


def write_image(path: str | Path, frame_rgb: np.ndarray, quality: int = 95) -> Path:
    """Write an RGB uint8 `(H, W, 3)` frame; the format follows the suffix (tofile: non-ASCII safe)."""
    path = Path(path)
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if path.suffix.lower() in (".jpg", ".jpeg") else []
    ok, buf = cv2.imencode(path.suffix, cv2.cvtColor(frame_rgb, cv2.COLOR_RGB2BGR), params)
    if not ok:
        raise DataError(f"cannot encode a frame as '{path.suffix}'", path, "use a .jpg or .png name")
    buf.tofile(path)
    return path


# ------------------------------------------------------------------------------------------- videos


def write_video(path: str | Path, frames_rgb: np.ndarray, fps: float = 12.0, fourcc: str = "mp4v") -> Path:
    """Encode RGB uint8 `(T, H, W, 3)` frames with OpenCV (mp4v: the wheels cannot write H.264).
    mp4v drops an odd last row/column, so give even sizes."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    height, width = frames_rgb.shape[1:3]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), float(fps), (width, height))
    if not writer.isOpened():
        raise DataError(f"OpenCV cannot write a {fourcc} video", path,
                        "check the folder is writable, or use fourcc mp4v")
    try:
        for frame in frames_rgb:
            writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    finally:
        writer.release()
    return path


def write_h264(path: str | Path, frames_rgb: np.ndarray, fps: float = 25.0, *, crf: int = 20, gop: int = 48,
               bframes: int = 3, times: np.ndarray | None = None, preset: str = "veryfast") -> Path:
    """Encode RGB uint8 `(T, H, W, 3)` frames as H.264 (libx264 in PyAV's wheel) in an .mp4, the way real
    datasets are stored: B-frames, a keyframe every `gop` frames, quality `crf`. `times` (seconds, one per
    frame, increasing) gives a variable frame rate. Written atomically (`lab.outputs.atomic_path`)."""
    import av  # PyAV: OpenCV's wheels cannot write H.264

    path = Path(path)
    height, width = frames_rgb.shape[1:3]
    rate = Fraction(fps).limit_denominator(1001)
    time_base = Fraction(1, 90000)
    with atomic_path(path) as tmp, av.open(str(tmp), "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=rate)
        stream.width, stream.height, stream.pix_fmt = width - width % 2, height - height % 2, "yuv420p"
        stream.time_base = stream.codec_context.time_base = time_base
        stream.options = {"crf": str(crf), "g": str(gop), "bf": str(bframes), "preset": preset}
        for i, frame in enumerate(frames_rgb):
            video_frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame[:stream.height, :stream.width]),
                                                     format="rgb24")
            seconds = float(times[i]) if times is not None else i / float(rate)
            video_frame.pts, video_frame.time_base = round(seconds / time_base), time_base
            container.mux(stream.encode(video_frame))
        container.mux(stream.encode())
    return path


def _open_capture(path: Path) -> cv2.VideoCapture:
    if not path.is_file():
        raise DataError("video not found", path, "check the path")
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        cap.release()
        empty = path.stat().st_size == 0
        what = "video is an empty file" if empty else "video cannot be opened, corrupt or an unsupported codec"
        raise DataError(what, path, _REENCODE_HINT)
    cap.set(cv2.CAP_PROP_ORIENTATION_AUTO, 1)  # frames upright, as displayed (the default; made explicit)
    return cap


def frame_times(path: str | Path) -> np.ndarray | None:
    """Presentation times (seconds from the first frame) of every frame, in order, from the container's
    packet timestamps: PyAV demuxes, nothing is decoded. None when PyAV cannot read the timestamps."""
    import av

    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            pts = [packet.pts for packet in container.demux(stream) if packet.pts is not None]
            time_base = float(stream.time_base)
    except (av.error.FFmpegError, IndexError, TypeError):
        return None
    if not pts:
        return None
    ticks = np.sort(np.asarray(pts, dtype=np.int64))
    return (ticks - ticks[0]) * time_base


def seeks_exactly(times: np.ndarray | None, fps: float | None, num_frames: int) -> bool:
    """Whether OpenCV's seek by frame number lands on frame i for every i. OpenCV maps a frame's timestamp
    t to the number round(t * fps); that is the frame's index only at a constant frame rate."""
    if times is None or fps is None or len(times) != num_frames:
        return False
    return bool(np.array_equal(np.floor(times * fps + 0.5).astype(np.int64), np.arange(num_frames)))


def count_frames(cap: cv2.VideoCapture) -> int:
    """Exact frame count. The container's count is checked by seeking to its last frame
    (frame N-1 decodes and N does not); if that fails, every frame is grabbed once."""
    reported = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    if reported > 0 and cap.set(cv2.CAP_PROP_POS_FRAMES, reported - 1) and cap.grab() and not cap.grab():
        return reported
    cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
    return count_frames_by_grabbing(cap)


def count_frames_by_grabbing(cap: cv2.VideoCapture) -> int:
    """Frames left from the capture's position; grab() demuxes and decodes but skips colour conversion."""
    n = 0
    while cap.grab():
        n += 1
    return n


def _read_video_frame(cap: cv2.VideoCapture, path: Path, index: int, num_frames: int) -> np.ndarray:
    ok, frame = cap.read()
    if not ok or frame is None:
        raise DataError(f"frame {index} of {num_frames} cannot be decoded", path, _REENCODE_HINT)
    return to_rgb(frame, path)


# ------------------------------------------------------------------------------------- frame sources


class FrameSource:
    """One item's frames. `read(start, count)` -> `(count, H, W, 3)` uint8 RGB; `iter_frames(start)`
    streams `(H, W, 3)` frames with bounded memory. `num_frames` is exact; `fps` is None for folders."""

    path: Path
    num_frames: int
    fps: float | None

    def read(self, start: int, count: int) -> np.ndarray:
        raise NotImplementedError

    def iter_frames(self, start: int = 0) -> Iterator[np.ndarray]:
        raise NotImplementedError

    def _check_range(self, start: int, count: int) -> None:
        if count < 1 or start < 0 or start + count > self.num_frames:
            raise IndexError(f"frames [{start}, {start + count}) outside '{self.path}' "
                             f"({self.num_frames} frames)")

    def __len__(self) -> int:
        return self.num_frames

    def __repr__(self) -> str:
        return f"{type(self).__name__}('{self.path}', num_frames={self.num_frames}, fps={self.fps})"


class FrameFolder(FrameSource):
    """A folder of frame images (natural order). All frames of one folder must share one size."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.frames = list_frames(self.path)
        if not self.frames:
            raise DataError("frame folder holds no .jpg/.jpeg/.png/.bmp frames", self.path,
                            "add frames or remove the folder")
        self.num_frames = len(self.frames)
        self.fps = None

    def read(self, start: int, count: int) -> np.ndarray:
        self._check_range(start, count)
        frames = [read_image(p) for p in self.frames[start:start + count]]
        for p, f in zip(self.frames[start + 1:start + count], frames[1:]):
            self._check_size(p, f, self.frames[start], frames[0])
        return np.stack(frames)

    def iter_frames(self, start: int = 0) -> Iterator[np.ndarray]:
        first = None
        for p in self.frames[start:]:
            frame = read_image(p)
            first = first or (p, frame)
            self._check_size(p, frame, *first)
            yield frame

    @staticmethod
    def _check_size(path: Path, frame: np.ndarray, first_path: Path, first: np.ndarray) -> None:
        """Every frame of an item has one size (training and prediction alike): a resized mix would distort time."""
        if frame.shape != first.shape:
            raise DataError(f"frame is {frame.shape[1]}x{frame.shape[0]} but {first_path.name} is "
                            f"{first.shape[1]}x{first.shape[0]}", path, "resize the folder's frames to one size")


class VideoFile(FrameSource):
    """A video file. Frame count, fps and whether seeking is exact are found once here; each read opens its
    own capture. `seekable` False (variable frame rate, or timestamps PyAV cannot read): reads decode
    forward from frame 0, so a window still holds exactly frames start..start+n-1."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        cap = _open_capture(self.path)
        try:
            fps = cap.get(cv2.CAP_PROP_FPS)
            self.fps = float(fps) if fps and math.isfinite(fps) and fps > 0 else None
            self.num_frames = count_frames(cap)
            self.rotation = int(cap.get(cv2.CAP_PROP_ORIENTATION_META))  # degrees, applied to every frame
        finally:
            cap.release()
        if self.num_frames == 0:
            raise DataError("video has no decodable frames", self.path, _REENCODE_HINT)
        self.seekable = seeks_exactly(frame_times(self.path), self.fps, self.num_frames)

    def _goto(self, cap: cv2.VideoCapture, start: int) -> None:
        """Position `cap` so that the next read returns frame `start`."""
        if start == 0:
            return
        if self.seekable:
            cap.set(cv2.CAP_PROP_POS_FRAMES, start)
            return
        for index in range(start):  # grab() decodes without the colour conversion
            if not cap.grab():
                raise DataError(f"frame {index} of {self.num_frames} cannot be decoded", self.path, _REENCODE_HINT)

    def read(self, start: int, count: int) -> np.ndarray:
        self._check_range(start, count)
        cap = _open_capture(self.path)
        try:
            self._goto(cap, start)
            return np.stack([_read_video_frame(cap, self.path, start + i, self.num_frames) for i in range(count)])
        finally:
            cap.release()

    def iter_frames(self, start: int = 0) -> Iterator[np.ndarray]:
        cap = _open_capture(self.path)
        try:
            self._goto(cap, start)
            for index in range(start, self.num_frames):
                yield _read_video_frame(cap, self.path, index, self.num_frames)
        finally:
            cap.release()


def open_item(path: str | Path) -> FrameSource:
    """A frame folder or a video file -> its `FrameSource`."""
    path = Path(path)
    if path.is_dir():
        return FrameFolder(path)
    if path.is_file() and is_video(path):
        return VideoFile(path)
    if not path.exists():
        raise DataError("path not found", path, "pass a folder of frames or a video file")
    raise DataError("neither a folder of frames nor a video", path,
                    f"pass a folder of frames or a video file ({', '.join(sorted(VIDEO_EXTS))})")


def iter_frames(path: str | Path, start: int = 0) -> Iterator[np.ndarray]:
    """Stream RGB `(H, W, 3)` frames of a folder or video from `start`, one at a time (bounded memory)."""
    return open_item(path).iter_frames(start)
