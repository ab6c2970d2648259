"""Scoring: a model's windows to calibrated P(fake), video and per-frame scores and the verdict, shared by evaluation and inference."""
