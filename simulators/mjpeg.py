"""A live MJPEG-over-HTTP stream that ``cv2.VideoCapture`` opens like an IP camera.

Owns serving frames (from any iterator, e.g. the synthetic crowd renderer) at a fixed
rate as ``multipart/x-mixed-replace`` on ``/stream.mjpg``, and the latest frame on
``/snapshot.jpg``. Standard library only (``http.server`` + ``threading``); binds
127.0.0.1 on a free port unless told otherwise, so tests never collide.

Like a real camera the stream runs whether or not anyone watches: one producer thread
paces the frames, and every client gets the newest one (slow clients skip frames).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import cv2
import numpy as np

log = logging.getLogger(__name__)

STREAM_PATH = "/stream.mjpg"
SNAPSHOT_PATH = "/snapshot.jpg"
_BOUNDARY = "frame"


class _LatestFrame:
    """The newest JPEG and its sequence number, with waiting for a newer one."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._seq = 0
        self._jpeg: bytes | None = None
        self._closed = False

    def publish(self, jpeg: bytes) -> None:
        with self._cond:
            self._seq += 1
            self._jpeg = jpeg
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def newer_than(self, seq: int, timeout: float) -> tuple[int, bytes | None, bool]:
        """(seq, jpeg, closed): waits up to ``timeout`` for a frame newer than ``seq``."""
        with self._cond:
            self._cond.wait_for(lambda: self._seq > seq or self._closed, timeout)
            fresh = self._jpeg if self._seq > seq else None
            return self._seq, fresh, self._closed

    @property
    def seq(self) -> int:
        with self._cond:
            return self._seq


class _Server(ThreadingHTTPServer):
    daemon_threads = False  # server_close() joins the client threads: nothing leaks
    block_on_close = True

    def __init__(self, address: tuple[str, int], latest: _LatestFrame) -> None:
        super().__init__(address, _Handler)
        self.latest = latest
        self.stopping = threading.Event()


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    timeout = 5.0  # a client that stops reading cannot hold a thread for long

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        path = self.path.split("?", 1)[0]
        if path == STREAM_PATH:
            self._stream()
        elif path == SNAPSHOT_PATH:
            self._snapshot()
        else:
            self.send_error(404, "try " + STREAM_PATH)

    def _stream(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={_BOUNDARY}")
        self.send_header("Cache-Control", "no-cache, no-store")
        self.send_header("Connection", "close")
        self.end_headers()
        seq = 0
        try:
            while not self.server.stopping.is_set():
                seq, jpeg, closed = self.server.latest.newer_than(seq, timeout=0.5)
                if jpeg is not None:
                    self._write_part(jpeg)
                elif closed:
                    break
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            log.debug("MJPEG client %s went away", self.client_address)

    def _write_part(self, jpeg: bytes) -> None:
        head = (f"--{_BOUNDARY}\r\nContent-Type: image/jpeg\r\n"
                f"Content-Length: {len(jpeg)}\r\n\r\n").encode("ascii")
        self.wfile.write(head + jpeg + b"\r\n")
        self.wfile.flush()

    def _snapshot(self) -> None:
        _, jpeg, _ = self.server.latest.newer_than(0, timeout=2.0)
        if jpeg is None:
            self.send_error(503, "no frame yet")
            return
        self.send_response(200)
        self.send_header("Content-Type", "image/jpeg")
        self.send_header("Content-Length", str(len(jpeg)))
        self.end_headers()
        self.wfile.write(jpeg)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (base signature)
        log.debug("%s " + format, self.client_address[0], *args)


class MjpegServer:
    """Serve ``frames`` (BGR uint8) at ``fps`` as an MJPEG camera on ``url``.

    ``start()`` binds and begins producing; ``stop()`` ends the stream, disconnects
    clients, closes the socket and joins every thread. Also a context manager.
    """

    def __init__(self, frames: Iterable[np.ndarray], fps: float, jpeg_quality: int = 85,
                 host: str = "127.0.0.1", port: int = 0) -> None:
        if fps <= 0:
            raise ValueError("fps must be positive")
        self._frames = iter(frames)
        self._fps = fps
        self._quality = jpeg_quality
        self._address = (host, port)
        self._latest = _LatestFrame()
        self._server: _Server | None = None
        self._threads: list[threading.Thread] = []

    @property
    def url(self) -> str:
        """``http://host:port/stream.mjpg`` (only once started)."""
        if self._server is None:
            raise RuntimeError("MjpegServer is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}{STREAM_PATH}"

    @property
    def frames_produced(self) -> int:
        """How many frames the stream has published so far."""
        return self._latest.seq

    def start(self) -> MjpegServer:
        """Bind the port, start producing frames and serving clients."""
        if self._server is not None:
            raise RuntimeError("MjpegServer already started")
        self._server = _Server(self._address, self._latest)
        self._threads = [
            threading.Thread(target=self._produce, name="mjpeg-producer"),
            threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                             name="mjpeg-http"),
        ]
        for thread in self._threads:
            thread.start()
        log.info("MJPEG stream at %s (%.1f fps)", self.url, self._fps)
        return self

    def stop(self) -> None:
        """Stop producing, disconnect clients, close the socket, join all threads."""
        server = self._server
        if server is None:
            return
        server.stopping.set()
        self._latest.close()
        server.shutdown()
        server.server_close()
        for thread in self._threads:
            thread.join()
        self._threads = []
        self._server = None
        log.info("MJPEG stream stopped after %d frames", self.frames_produced)

    def __enter__(self) -> MjpegServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _produce(self) -> None:
        """Publish one frame per tick until the frames run out or the server stops."""
        assert self._server is not None
        stopping = self._server.stopping
        period = 1.0 / self._fps
        due = time.monotonic()
        try:
            for frame in self._frames:
                ok, buf = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, self._quality])
                if not ok:
                    raise ValueError("frame could not be JPEG-encoded")
                self._latest.publish(buf.tobytes())
                due = max(due + period, time.monotonic() - period)
                if stopping.wait(max(0.0, due - time.monotonic())):
                    break
        except Exception:
            log.exception("MJPEG frame source failed")
        finally:
            self._latest.close()
            _close_quietly(self._frames)


def _close_quietly(frames: Iterator[np.ndarray]) -> None:
    close = getattr(frames, "close", None)
    if callable(close):
        close()
