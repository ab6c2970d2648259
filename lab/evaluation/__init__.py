"""Scoring a split and saying how good it was: metrics, window-to-video aggregation, split evaluation, reports and their figures."""
