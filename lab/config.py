"""Typed, frozen configuration: the seed's two YAML files, overlays and `--set key.path=value` overrides.

`config/data_config.yaml` and `config/model_config.yaml` have disjoint top-level keys, so together they
form one namespace (`sequence.length`, `model.backbone`, `training.batch_size`, ...). Every key has a
typed default here equal to the seed's value; docs/configuration.md documents every key.
An overlay file may list `defaults: [other.yaml, ...]` (paths relative to itself) that load first.
"""
from __future__ import annotations

import math
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from lab._structured import apply_override, build, flatten, merge, read_yaml, to_dict
from lab.errors import ConfigError

# ---------------------------------------------------------------------------------------------- data side


STREAM_NAMES = ("rgb", "residual", "residual2", "energy")  # lab.models.encoders.STREAMS implements them


@dataclass(frozen=True)
class DataConfig:
    train_dir: str = "data/train"
    val_dir: str = "data/val"
    test_dir: str = "data/test"
    # DataLoader worker processes; 0 decodes in the main process; "auto": from the CPUs this process may use
    # (lab.data.dataset.resolve_num_workers)
    num_workers: int | Literal["auto"] = "auto"
    # Decoded-frame cache (`lab cache build`, lab.data.cache) of each split for image.height x image.width:
    # "auto" reads it where one exists, "require" stops when one is missing, "off" always decodes. A cache whose
    # sources changed is refused under auto and require alike.
    cache: Literal["auto", "off", "require"] = "auto"
    # Fake items of these families are left out of the training and validation splits (reals stay; the test split
    # is untouched): one fold of leave-one-family-out (lab.experiments.leave_one_out), reproducible from the checkpoint.
    held_out_families: tuple[str, ...] = ()


@dataclass(frozen=True)
class SequenceConfig:
    length: int = 16  # consecutive frames per clip (T)
    stride: int = 8  # frames between the starts of two windows of one item
    # An item with fewer than `length` frames: "pad" repeats its last frame (counted in a warning),
    # "skip" leaves it out (counted in a warning), "error" stops with the item's path.
    short_items: Literal["pad", "skip", "error"] = "pad"
    max_windows_per_item: int = 0  # 0 = every window; >0 spreads that many windows evenly over the item
    # A per-timestep output is trained and reported only from the step that has seen this many frames of its
    # window (clamped to `length`): before that it has too little context to mean anything.
    min_context: int = 4

    @property
    def first_scored_step(self) -> int:
        """Index of the first timestep whose output is trained and reported (0-based)."""
        return min(self.min_context, self.length) - 1


@dataclass(frozen=True)
class ImageConfig:
    height: int = 224
    width: int = 224
    channels: Literal[3] = 3


@dataclass(frozen=True)
class NormalizeConfig:
    mean: tuple[float, ...] = (0.485, 0.456, 0.406)
    std: tuple[float, ...] = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class AugmentationConfig:
    horizontal_flip: bool = True
    random_crop: bool = True
    color_jitter: bool = True
    normalize: NormalizeConfig = field(default_factory=NormalizeConfig)
    crop_scale: tuple[float, ...] = (0.8, 1.0)  # random crop area, a fraction of the largest box of the input aspect
    jitter_strength: float = 0.2  # brightness/contrast/saturation; hue gets a tenth of it
    # Where training's colour jitter (and the normalisation after it) runs: in the loader's workers, or on the
    # training device after the batch arrives, one draw per clip as in the loader (it then follows the JPEG and
    # degradation steps). "auto": the device when training on CUDA, where the loader could not keep up.
    jitter_on: Literal["auto", "loader", "device"] = "auto"
    jpeg_compression: bool = False  # re-encode every frame of a clip at one random quality
    jpeg_quality: tuple[int, ...] = (60, 95)
    # Degradations of the whole clip (lab.data.perturb), each with probability p and a severity drawn from its
    # range, after the resize; they match the robustness sweep's (`lab experiment robustness`). All off by default.
    h264_reencode_p: float = 0.0  # re-encode the clip as H.264 (libx264, B-frames) and decode it again
    h264_crf: tuple[int, ...] = (23, 40)
    blur_p: float = 0.0  # Gaussian blur, sigma in pixels
    blur_sigma: tuple[float, ...] = (0.5, 2.0)
    noise_p: float = 0.0  # additive Gaussian noise, sigma in grey levels
    noise_sigma: tuple[float, ...] = (2.0, 10.0)
    downscale_p: float = 0.0  # shrink by a factor and scale back up
    downscale_factor: tuple[float, ...] = (0.5, 1.0)


# --------------------------------------------------------------------------------------------- model side


@dataclass(frozen=True)
class ConvLSTMConfig:
    hidden_channels: tuple[int, ...] = (64, 128)  # one per layer, or a single value for all layers
    kernel_size: int = 3
    num_layers: int = 2
    bidirectional: bool = False
    dropout: float = 0.0  # between stacked layers


@dataclass(frozen=True)
class ClassifierConfig:
    dropout: float = 0.5
    num_classes: Literal[2] = 2  # real / fake: scores are P(class 1 = fake)


@dataclass(frozen=True)
class D3Config:
    """The training-free D3 baseline (`model.temporal: d3`, lab.models.d3): how frames are embedded and which
    second-order difference is spread-scored."""

    # "backbone": the configured backbone (`model.pretrained` weights when you have them, else random-init), frozen,
    # its feature map at `model.output_stride` flattened; "pixels": each frame average-pooled to a fixed grid.
    embedding: Literal["backbone", "pixels"] = "backbone"
    pixel_grid: int = 8  # "pixels": grid x grid cells of RGB means per frame (3 * grid^2 values)
    # "vector": the norms of the vector second differences |e_(t+1) - 2 e_t + e_(t-1)|; "distance" (the paper's
    # exact form): the step distances |e_(t+1) - e_t| differenced once more. The clip score is the spread (std) of
    # either. "vector" scored higher on validation on both development sets (docs/results/d3-shortcuts.md).
    difference: Literal["distance", "vector"] = "vector"


@dataclass(frozen=True)
class ModelConfig:
    backbone: Literal["resnet18", "resnet34", "efficientnet_b0", "efficientnet_b2", "mobilenet_v2"] = "resnet18"
    pretrained: bool = True
    freeze_backbone: bool = False
    # With freeze_backbone: the last k stages of the encoder (as cut at output_stride) still train, the earlier
    # ones stay frozen (BatchNorm in eval mode); null: the whole backbone is frozen.
    trainable_stages: int | None = None
    convlstm: ConvLSTMConfig = field(default_factory=ConvLSTMConfig)
    classifier: ClassifierConfig = field(default_factory=ClassifierConfig)
    # "convlstm": encoder -> ConvLSTM -> head. "frame": the frame-only baseline (no recurrence,
    # per-frame logits averaged) that answers "does time help?". "d3": the training-free D3 baseline (`d3` below).
    temporal: Literal["convlstm", "frame", "d3"] = "convlstm"
    pooling: Literal["last", "mean", "attention"] = "last"  # how the clip embedding summarises time
    # How each step's feature map becomes a vector: mean over space, max, or both ("meanmax"); max keeps an
    # edit confined to a region (a face in a wide frame) from being diluted by the rest of the frame.
    spatial_pooling: Literal["mean", "max", "meanmax"] = "mean"
    # Any of rgb (first when used), residual (x_t - x_(t-1)), residual2 (x_t - 2 x_(t-1) + x_(t-2)), energy (how
    # the local fine-detail energy changes from frame to frame; lab.models.encoders.DetailEnergyStream). The
    # default adds the residual: from random weights the RGB-only ConvLSTM stays at chance on the synthetic set.
    input_streams: tuple[str, ...] = ("rgb", "residual")
    output_stride: Literal[4, 8, 16, 32] = 32  # cut the encoder where its feature map reaches this stride
    d3: D3Config = field(default_factory=D3Config)


@dataclass(frozen=True)
class SchedulerConfig:
    type: Literal["cosine", "onecycle", "none"] = "cosine"
    warmup_epochs: int = 5


@dataclass(frozen=True)
class EarlyStoppingConfig:
    patience: int = 10
    min_delta: float = 0.001


@dataclass(frozen=True)
class TrainingConfig:
    batch_size: int = 8
    epochs: int = 50
    learning_rate: float = 0.0001
    weight_decay: float = 0.01
    scheduler: SchedulerConfig = field(default_factory=SchedulerConfig)
    early_stopping: EarlyStoppingConfig = field(default_factory=EarlyStoppingConfig)
    grad_clip: float = 1.0  # max gradient norm; 0 disables clipping
    label_smoothing: float = 0.0
    amp: bool = True  # mixed precision on CUDA (bf16 where supported, else fp16 + GradScaler); off on CPU
    channels_last: bool = True  # CUDA only
    compile: bool = False  # torch.compile the model (CUDA only)
    deterministic: bool = False  # deterministic algorithms (on CUDA: cuDNN + cuBLAS too); errors where an op has none
    balanced_sampling: bool = True  # WeightedRandomSampler over the windows' labels
    # Weight of the auxiliary loss on the per-timestep outputs (steps from sequence.min_context on), which
    # makes per-frame scores trained outputs; 0 trains the clip output alone.
    step_loss_weight: float = 0.5
    # Mid-epoch checkpoints into last.pth (position, sums, optimizer): every N batches and/or every M minutes
    # of training, 0 = off. A resume continues from the last one, exactly.
    checkpoint_every_steps: int = 0
    checkpoint_every_minutes: float = 10.0
    nonfinite_loss: Literal["stop", "skip"] = "stop"  # a NaN/Inf loss stops the run, or the step is skipped and counted
    # At every validation: fit a temperature T on the clip logits (P(fake) = softmax(logits / T)), then choose the
    # threshold on the calibrated scores by Youden's J, the equal-error-rate point, or the highest recall with
    # an FPR on real validation clips <= target_fpr (lab.evaluation.calibration). Stored in every checkpoint.
    temperature_scaling: bool = True
    threshold: Literal["youden", "eer", "target_fpr"] = "youden"
    target_fpr: float = 0.01


@dataclass(frozen=True)
class InferenceConfig:
    aggregation: Literal["mean", "vote", "confident"] = "mean"  # windows -> one video score
    confident_fraction: float = 0.25  # "confident": average the windows furthest from 0.5
    batch_size: int = 8
    share_encoder: bool = True  # overlapping windows share each frame's encoder maps (equal scores, less work)


@dataclass(frozen=True)
class Config:
    data: DataConfig = field(default_factory=DataConfig)
    sequence: SequenceConfig = field(default_factory=SequenceConfig)
    image: ImageConfig = field(default_factory=ImageConfig)
    augmentation: AugmentationConfig = field(default_factory=AugmentationConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    inference: InferenceConfig = field(default_factory=InferenceConfig)
    device: str = "cuda"  # "cuda", "cuda:N", "cpu", "mps" or "auto"
    seed: int = 42

    def to_dict(self) -> dict[str, Any]:
        return to_dict(self)

    def replace(self, *overrides: str) -> "Config":
        """A copy with `key.path=value` overrides applied (validated like the files)."""
        data = self.to_dict()
        for item in overrides:
            apply_override(data, item)
        return from_dict(data)


# ------------------------------------------------------------------------------------------------ checks

_POSITIVE = {
    "sequence.length", "sequence.stride", "image.height", "image.width", "model.convlstm.kernel_size",
    "model.convlstm.num_layers", "model.classifier.num_classes", "training.batch_size", "training.epochs",
    "training.early_stopping.patience", "inference.batch_size", "sequence.min_context", "model.d3.pixel_grid",
}
_NON_NEGATIVE = {
    "data.num_workers", "sequence.max_windows_per_item", "augmentation.jitter_strength", "training.learning_rate",
    "training.weight_decay",
    "training.scheduler.warmup_epochs", "training.early_stopping.min_delta", "training.grad_clip",
    "training.step_loss_weight",
    "training.checkpoint_every_steps", "training.checkpoint_every_minutes", "model.trainable_stages",
}
_UNIT_INTERVAL = {
    "model.classifier.dropout", "model.convlstm.dropout", "training.label_smoothing",
    "inference.confident_fraction", "training.target_fpr",
}


def _validate(cfg: Config) -> None:
    flat = flatten(to_dict(cfg))
    for key in _POSITIVE:
        if flat[key] <= 0:
            raise ConfigError(f"{flat[key]!r} is not a positive number", key, "give a value > 0")
    for key in _NON_NEGATIVE:
        if isinstance(flat[key], (int, float)) and flat[key] < 0:  # "auto" (num_workers) is a word
            raise ConfigError(f"{flat[key]!r} is negative", key, "give a value >= 0")
    for key in _UNIT_INTERVAL:
        if not 0.0 <= flat[key] < 1.0:
            raise ConfigError(f"{flat[key]!r} is outside [0, 1)", key, "give a value >= 0 and < 1")
    if any(not name.strip() for name in cfg.data.held_out_families):
        raise ConfigError("an empty family name", "data.held_out_families", "give family names, e.g. [color_flicker]")
    if cfg.sequence.stride > cfg.sequence.length:
        raise ConfigError(f"stride {cfg.sequence.stride} is longer than a window of {cfg.sequence.length} frames, "
                          "so frames between windows are never seen", "sequence.stride",
                          "make it <= sequence.length; use sequence.max_windows_per_item to sample fewer windows")
    lstm = cfg.model.convlstm
    if len(lstm.hidden_channels) not in (1, lstm.num_layers) or min(lstm.hidden_channels) <= 0:
        raise ConfigError(f"{list(lstm.hidden_channels)} does not fit {lstm.num_layers} ConvLSTM layers",
                          "model.convlstm.hidden_channels",
                          "give one positive value, or one per layer of model.convlstm.num_layers")
    if cfg.model.trainable_stages is not None and not cfg.model.freeze_backbone:
        raise ConfigError(f"{cfg.model.trainable_stages} trainable stages of a backbone that is not frozen",
                          "model.trainable_stages", "set model.freeze_backbone=true to freeze the stages before them, "
                          "or model.trainable_stages=null")
    streams = cfg.model.input_streams
    check_streams(streams)
    if cfg.model.temporal == "d3" and cfg.sequence.length < 4:
        raise ConfigError(f"model.temporal=d3 scores the spread of second-order differences, which needs windows of "
                          f"at least 4 frames, not {cfg.sequence.length}", "sequence.length", "give 4 or more")
    norm = cfg.augmentation.normalize
    if len(norm.mean) != 3 or len(norm.std) != 3 or min(norm.std) <= 0:
        raise ConfigError("mean and std need three values each, std > 0", "augmentation.normalize",
                          "give three means and three positive stds, one per RGB channel")
    lo, hi = _pair(cfg.augmentation.crop_scale, "augmentation.crop_scale")
    if not 0 < lo <= hi <= 1:
        raise ConfigError(f"{[lo, hi]} is not an area range", "augmentation.crop_scale",
                          "give [low, high] with 0 < low <= high <= 1")
    qlo, qhi = _pair(cfg.augmentation.jpeg_quality, "augmentation.jpeg_quality")
    if not 1 <= qlo <= qhi <= 100:
        raise ConfigError(f"{[qlo, qhi]} is not a quality range", "augmentation.jpeg_quality",
                          "give [low, high] with 1 <= low <= high <= 100")
    _validate_degradations(cfg.augmentation)
    if not (cfg.device in ("cpu", "cuda", "mps", "auto") or cfg.device.startswith("cuda:")):
        raise ConfigError(f"unknown device {cfg.device!r}", "device", "use cpu, cuda, cuda:N, mps or auto")


def _validate_degradations(aug: AugmentationConfig) -> None:
    """Each clip degradation: a probability in [0, 1] and a [low, high] severity range it accepts."""
    limits = {"h264": ("h264_crf", 0, 51, "0 <= low <= high <= 51"),
              "blur": ("blur_sigma", 0, math.inf, "0 <= low <= high"),
              "noise": ("noise_sigma", 0, 255, "0 <= low <= high <= 255"),
              "downscale": ("downscale_factor", 1e-3, 1, "0 < low <= high <= 1")}
    for name, (range_key, floor, ceiling, rule) in limits.items():
        p_key = "h264_reencode_p" if name == "h264" else f"{name}_p"
        p = getattr(aug, p_key)
        if not 0.0 <= p <= 1.0:
            raise ConfigError(f"{p!r} is not a probability", f"augmentation.{p_key}", "give a value in [0, 1]")
        lo, hi = _pair(getattr(aug, range_key), f"augmentation.{range_key}")
        if not floor <= lo <= hi <= ceiling:
            raise ConfigError(f"{[lo, hi]} is not a severity range", f"augmentation.{range_key}",
                              f"give [low, high] with {rule}")


def check_streams(streams: typing.Sequence[str]) -> None:
    """A ConfigError unless `streams` is a non-empty list of known streams, each once, with rgb first when used
    (the backbone's first convolution, pretrained or not, reads the first stream)."""
    unknown = [s for s in streams if s not in STREAM_NAMES]
    if unknown:
        raise ConfigError(f"unknown stream {unknown[0]!r}", "model.input_streams",
                          f"use {', '.join(STREAM_NAMES)}, each at most once")
    if not streams or len(set(streams)) != len(streams) or ("rgb" in streams and streams[0] != "rgb"):
        raise ConfigError(f"{list(streams)} is not a stream list", "model.input_streams",
                          "name each stream at most once, rgb first when it is used")


def _pair(value: tuple, key: str) -> tuple:
    if len(value) != 2:
        raise ConfigError(f"{list(value)} is not a pair", key, "give two values [low, high]")
    return value


# ------------------------------------------------------------------------------------- dict <-> Config


def from_dict(data: dict[str, Any]) -> Config:
    """Build and validate a Config from a nested dict (missing keys take their defaults)."""
    cfg = build(Config, data)
    _validate(cfg)
    return cfg


def load_config(
    *paths: str | Path,
    overrides: typing.Sequence[str] = (),
) -> Config:
    """Merge YAML files left to right, apply `key.path=value` overrides, validate, freeze."""
    data: dict[str, Any] = {}
    for path in paths:
        if path:
            data = merge(data, read_yaml(path))
    for item in overrides:
        apply_override(data, item)
    return from_dict(data)


def save_config(cfg: Config, path: str | Path) -> None:
    Path(path).write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False))
