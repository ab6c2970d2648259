"""Media shaped like users' files, built at test time: frames whose index survives H.264 as a barcode,
H.264 .mp4 with B-frames (PyAV), phone-style rotation metadata. Plain functions; import them directly."""
from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

BITS = 10  # frame indices up to 1023
_CELL = 16  # barcode cell size in pixels: large flat blocks survive lossy coding


def barcode_frames(n: int, height: int = 144, width: int = 256, seed: int = 0) -> np.ndarray:
    """`(n, H, W, 3)` uint8 RGB frames: a moving textured background (so the encoder predicts between frames)
    and, top left, the frame index in BITS black/white cells that `read_barcode` recovers after H.264."""
    rng = np.random.default_rng(seed)
    texture = rng.integers(40, 200, size=(height // 8 + 1, width // 8 + 8, 3)).astype(np.uint8)
    texture = np.kron(texture, np.ones((8, 8, 1), np.uint8))
    frames = np.empty((n, height, width, 3), np.uint8)
    for i in range(n):
        frames[i] = texture[:height, i % 64:i % 64 + width]
        for b in range(BITS):
            frames[i, 0:_CELL, b * _CELL:(b + 1) * _CELL] = 255 if (i >> b) & 1 else 0
    return frames


def read_barcode(frame: np.ndarray) -> int:
    """The index `barcode_frames` drew into an (upright) RGB frame."""
    margin = _CELL // 4
    cells = [frame[margin:_CELL - margin, b * _CELL + margin:(b + 1) * _CELL - margin].mean() for b in range(BITS)]
    return sum(1 << b for b, value in enumerate(cells) if value > 128)


def picture_types(path: str | Path) -> list[str]:
    """Each decoded frame's picture type ("I", "P", "B"), in presentation order, decoded by PyAV."""
    import av
    from av.video.frame import PictureType

    with av.open(str(path)) as container:
        return [PictureType(int(frame.pict_type)).name for frame in container.decode(video=0)]


def set_rotation(path: str | Path, degrees: int) -> Path:
    """Write the track header's display matrix the way phones do (rotation 90 or 270), in place."""
    a, b = {90: (0, 1), 270: (0, -1)}[degrees]
    one = 1 << 16
    data = bytearray(Path(path).read_bytes())
    at = data.find(b"tkhd")
    version = data[at + 4]
    offset = at + 4 + 4 + (32 if version == 1 else 20) + 8 + 8  # past flags, times, ids, duration, reserved, layer...
    data[offset:offset + 36] = struct.pack(">9i", a * one, b * one, 0, -b * one, a * one, 0, 0, 0, 1 << 30)
    Path(path).write_bytes(bytes(data))
    return Path(path)
