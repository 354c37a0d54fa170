"""The errors this package raises on purpose (hierarchy in ``video/__init__.py``)."""

from __future__ import annotations


class VideoError(Exception):
    """Base of every error raised by the video analyser."""


class SourceError(VideoError):
    """A stream cannot be opened or read."""


class CalibrationError(VideoError):
    """Calibration data is inconsistent or degenerate."""


class ModelError(VideoError):
    """An ONNX model cannot be loaded or gives output of an unknown shape."""
