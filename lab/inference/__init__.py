"""Scoring what a user hands in: a video file or a frame folder, window by window and frame by frame, and Grad-CAM heatmaps."""
