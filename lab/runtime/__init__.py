"""Where a model runs, shared by training, evaluation and inference: device and precision, distributed processes, checkpoint files."""
