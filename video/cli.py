"""``sharpeyes video ...``: analyse a file, stream or still.

Owns the command-line surface of the video stage: ``video analyze`` prints one JSON
object per analysed frame (or image). The benchmarks are ``sharpeyes bench video`` and
``bench video-accuracy`` (``sharpeyes.benches``).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

from kernel.settings import Settings
from video.analyzer import AnalyzerOptions, CameraAnalyzer
from video.calibration import CalibrationSpec
from video.counting import METHODS, ModelOptions, build_counter
from video.model import Zone
from video.sources import DECODERS, analysis_width, open_source
from video.stills import count_still, is_still, read_stills


def register(subparsers: Any) -> None:
    video = subparsers.add_parser("video", help="camera stream analysis")
    sub = video.add_subparsers(dest="video_command", required=True)
    analyze = sub.add_parser("analyze", help="count people per zone in a file or stream")
    analyze.add_argument("--source", required=True,
                         help="video file, rtsp/http URL, a still image or a folder of images")
    analyze.add_argument("--zones", type=Path, help="JSON list of {zone_id, polygon, area_m2}")
    analyze.add_argument("--calibration", type=Path, help="calibration JSON (docs/video.md)")
    analyze.add_argument("--method", choices=METHODS, default="auto")
    analyze.add_argument("--onnx-model", help="ONNX model file for --method onnx")
    analyze.add_argument("--model", help="your own ONNX person detector (auto, yolox)")
    analyze.add_argument("--model-sha256", help="its sha256, checked at load")
    analyze.add_argument("--providers", default="cpu",
                         help="ONNX Runtime providers in order: cpu, cuda, openvino")
    analyze.add_argument("--rate", type=float, default=0.5, help="analysed frames per second")
    analyze.add_argument("--decoder", choices=DECODERS, default="auto")
    analyze.add_argument("--max-frames", type=int, default=None)
    analyze.add_argument("--json", action="store_true", help="one JSON object per line")
    analyze.set_defaults(handler=_analyze)


def load_zones(path: Path | None) -> list[Zone]:
    if path is None:
        return [Zone("frame")]
    items = json.loads(path.read_text())
    return [Zone(str(z["zone_id"]),
                 tuple((float(x), float(y)) for x, y in z["polygon"]) if z.get("polygon") else None,
                 float(z["area_m2"]) if z.get("area_m2") else None) for z in items]


def _models(args: argparse.Namespace) -> ModelOptions:
    return ModelOptions(onnx_model=args.onnx_model, detector=args.model,
                        detector_sha256=args.model_sha256,
                        providers=tuple(p for p in args.providers.split(",") if p))


def _write(line: dict[str, Any]) -> None:
    # allow_nan=False: a non-finite number is a bug to surface, never invalid JSON to emit
    sys.stdout.write(json.dumps(line, allow_nan=False) + "\n")
    sys.stdout.flush()


def _analyze(args: argparse.Namespace, settings: Settings) -> int:
    calibration = (CalibrationSpec.model_validate_json(args.calibration.read_text())
                   if args.calibration else None)
    if is_still(args.source):
        return _analyze_stills(args, calibration)
    analyzer = CameraAnalyzer(load_zones(args.zones), calibration,
                              AnalyzerOptions(method=args.method, models=_models(args)))
    source = open_source(args.source, args.rate, args.decoder,
                         max_width=analysis_width(args.method))
    done = 0
    try:
        while args.max_frames is None or done < args.max_frames:
            frame = source.read()
            if frame is None:
                break
            analysis = analyzer.analyse(frame.image, frame.t, frame.index, frame.native_size)
            _write(_line(analysis.t, analysis.index, analysis))
            done += 1
    finally:
        source.close()
    return 0


def _analyze_stills(args: argparse.Namespace, calibration: CalibrationSpec | None) -> int:
    """One JSON object per image, with its file name; an unreadable file says so."""
    counter = build_counter(args.method, _models(args))
    zones = load_zones(args.zones)
    failed = 0
    for i, (path, image) in enumerate(read_stills(args.source)):
        if args.max_frames is not None and i >= args.max_frames:
            break
        if image is None:
            _write({"file": path.name, "error": "not a readable image"})
            failed += 1
            continue
        result = count_still(counter, image, zones, calibration)
        _write({"file": path.name, "size": [image.shape[1], image.shape[0]],
                "method": result.method, "zones": _zones_json(result)})
    return 1 if failed else 0


def _finite(value: float | None, digits: int) -> float | None:
    return None if value is None or not math.isfinite(value) else round(value, digits)


def _zones_json(result: Any) -> dict[str, Any]:
    return {z.zone_id: {"count": _finite(z.count, 2), "density": _finite(z.density, 4),
                        "level": None if z.level is None else z.level.value}
            for z in result.zones}


def _line(t: float, index: int, analysis: Any) -> dict[str, Any]:
    zones = _zones_json(analysis.result) if analysis.result is not None else {}
    line: dict[str, Any] = {"t": _finite(t, 3), "frame": index, "zones": zones}
    if analysis.health.value != "ok":
        line["health"] = analysis.health.value
    return line
