"""Reading what users bring: video decoding, face crops, sequence-consistent transforms, the windowed dataset, synthetic data."""
