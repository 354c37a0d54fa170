"""The errors this package raises on purpose (hierarchy in ``video/__init__.py``)."""

from __future__ import annotations

from kernel.errors import InvalidError, SharpEyesError, UnavailableError


class VideoError(SharpEyesError):
    """Base of every error raised by the video analyser."""


class SourceError(VideoError, UnavailableError):
    """A stream cannot be opened or read."""


class CalibrationError(VideoError, InvalidError):
    """Calibration data is inconsistent or degenerate."""


class ModelError(VideoError, UnavailableError):
    """An ONNX model cannot be loaded or gives output of an unknown shape."""
