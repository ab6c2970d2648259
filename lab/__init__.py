"""convlstm-lab: temporal deepfake detection with a CNN encoder and a ConvLSTM."""
import os as _os

# FFmpeg (inside OpenCV) prints its own lines for unreadable videos; lab reports those as one clear
# error instead. Set OPENCV_FFMPEG_LOGLEVEL yourself to see FFmpeg's messages.
_os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")

__version__ = "0.1.0"
