"""convlstm-lab: temporal deepfake detection with a CNN encoder and a ConvLSTM.

The names below are the public API (what notebooks, scripts and the README use); the modules behind them
may move. They load on first use, so `import lab` stays light (no torch until a name needs it):

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
    **{n: ("lab.errors", n) for n in ("LabError", "ConfigError", "DataError", "CheckpointError")},
    **{n: ("lab.config", n) for n in ("Config", "load_config")},
    # data
    "extract_frames": ("lab.data.extract", "extract_frames"),
    "open_item": ("lab.data.video", "open_item"),
    **{n: ("lab.data.dataset", n) for n in ("FrameSequenceDataset", "build_dataset")},
    "SynthSpec": ("lab.data.synth", "SynthSpec"),
    "PrepareSettings": ("lab.data.prepare.plan", "Settings"),
    "prepare_dataset": ("lab.data.prepare.runner", "run_prepare"),
    "generate_synthetic": ("lab.data.synth", "generate"),
    **{n: ("lab.data.footage", n) for n in ("FootageSpec", "generate_footage")},
    # models
    **{n: ("lab.models.convlstm", n) for n in ("ConvLSTMCell", "ConvLSTM")},
    **{n: ("lab.models.classifier", n) for n in ("ConvLSTMClassifier", "FrameClassifier", "D3Classifier",
                                                             "build_model")},
    "summarize": ("lab.models.summary", "summarize"),
    # runtime
    **{n: ("lab.runtime.device", n) for n in ("Precision", "resolve_device")},
    **{n: ("lab.runtime.checkpoint", n) for n in ("save_checkpoint", "load_checkpoint", "read_checkpoint",
                                                  "load_model")},
    # evaluation
    **{n: ("lab.evaluation.evaluate", n) for n in ("Evaluation", "evaluate_split")},
    **{n: ("lab.evaluation.report", n) for n in ("write_report", "default_report_dir")},
    **{n: ("lab.evaluation.metrics", n) for n in ("binary_metrics", "expected_calibration_error")},
    "decision_threshold": ("lab.scoring.aggregate", "decision_threshold"),
    **{n: ("lab.scoring.decision", n) for n in ("Decision", "checkpoint_decision")},
    "fit_temperature": ("lab.evaluation.calibration", "fit_temperature"),
    "probabilities": ("lab.scoring.decision", "probabilities"),
    **{n: ("lab.evaluation.thresholds", n) for n in ("select_threshold", "threshold_target_fpr", "threshold_eer")},
    "calibrate_checkpoint": ("lab.evaluation.recalibrate", "calibrate_checkpoint"),
    **{n: ("lab.experiments.robustness", n) for n in ("robustness_sweep", "plot_robustness")},
    **{n: ("lab.evaluation.shortcuts", n) for n in ("shortcut_checks", "shortcut_table", "trivial_predictors",
                                                    "item_features")},
    **{n: ("lab.experiments.holdout", n) for n in ("holdout_markdown", "plot_holdout")},
    **{n: ("lab.evaluation.viz", n) for n in ("plot_roc", "plot_pr", "plot_confusion", "plot_reliability",
                                              "plot_training_curves", "visualize_prediction", "frame_strip")},
    # training
    "fit": ("lab.training.loop", "fit"),
    "leave_one_out": ("lab.experiments.leave_one_out", "leave_one_out"),
    # inference
    **{n: ("lab.inference.infer", n) for n in ("Prediction", "predict", "inference_video", "inference_frames")},
    **{n: ("lab.inference.heatmap", n) for n in ("window_heatmaps", "overlay_heatmap")},
}

__all__ = ["__version__", *_EXPORTS]
__getattr__, __dir__ = _lazy_exports(__name__, _EXPORTS, globals())
