"""``sharpeyes video bench-speed``: 720p 25 fps H.264 streams one core sustains at 1 Hz.

Owns the decoding-cost measurement. A synthetic 720p 25 fps H.264 clip (1 s GOP, as IP
cameras send by default) is encoded with PyAV, then each way of reading it is timed in
CPU seconds of the process, decoder threads included (robust to other load): naive
OpenCV reading and converting every frame (the baseline), OpenCV grab-without-retrieve, PyAV
keyframe-only, and the whole pipeline (keyframes + health + regression counting, and
+ detection) at 1 Hz. Streams per core = media seconds / CPU seconds.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from video.analyzer import AnalyzerOptions, CameraAnalyzer
from video.calibration import CalibrationSpec
from video.sources import KeyframeSource, OpenCvSource

_SIZE = (1280, 720)
_FPS = 25


def write_h264_clip(path: Path, seconds: float, gop: int = _FPS) -> None:
    """Moving textured figures on a textured ground, H.264 via PyAV (libx264)."""
    import av

    rng = np.random.default_rng(5)
    ground = cv2.GaussianBlur(rng.integers(60, 200, (_SIZE[1], _SIZE[0], 3)).astype(np.uint8),
                              (0, 0), 3)
    walkers = rng.uniform([0, 200], [_SIZE[0], 650], (30, 2))
    speed = rng.normal(0, 3, (30, 2))
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=_FPS)
        stream.width, stream.height, stream.pix_fmt = _SIZE[0], _SIZE[1], "yuv420p"
        stream.options = {"g": str(gop), "keyint_min": str(gop), "preset": "veryfast",
                          "tune": "zerolatency"}
        for _ in range(round(seconds * _FPS)):
            frame = ground.copy()
            walkers[:] = (walkers + speed) % [_SIZE[0], 720]
            for x, y in walkers:
                h = int(40 + y / 6)
                cv2.rectangle(frame, (int(x), int(y) - h), (int(x) + h // 3, int(y)),
                              (40, 40, 90), -1)
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="bgr24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


def _cpu(fn: Callable[[], int]) -> tuple[float, int]:
    start = time.process_time()
    frames = fn()
    return time.process_time() - start, frames


def _naive(path: Path) -> int:
    cap = cv2.VideoCapture(str(path))
    n = 0
    while cap.read()[0]:
        n += 1
    cap.release()
    return n


def _drain(source: OpenCvSource | KeyframeSource, analyse: Callable[[Any], None] | None) -> int:
    n = 0
    while (frame := source.read()) is not None:
        if analyse is not None:
            analyse(frame)
        n += 1
    source.close()
    return n


def _pipeline(path: Path, method: str) -> int:
    spec = CalibrationSpec.model_validate(
        {"person_heights": [{"row": 300, "height_px": 90}, {"row": 650, "height_px": 148}]})
    analyzer = CameraAnalyzer([], spec, AnalyzerOptions(method=method))
    return _drain(KeyframeSource(str(path), 1.0),
                  lambda f: analyzer.analyse(f.image, f.t, f.index) and None)


def run_speed_bench(seconds: float = 20.0) -> dict[str, Any]:
    cv2.setNumThreads(1)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench-720p25.mp4"
        write_h264_clip(path, seconds)
        runs = {
            "naive_read_every_frame": lambda: _naive(path),
            "opencv_grab_skip_1hz": lambda: _drain(OpenCvSource(str(path), 1.0), None),
            "pyav_keyframes_1hz": lambda: _drain(KeyframeSource(str(path), 1.0), None),
            "pipeline_regress_1hz": lambda: _pipeline(path, "regress"),
            "pipeline_auto_1hz": lambda: _pipeline(path, "auto"),
        }
        results: dict[str, Any] = {}
        for name, fn in runs.items():
            cpu, frames = _cpu(fn)
            results[name] = {"cpu_s": round(cpu, 3), "frames_out": frames,
                             "streams_per_core": round(seconds / max(cpu, 1e-9), 1)}
    base = results["naive_read_every_frame"]["streams_per_core"]
    for r in results.values():
        r["vs_naive"] = round(r["streams_per_core"] / base, 2)
    return {"clip": {"size": list(_SIZE), "fps": _FPS, "gop_s": 1.0, "seconds": seconds,
                     "codec": "h264"}, "analysis_hz": 1.0, "results": results}
