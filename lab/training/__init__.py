"""Fitting a model: the training loop (optimiser, schedule, AMP, early stopping, DDP) and its history."""
