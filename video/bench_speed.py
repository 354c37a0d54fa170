"""``sharpeyes video bench-speed``: 720p 25 fps H.264 streams one core sustains at 1 Hz.

Owns the decoding-cost measurement. A synthetic 720p 25 fps H.264 clip (1 s GOP, as IP
cameras send by default) is encoded with PyAV, then each way of reading it is timed in
CPU seconds of the process, decoder threads included (robust to other load): naive
OpenCV reading and converting every frame (the baseline), OpenCV grab-without-retrieve, PyAV
keyframe-only, and the whole pipeline (keyframes + health + regression counting, head
counting, and + detection) at 1 Hz. Streams per core = media seconds / CPU seconds.
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
from video.counting import AutoConfig, AutoCounter
from video.health import HealthConfig, HealthMonitor
from video.sources import Frame, KeyframeSource, OpenCvSource, analysis_width

_SIZE = (1280, 720)
_FPS = 25


def write_h264_clip(path: Path, seconds: float, gop: int = _FPS) -> None:
    """Moving textured figures on a textured ground, H.264 via PyAV (libx264)."""
    import av

    rng = np.random.default_rng(5)
    noise = rng.integers(60, 200, (_SIZE[1], _SIZE[0], 3)).astype(np.uint8)
    ground = np.asarray(cv2.GaussianBlur(noise, (0, 0), 3), dtype=np.uint8)
    walkers = rng.uniform([0, 200], [_SIZE[0], 650], (30, 2))
    speed = rng.normal(0, 3, (30, 2))
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=_FPS)
        stream.width, stream.height, stream.pix_fmt = _SIZE[0], _SIZE[1], "yuv420p"
        stream.options = {"g": str(gop), "keyint_min": str(gop), "preset": "veryfast",
                          "tune": "zerolatency"}
        for _ in range(round(seconds * _FPS)):
            frame: np.ndarray[Any, np.dtype[np.uint8]] = ground.copy()
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


def _drain(source: OpenCvSource | KeyframeSource, analyse: Callable[[Frame], None] | None
           ) -> int:
    n = 0
    while (frame := source.read()) is not None:
        if analyse is not None:
            analyse(frame)
        n += 1
    source.close()
    return n


def _pipeline(path: Path, method: str, steady: bool = False) -> int:
    """Keyframes + health + counting on every sampled frame. The clip's big moving boxes
    trip the scene-change test after a few seconds, which would skip counting; the test
    still runs (same cost) but its verdict is disabled, so every frame is counted.
    ``steady``: ``auto`` past its warm-up (one HOG pass per ``detect_interval_s``)."""
    spec = CalibrationSpec.model_validate(
        {"person_heights": [{"row": 300, "height_px": 90}, {"row": 650, "height_px": 148}],
         "image_size": list(_SIZE)})
    analyzer = CameraAnalyzer([], spec, AnalyzerOptions(method=method))
    analyzer.health = HealthMonitor(HealthConfig(changed_correlation=-1.0))
    if steady:
        analyzer.counter = AutoCounter(config=AutoConfig(warmup_detections=0))

    def analyse(frame: Frame) -> None:
        analyzer.analyse(frame.image, frame.t, frame.index, frame.native_size)
    return _drain(KeyframeSource(str(path), 1.0, max_width=analysis_width(method)), analyse)


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
            "pipeline_heads_1hz": lambda: _pipeline(path, "heads"),
            "pipeline_auto_warmup_1hz": lambda: _pipeline(path, "auto"),
            "pipeline_auto_steady_1hz": lambda: _pipeline(path, "auto", steady=True),
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
