"""``sharpeyes bench video``: 720p 25 fps H.264 streams one core sustains.

Owns the decoding and counting cost measurement. A synthetic 720p 25 fps H.264 clip (1 s
GOP, as IP cameras send by default) is encoded with PyAV, then each way of reading it is
timed in CPU seconds of the process, decoder and runtime threads included (robust to other
load): naive OpenCV reading and converting every frame (the baseline), OpenCV
grab-without-retrieve, PyAV keyframe-only, and whole pipelines (keyframes + health +
counting). ``results.default`` is the default method at the default analysis rate; the
same is measured on a *dense* clip — a real dense still (``--dense-still``, else the first
ShanghaiTech B image with ≥ 300 people under ``shared/data/crowds`` when present) looped
as a 720p video, so that the density network runs — and memory per camera is the growth
of the process's resident memory per added camera (models are loaded once per process and
reported apart). Streams per core = media seconds / CPU seconds.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
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


def encode_h264(path: Path, frames: Iterable[np.ndarray], gop: int = _FPS) -> None:
    """720p BGR frames to H.264 at 25 fps with a fixed GOP (PyAV, libx264), as IP cameras send."""
    import av

    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=_FPS)
        stream.width, stream.height, stream.pix_fmt = _SIZE[0], _SIZE[1], "yuv420p"
        stream.options = {"g": str(gop), "keyint_min": str(gop), "preset": "veryfast",
                          "tune": "zerolatency"}
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="bgr24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


def write_h264_clip(path: Path, seconds: float, gop: int = _FPS) -> None:
    """Moving textured figures on a textured ground."""
    rng = np.random.default_rng(5)
    noise = rng.integers(60, 200, (_SIZE[1], _SIZE[0], 3)).astype(np.uint8)
    ground = np.asarray(cv2.GaussianBlur(noise, (0, 0), 3), dtype=np.uint8)
    walkers = rng.uniform([0, 200], [_SIZE[0], 650], (30, 2))
    speed = rng.normal(0, 3, (30, 2))

    def frames() -> Iterator[np.ndarray]:
        for _ in range(round(seconds * _FPS)):
            frame: np.ndarray[Any, np.dtype[np.uint8]] = ground.copy()
            walkers[:] = (walkers + speed) % [_SIZE[0], 720]
            for x, y in walkers:
                h = int(40 + y / 6)
                cv2.rectangle(frame, (int(x), int(y) - h), (int(x) + h // 3, int(y)),
                              (40, 40, 90), -1)
            yield frame
    encode_h264(path, frames(), gop)


def _calibration() -> CalibrationSpec:
    """A person measured at two rows of the synthetic 720p view."""
    return CalibrationSpec.model_validate(
        {"person_heights": [{"row": 300, "height_px": 90}, {"row": 650, "height_px": 148}],
         "image_size": list(_SIZE)})


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
    spec = _calibration()
    analyzer = CameraAnalyzer([], spec, AnalyzerOptions(method=method))
    analyzer.health = HealthMonitor(HealthConfig(changed_correlation=-1.0))
    if steady:
        analyzer.counter = AutoCounter(config=AutoConfig(warmup_detections=0))

    def analyse(frame: Frame) -> None:
        analyzer.analyse(frame.image, frame.t, frame.index, frame.native_size)
    return _drain(KeyframeSource(str(path), 1.0, max_width=analysis_width(method)), analyse)


DEFAULT_RATE = 0.5    # SHARPEYES_VIDEO_RATE_HZ's default


def write_still_clip(path: Path, still: np.ndarray, seconds: float) -> None:
    """A still scaled to 720p, with a little noise per frame (so the encoder still works)."""
    base = cv2.resize(still, _SIZE, interpolation=cv2.INTER_AREA).astype(np.int16)
    rng = np.random.default_rng(3)
    encode_h264(path, (np.clip(base + rng.integers(-3, 4, base.shape, dtype=np.int16), 0, 255)
                       .astype(np.uint8) for _ in range(round(seconds * _FPS))))


def find_dense_still(explicit: Path | None = None) -> Path | None:
    if explicit is not None:
        return explicit
    for root in (Path("../shared/data/crowds"), Path(__file__).parents[2] / "shared/data/crowds"):
        ann = root / "shanghaitech_b" / "annotations.json"
        if ann.exists():
            import json

            for item in json.loads(ann.read_text())["images"]:
                if item["count"] >= 300:
                    return ann.parent / str(item["file"])
    return None


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * (os.sysconf("SC_PAGE_SIZE") / 2**20)


def _default_pipeline(path: Path, rate: float, cameras: int = 1) -> int:
    """The default method at ``rate`` on ``cameras`` analysers of the same clip in turn."""
    spec = _calibration()
    analyzers = [CameraAnalyzer([], spec, AnalyzerOptions()) for _ in range(cameras)]
    for analyzer in analyzers:
        analyzer.health = HealthMonitor(HealthConfig(changed_correlation=-1.0))
    n = 0
    for analyzer in analyzers:
        def analyse(frame: Frame, a: CameraAnalyzer = analyzer) -> None:
            a.analyse(frame.image, frame.t, frame.index, frame.native_size)
        n += _drain(KeyframeSource(str(path), rate), analyse)
    return n


def _memory_per_camera(path: Path, rate: float, cameras: int = 4) -> dict[str, float]:
    """Resident memory growth: the models with the first camera, then per further camera.
    Call before anything else loads the models (they are loaded once per process)."""
    start = _rss_mb()
    _default_pipeline(path, rate, 1)
    one = _rss_mb()
    analyzers = [CameraAnalyzer([], None, AnalyzerOptions()) for _ in range(cameras)]
    source = KeyframeSource(str(path), rate)
    frame = source.read()
    source.close()
    assert frame is not None
    for a in analyzers:
        a.analyse(frame.image, frame.t, frame.index)
    more = _rss_mb()
    return {"models_and_first_camera_mb": round(one - start, 1),
            "per_further_camera_mb": round((more - one) / cameras, 1)}


def _measure(runs: dict[str, Callable[[], int]], seconds: float) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for name, fn in runs.items():
        cpu, frames = _cpu(fn)
        results[name] = {"cpu_s": round(cpu, 3), "frames_out": frames,
                         "streams_per_core": round(seconds / max(cpu, 1e-9), 1)}
    return results


def run_speed_bench(seconds: float = 20.0, dense_still: Path | None = None,
                    rate: float = DEFAULT_RATE) -> dict[str, Any]:
    cv2.setNumThreads(1)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench-720p25.mp4"
        write_h264_clip(path, seconds)
        memory = _memory_per_camera(path, rate)   # also loads the models before the timing
        runs = {
            "naive_read_every_frame": lambda: _naive(path),
            "opencv_grab_skip_1hz": lambda: _drain(OpenCvSource(str(path), 1.0), None),
            "pyav_keyframes_1hz": lambda: _drain(KeyframeSource(str(path), 1.0), None),
            "pipeline_regress_1hz": lambda: _pipeline(path, "regress"),
            "pipeline_heads_1hz": lambda: _pipeline(path, "heads"),
            "pipeline_classic_warmup_1hz": lambda: _pipeline(path, "classic"),
            "pipeline_classic_steady_1hz": lambda: _pipeline(path, "classic", steady=True),
            "default": lambda: _default_pipeline(path, rate),
        }
        results = _measure(runs, seconds)
        results["default"]["memory"] = memory
        dense = _dense(Path(tmp), seconds, dense_still, rate)
    base = results["naive_read_every_frame"]["streams_per_core"]
    for r in [*results.values(), *dense.get("results", {}).values()]:
        r["vs_naive"] = round(r["streams_per_core"] / base, 2)
    return {"clip": {"size": list(_SIZE), "fps": _FPS, "gop_s": 1.0, "seconds": seconds,
                     "codec": "h264"}, "analysis_hz": 1.0, "default_method": "auto",
            "default_rate_hz": rate, "results": results, "dense": dense}


def _dense(tmp: Path, seconds: float, still: Path | None, rate: float) -> dict[str, Any]:
    """The default pipeline on a real dense still looped as 720p video (density net runs)."""
    found = find_dense_still(still)
    image = cv2.imread(str(found)) if found is not None else None
    if image is None:
        return {"skipped": "no dense still: pass --dense-still IMAGE"}
    path = tmp / "dense-720p25.mp4"
    write_still_clip(path, image, seconds)
    runs = {"naive_read_every_frame": lambda: _naive(path),
            "default": lambda: _default_pipeline(path, rate)}
    return {"still": found.name if found else None, "results": _measure(runs, seconds)}
