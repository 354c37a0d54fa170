"""Frame sources: files and network streams (RTSP, HTTP, MJPEG), sampled at the analysis rate.

Owns reading a stream so that cost grows with the analysis rate, not the stream's:

- :class:`OpenCvSource` (``cv2.VideoCapture``): ``grab()`` every frame, ``retrieve()``
  only the frames analysed. H.264 still decodes every frame inside ``grab()`` (P-frames
  need their predecessors); what is saved is the colour conversion and copy.
- :class:`KeyframeSource` (PyAV, ``skip_frame = NONKEY``): the decoder skips everything
  but keyframes, so decoding costs one frame per GOP. Where keyframes come less often
  than the analysis needs (a 25 s GOP at 1 Hz), it switches to decoding every frame and
  converting only those analysed. ``docs/video.md`` has the measured comparison.

Both yield :class:`Frame` with the media time in seconds; :class:`Pacer` slows a file
to real time for the service, so a file can stand in for a live camera.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, Protocol

import cv2
import numpy as np

from video.errors import SourceError

log = logging.getLogger(__name__)
DECODERS = ("auto", "opencv", "keyframes")


@dataclass(frozen=True, slots=True, eq=False)
class Frame:
    image: np.ndarray
    t: float        # media time, seconds
    index: int      # frames of the stream before this one
    native_size: tuple[int, int] | None = None   # the stream's (w, h) when ``image`` is smaller


REGRESSION_WIDTH = 400   # the regression's analysis width (video.regress.RegressionConfig)


def analysis_width(method: str) -> int | None:
    """Width to decode to for ``method``: the regression alone needs no more than its own
    analysis width; detection (HOG upscales small people) wants the full frame."""
    return REGRESSION_WIDTH if method == "regress" else None


def analysis_size(width: int, height: int, max_width: int | None) -> tuple[int, int]:
    """``width`` × ``height`` shrunk to at most ``max_width`` wide (even sizes, aspect kept)."""
    if not max_width or width <= max_width:
        return width, height
    return max_width, max(2, 2 * round(height * max_width / width / 2))


class FrameSource(Protocol):
    def read(self) -> Frame | None:
        """The next frame to analyse; ``None`` at the end of the stream or on failure."""

    def close(self) -> None: ...


def is_file(url: str) -> bool:
    return "://" not in url or url.startswith("file://")


class OpenCvSource:
    """``cv2.VideoCapture`` with grab-without-retrieve for skipped frames."""

    def __init__(self, url: str, rate: float, timeout_s: float = 10.0,
                 max_width: int | None = None) -> None:
        self.max_width = max_width
        params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, int(timeout_s * 1000),
                  cv2.CAP_PROP_READ_TIMEOUT_MSEC, int(timeout_s * 1000)]
        self._cap = cv2.VideoCapture(url.removeprefix("file://"), cv2.CAP_FFMPEG, params)
        if not self._cap.isOpened():
            raise SourceError(f"cannot open {url}")
        fps = self._cap.get(cv2.CAP_PROP_FPS)
        self.fps = fps if 0 < fps < 1000 else 25.0
        self.period = 1.0 / rate if rate > 0 else 0.0
        self._index = -1
        self._next_t = 0.0

    def read(self) -> Frame | None:
        while self._cap.grab():
            self._index += 1
            t = self._index / self.fps
            if t + 1e-6 < self._next_t:
                continue
            ok, image = self._cap.retrieve()
            if not ok:
                return None
            self._next_t = max(self._next_t + self.period, t)
            return self._shrunk(image, t)
        return None

    def _shrunk(self, image: np.ndarray, t: float) -> Frame:
        native = (image.shape[1], image.shape[0])
        size = analysis_size(*native, self.max_width)
        if size == native:
            return Frame(image, t, self._index)
        small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        return Frame(small, t, self._index, native)

    def close(self) -> None:
        self._cap.release()


class KeyframeSource:
    """PyAV feeding the decoder keyframes only while they come often enough, else all frames.

    Non-key packets are dropped before the decoder (what ``skip_frame = NONKEY`` does inside
    it, without even handing them over). When a GOP turns out longer than 1.5 analysis
    periods, a file is rewound to the last keyframe and a live stream waits for the next
    one, and from there every frame is decoded and only the analysed ones converted.
    """

    def __init__(self, url: str, rate: float, timeout_s: float = 10.0,
                 max_width: int | None = None) -> None:
        import av

        self.url = url
        self.max_width = max_width
        self.live = not is_file(url)
        options = {"rtsp_transport": "tcp"} if url.startswith("rtsp") else {}
        try:
            self._container: Any = av.open(url.removeprefix("file://"), options=options,
                                           timeout=(timeout_s, timeout_s))
        except (OSError, av.FFmpegError) as exc:
            raise SourceError(f"cannot open {url}: {exc}") from exc
        self._stream = self._container.streams.video[0]
        self._stream.thread_type = "NONE"
        self.keyframes_only = True
        self.period = 1.0 / rate if rate > 0 else 0.0
        self._packets = self._container.demux(self._stream)
        self._pending: list[Any] = []
        self._next_t = 0.0
        self._last_key: Any = None
        self._waiting_for_key = False
        self._flushed = False
        self._index = -1

    def read(self) -> Frame | None:
        import av

        try:
            while True:
                frame = self._next_decoded()
                if frame is None:
                    return None
                t = float(frame.time) if frame.time is not None else 0.0
                if t + 1e-6 < self._next_t:
                    continue
                self._next_t = max(self._next_t + self.period, t)
                return self._convert(frame, t)
        except (OSError, av.FFmpegError) as exc:
            log.warning("stream read failed: %s", exc)
        return None

    def _convert(self, frame: Any, t: float) -> Frame:
        """BGR at the analysis size, scaled by libswscale in the same pass as the conversion."""
        native = (int(frame.width), int(frame.height))
        w, h = analysis_size(*native, self.max_width)
        if (w, h) == native:
            return Frame(frame.to_ndarray(format="bgr24"), t, self._index)
        small = frame.reformat(width=w, height=h, format="bgr24", interpolation="BILINEAR")
        return Frame(small.to_ndarray(), t, self._index, native)

    def _next_decoded(self) -> Any:
        while not self._pending:
            packet = next(self._packets, None)
            if packet is None:
                if self._flushed:
                    return None
                self._flushed = True
                self._pending.extend(self._stream.codec_context.decode(None))
                continue
            if packet.size == 0:
                continue
            self._index += 1
            if self._feed(packet):
                self._pending.extend(self._stream.codec_context.decode(packet))
        return self._pending.pop(0)

    def _feed(self, packet: Any) -> bool:
        """Whether ``packet`` goes to the decoder."""
        if packet.is_keyframe:
            self._last_key, self._waiting_for_key = packet, False
            # A keyframe before the next analysis time would be decoded only to be dropped
            # (at 0.5 Hz and a 1 s GOP, every other one): it depends on nothing, skip it.
            early = (self.keyframes_only and packet.pts is not None
                     and float(packet.pts * packet.time_base) + 1e-6 < self._next_t)
            return not early
        if self._waiting_for_key:
            return False
        if not self.keyframes_only:
            return True
        key_t = float(self._last_key.pts * self._last_key.time_base) if self._last_key else 0.0
        t = float(packet.pts * packet.time_base) if packet.pts is not None else key_t
        if self.period > 0 and t - key_t > 1.5 * self.period:
            self._decode_everything()
        return False

    def _decode_everything(self) -> None:
        log.info("%s: keyframes come less often than every %.1f s; decoding all frames",
                 self.url, 1.5 * self.period)
        self.keyframes_only = False
        if self.live or self._last_key is None:
            self._waiting_for_key = True
            return
        self._container.seek(int(self._last_key.pts), stream=self._stream, backward=True,
                             any_frame=False)
        self._stream.codec_context.flush_buffers()
        self._packets = self._container.demux(self._stream)
        self._next_t = max(0.0, self._next_t - self.period)
        self._index = -1

    def close(self) -> None:
        self._container.close()


def open_source(url: str, rate: float, decoder: str = "auto", timeout_s: float = 10.0,
                max_width: int | None = None) -> FrameSource:
    """A source for ``url``; ``auto`` prefers keyframe decoding when PyAV is installed.

    With ``max_width``, wider frames come scaled down to it (``Frame.native_size`` tells
    the stream's size, to which zones and calibration refer).
    """
    if decoder not in DECODERS:
        raise ValueError(f"decoder must be one of {DECODERS}")
    if decoder in ("auto", "keyframes"):
        try:
            return KeyframeSource(url, rate, timeout_s, max_width)
        except ImportError:
            if decoder == "keyframes":
                raise SourceError("keyframe decoding needs PyAV (pip install av)") from None
    return OpenCvSource(url, rate, timeout_s, max_width)


class Pacer:
    """Sleeps so that media time advances no faster than the wall clock."""

    def __init__(self) -> None:
        self._origin: tuple[float, float] | None = None

    def wait(self, media_t: float, stop: Any) -> None:
        now = time.monotonic()
        if self._origin is None or media_t < self._origin[1]:
            self._origin = (now, media_t)
            return
        due = self._origin[0] + (media_t - self._origin[1])
        if due > now:
            stop.wait(due - now)
