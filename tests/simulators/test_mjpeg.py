"""The MJPEG-over-HTTP camera stand-in: OpenCV opens it like a camera, and it stops cleanly."""

from __future__ import annotations

import math
import threading
import urllib.request
from collections.abc import Iterator
from http.client import HTTPResponse

import cv2
import numpy as np
import pytest

from simulators.mjpeg import SNAPSHOT_PATH, STREAM_PATH, MjpegServer
from simulators.render import CameraModel, default_scene, render_frames

CAM = CameraModel.from_fov(320, 240, 65.0, 5.0, 30.0)


def _rendered() -> Iterator[np.ndarray]:
    spec = default_scene(CAM, 0.8, seed=1, warmup_s=0.0, fps=15.0)
    return (frame for frame, _ in render_frames(spec, math.inf))


def _solid(n: int) -> Iterator[np.ndarray]:
    return (np.full((48, 64, 3), 40 * k % 255, np.uint8) for k in range(n))


def test_videocapture_opens_the_stream_and_decodes_frames() -> None:
    threads_before = threading.active_count()
    with MjpegServer(_rendered(), fps=15.0) as server:
        assert server.url.startswith("http://127.0.0.1:") and server.url.endswith(STREAM_PATH)
        cap = cv2.VideoCapture(server.url, cv2.CAP_FFMPEG)
        try:
            assert cap.isOpened()
            frames = [cap.read() for _ in range(5)]
        finally:
            cap.release()
    assert all(ok for ok, _ in frames)
    assert all(frame.shape == (CAM.height, CAM.width, 3) for _, frame in frames)
    assert threading.active_count() == threads_before


def test_each_server_gets_its_own_free_port() -> None:
    with MjpegServer(_solid(1000), fps=20.0) as one, MjpegServer(_solid(1000), fps=20.0) as two:
        assert one.url != two.url


def test_snapshot_serves_the_latest_jpeg() -> None:
    with MjpegServer(_solid(1000), fps=20.0) as server:
        url = server.url.replace(STREAM_PATH, SNAPSHOT_PATH)
        with urllib.request.urlopen(url, timeout=5) as response:
            assert response.headers["Content-Type"] == "image/jpeg"
            image = cv2.imdecode(np.frombuffer(response.read(), np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    assert image.shape == (48, 64, 3)


def test_stream_ends_when_the_frames_run_out() -> None:
    with MjpegServer(_solid(3), fps=50.0) as server:
        with urllib.request.urlopen(server.url, timeout=5) as response:
            body = _read_all(response)
    assert body.count(b"Content-Type: image/jpeg") >= 1
    assert body.rstrip().endswith(b"\xff\xd9")  # ends on a whole JPEG


def test_stop_disconnects_a_watching_client() -> None:
    server = MjpegServer(_solid(10_000), fps=30.0).start()
    response = urllib.request.urlopen(server.url, timeout=5)
    try:
        assert response.read(64).startswith(b"--frame")
        server.stop()
        _read_all(response)  # returns (EOF) instead of hanging
    finally:
        response.close()
        server.stop()


def test_url_needs_a_started_server() -> None:
    with pytest.raises(RuntimeError):
        _ = MjpegServer(_solid(1), fps=5.0).url


def _read_all(response: HTTPResponse) -> bytes:
    chunks = []
    while chunk := response.read(65536):
        chunks.append(chunk)
    return b"".join(chunks)
