"""The detector, bottom-up: ConvLSTM cell and stack, frame encoders and input streams, clip classifiers, size summary."""
