"""Session fixtures shared by the training, evaluation, notebook and widget tests: a tiny synthetic
dataset and a tiny trained checkpoint (CPU, seconds). Imported by conftest.py."""
from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TINY_OVERRIDES = (
    "sequence.length=4", "sequence.stride=4", "sequence.min_context=2", "image.height=32", "image.width=32",
    "model.pretrained=false", "model.output_stride=8", "model.input_streams=[rgb,residual,energy]",
    "model.convlstm.hidden_channels=[8,8]", "training.batch_size=4", "training.epochs=2",
    "training.scheduler.warmup_epochs=1", "training.learning_rate=0.001", "device=cpu",
    "augmentation.random_crop=false", "augmentation.color_jitter=false",
)


def tiny_config(data_root: Path, *extra: str):
    from lab.config import load_config

    paths = [f"data.{s}_dir={data_root / s}" for s in ("train", "val", "test")]
    return load_config(ROOT / "config/data_config.yaml", ROOT / "config/model_config.yaml",
                       overrides=[*TINY_OVERRIDES, *paths, *extra])


@pytest.fixture(scope="session")
def synth_root(tmp_path_factory) -> Path:
    """A tiny synthetic dataset in the seed layout: 4/3/3 videos per class, 12 frames of 32x32."""
    from lab.data.synth import SynthSpec, generate

    root = tmp_path_factory.mktemp("synth")
    generate(root, SynthSpec(train=4, val=3, test=3, frames=12, height=32, width=32, seed=3))
    return root


@pytest.fixture(scope="session")
def tiny_run(synth_root, tmp_path_factory):
    """A 2-epoch training run on `synth_root`: the TrainResult plus the folders it wrote into."""
    from lab.training.loop import fit

    out = tmp_path_factory.mktemp("run")
    result = fit(tiny_config(synth_root), run_name="tiny", checkpoint_dir=out / "checkpoints",
                 log_dir=out / "logs", publish_best=out / "checkpoints" / "best.pth", progress=False)
    return result


@pytest.fixture(scope="session")
def tiny_checkpoint(tiny_run) -> Path:
    return tiny_run.best_path
