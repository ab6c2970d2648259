"""convlstm-lab: temporal deepfake detection with a CNN encoder and a ConvLSTM.

The names below are the public API: what a notebook or a script needs (the seed's names, config, data, models and
checkpoints, training, evaluation, calibration, prediction, the experiments, the errors). Everything else is
importable from its stage module (`lab.evaluation.metrics.binary_metrics`, `lab.evaluation.viz.plot_roc`, ...),
which may move. Names load on first use, so `import lab` stays light (no torch until a name needs it):

    import lab
    cfg = lab.load_config("config/data_config.yaml", "config/demo.yaml")
    result = lab.fit(cfg, run_name="mine")
    model, cfg, ckpt = lab.load_model(result.best_path)
    print(lab.predict("video.mp4", model, cfg, threshold=lab.checkpoint_decision(ckpt)).verdict())
"""
import os as _os

from lab._lazy import lazy_exports as _lazy_exports
from lab._version import __version__

# FFmpeg (inside OpenCV) prints its own lines for unreadable videos; lab reports those as one clear
# error instead. Set OPENCV_FFMPEG_LOGLEVEL yourself to see FFmpeg's messages.
_os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")

# public name -> (module, attribute there); grouped by pipeline stage, lowest first
_EXPORTS: dict[str, tuple[str, str]] = {
    **{n: ("lab.errors", n) for n in ("LabError", "ConfigError", "DataError", "CheckpointError", "StorageError",
                                      "TrainingError")},
    **{n: ("lab.config", n) for n in ("Config", "load_config")},
    # data: the seed's dataset and frame extraction, preparing real datasets, the embedded datasets
    "FrameSequenceDataset": ("lab.data.dataset", "FrameSequenceDataset"),
    "extract_frames": ("lab.data.extract", "extract_frames"),
    "PrepareSettings": ("lab.data.prepare.plan", "Settings"),
    "prepare_dataset": ("lab.data.prepare.runner", "run_prepare"),
    "SynthSpec": ("lab.data.synth", "SynthSpec"),
    "generate_synthetic": ("lab.data.synth", "generate"),
    **{n: ("lab.data.footage", n) for n in ("FootageSpec", "generate_footage")},
    **{n: ("lab.data.faceswap.generate", n) for n in ("FaceSwapSpec", "generate_faceswap")},
    # models, built from a config or loaded from a checkpoint
    **{n: ("lab.models.convlstm", n) for n in ("ConvLSTMCell", "ConvLSTM")},
    **{n: ("lab.models.classifier", n) for n in ("ConvLSTMClassifier", "build_model")},
    "summarize": ("lab.models.summary", "summarize"),
    **{n: ("lab.runtime.device", n) for n in ("Precision", "resolve_device")},
    **{n: ("lab.runtime.checkpoint", n) for n in ("save_checkpoint", "load_checkpoint", "read_checkpoint",
                                                  "load_model")},
    # the verdict a checkpoint stores, and choosing it again on validation
    **{n: ("lab.scoring.decision", n) for n in ("Decision", "checkpoint_decision")},
    "calibrate_checkpoint": ("lab.evaluation.recalibrate", "calibrate_checkpoint"),
    # training, evaluation and the seed's figures
    "fit": ("lab.training.loop", "fit"),
    "evaluate_split": ("lab.evaluation.evaluate", "evaluate_split"),
    **{n: ("lab.evaluation.report", n) for n in ("write_report", "default_report_dir")},
    **{n: ("lab.evaluation.viz", n) for n in ("visualize_prediction", "plot_training_curves")},
    # prediction
    **{n: ("lab.inference.infer", n) for n in ("Prediction", "predict", "inference_video", "inference_frames")},
    **{n: ("lab.inference.heatmap", n) for n in ("window_heatmaps", "overlay_heatmap")},
    # experiments
    "leave_one_out": ("lab.experiments.leave_one_out", "leave_one_out"),
    "robustness_sweep": ("lab.experiments.robustness", "robustness_sweep"),
    "generalisation_matrix": ("lab.evaluation.transfer", "generalisation_matrix"),
}

__all__ = ["__version__", *_EXPORTS]
__getattr__, __dir__ = _lazy_exports(__name__, _EXPORTS, globals())
