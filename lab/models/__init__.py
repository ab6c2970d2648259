"""The detector, bottom-up: ConvLSTM cell and stack, frame encoders and input streams (their ImageNet weight files
in `pretrained`), clip classifiers, size summary."""
