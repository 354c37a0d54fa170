"""``sharpeyes video ...``: analyse a file or stream, and the two benchmarks.

Owns the command-line surface of the video stage: ``video analyze`` prints one JSON
object per analysed frame; ``video bench-speed`` and ``video bench-accuracy`` print the
measurements of docs/video.md as JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from sharpeyes.settings import Settings
from video.analyzer import AnalyzerOptions, CameraAnalyzer
from video.calibration import CalibrationSpec
from video.counting import METHODS
from video.model import Zone
from video.sources import DECODERS, analysis_width, open_source


def register(subparsers: Any) -> None:
    video = subparsers.add_parser("video", help="camera stream analysis")
    sub = video.add_subparsers(dest="video_command", required=True)
    analyze = sub.add_parser("analyze", help="count people per zone in a file or stream")
    analyze.add_argument("--source", required=True, help="file path or rtsp/http URL")
    analyze.add_argument("--zones", type=Path, help="JSON list of {zone_id, polygon, area_m2}")
    analyze.add_argument("--calibration", type=Path, help="calibration JSON (docs/video.md)")
    analyze.add_argument("--method", choices=METHODS, default="auto")
    analyze.add_argument("--onnx-model", help="ONNX model file for --method onnx")
    analyze.add_argument("--rate", type=float, default=1.0, help="analysed frames per second")
    analyze.add_argument("--decoder", choices=DECODERS, default="auto")
    analyze.add_argument("--max-frames", type=int, default=None)
    analyze.add_argument("--json", action="store_true", help="one JSON object per line")
    analyze.set_defaults(handler=_analyze)
    speed = sub.add_parser("bench-speed", help="streams per core at 1 Hz vs naive decoding")
    speed.add_argument("--seconds", type=float, default=20.0, help="length of the test clip")
    speed.add_argument("--json", action="store_true")
    speed.set_defaults(handler=bench_speed)
    accuracy = sub.add_parser("bench-accuracy", help="error per density band vs plain HOG")
    accuracy.add_argument("--quick", action="store_true", help="fewer geometries and frames")
    accuracy.add_argument("--json", action="store_true")
    accuracy.set_defaults(handler=bench_accuracy)


def load_zones(path: Path | None) -> list[Zone]:
    if path is None:
        return [Zone("frame")]
    items = json.loads(path.read_text())
    return [Zone(str(z["zone_id"]),
                 tuple((float(x), float(y)) for x, y in z["polygon"]) if z.get("polygon") else None,
                 float(z["area_m2"]) if z.get("area_m2") else None) for z in items]


def _analyze(args: argparse.Namespace, settings: Settings) -> int:
    calibration = (CalibrationSpec.model_validate_json(args.calibration.read_text())
                   if args.calibration else None)
    analyzer = CameraAnalyzer(load_zones(args.zones), calibration,
                              AnalyzerOptions(method=args.method, onnx_model=args.onnx_model))
    source = open_source(args.source, args.rate, args.decoder,
                         max_width=analysis_width(args.method))
    done = 0
    try:
        while args.max_frames is None or done < args.max_frames:
            frame = source.read()
            if frame is None:
                break
            analysis = analyzer.analyse(frame.image, frame.t, frame.index, frame.native_size)
            sys.stdout.write(json.dumps(_line(analysis.t, analysis.index, analysis)) + "\n")
            sys.stdout.flush()
            done += 1
    finally:
        source.close()
    return 0


def _line(t: float, index: int, analysis: Any) -> dict[str, Any]:
    zones: dict[str, Any] = {}
    if analysis.result is not None:
        for z in analysis.result.zones:
            zones[z.zone_id] = {"count": round(z.count, 2),
                                "density": None if z.density is None else round(z.density, 4),
                                "level": None if z.level is None else z.level.value}
    line: dict[str, Any] = {"t": round(t, 3), "frame": index, "zones": zones}
    if analysis.health.value != "ok":
        line["health"] = analysis.health.value
    return line


def bench_speed(args: argparse.Namespace, settings: Settings) -> int:
    from video.bench_speed import run_speed_bench

    sys.stdout.write(json.dumps(run_speed_bench(args.seconds), indent=1) + "\n")
    return 0


def bench_accuracy(args: argparse.Namespace, settings: Settings) -> int:
    from video.bench_accuracy import run_accuracy_bench

    sys.stdout.write(json.dumps(run_accuracy_bench(quick=args.quick), indent=1) + "\n")
    return 0
