"""Saying how good the scores are: metrics, calibration and thresholds chosen on validation, split evaluation, shortcut checks, reports and their figures."""
