"""``sharpeyes bench ...``: benchmark commands that print JSON, each with its own baseline."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from kernel.settings import Settings
from sharpeyes.runtime import Runtime


def register(sub: Any) -> None:
    bench = sub.add_parser("bench", help="benchmarks (JSON output, baseline in the same run)")
    kinds = bench.add_subparsers(dest="bench_kind", required=True)
    ingest = kinds.add_parser("ingest", help="committed rows/s vs a bare paho subscriber")
    ingest.add_argument("--messages", type=int, default=200_000)
    ingest.add_argument("--replicas", type=_counts, default=[1],
                        help="ingest replica counts to measure in this run, e.g. 1,2")
    ingest.add_argument("--mode", choices=["live", "backlog"], default="live",
                        help="live: consume while publishing; backlog: drain a queued backlog")
    ingest.add_argument("--catch-all", action="store_true",
                        help="partitioned replica 0 also subscribes to the wildcards")
    ingest.add_argument("--publishers", type=int, default=4)
    ingest.add_argument("--json", action="store_true", help="print the result as JSON")
    ingest.set_defaults(handler=_bench_ingest)
    api = kinds.add_parser("api", help="p50/p95 of the hotspot list and a zone's 24 h series "
                           "with 30 days of history for 1,000 zones")
    api.add_argument("--clients", type=int, default=8, help="concurrent client processes")
    api.add_argument("--seconds", type=float, default=20, help="measuring time, all phases")
    api.add_argument("--workers", type=_counts, default=[1],
                     help="API worker process counts to measure in this run, e.g. 1,2")
    api.add_argument("--days", type=int, default=30,
                     help="days of history to load (30: 8.64 million rows, about a minute)")
    api.add_argument("--json", action="store_true", help="print the result as JSON")
    api.set_defaults(handler=_bench_api)
    alerts = kinds.add_parser("alerts", help="publish → alert → task latency, 1,000 zones")
    alerts.add_argument("--zones", type=int, default=1000)
    alerts.add_argument("--probes", type=int, default=100)
    alerts.add_argument("--report-interval", type=_report_interval, default=1.0,
                        metavar="SECONDS",
                        help="each zone's camera reports this often (city: 10,000 zones, 5 s)")
    alerts.add_argument("--json", action="store_true", help="print the result as JSON")
    alerts.set_defaults(handler=_bench_alerts)
    video = kinds.add_parser("video", help="720p streams per core vs naive decoding")
    _add_speed_args(video)
    video.set_defaults(handler=_bench_video)
    accuracy = kinds.add_parser("video-accuracy", help="counting error per density band vs HOG")
    _add_accuracy_args(accuracy)
    accuracy.set_defaults(handler=_bench_video_accuracy)


def _add_speed_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the test clip")
    parser.add_argument("--rate", type=float, default=0.5, help="analysis rate of the default")
    parser.add_argument("--dense-still", type=Path,
                        help="a real dense image to loop as the dense clip")
    parser.add_argument("--json", action="store_true")


def _add_accuracy_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true", help="fewer geometries and frames")
    parser.add_argument("--real", type=Path, help="folder of real labelled sets (annotations.json "
                        "folders, labelled clips): measure on them instead of renders")
    parser.add_argument("--labels", type=Path, action="append", default=[],
                        help="labels of a clip under --real (repeatable), e.g. "
                        "tests/video/pets_labels.json")
    parser.add_argument("--limit", type=int, help="at most this many images per set")
    parser.add_argument("--json", action="store_true")


def _counts(text: str) -> list[int]:
    """``'1,2'`` → ``[1, 2]`` (each ≥ 1)."""
    try:
        counts = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected counts like 1,2") from None
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: every count must be at least 1")
    return counts


def _report_interval(text: str) -> float:
    """Seconds between one camera's reports: 0.1 to 3,600."""
    try:
        seconds = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected seconds") from None
    if not 0.1 <= seconds <= 3600:
        raise argparse.ArgumentTypeError(f"{text!r}: must be between 0.1 and 3600 seconds")
    return seconds


def _bench_ingest(args: argparse.Namespace, settings: Settings) -> int:
    from sharpeyes.benches.ingest import result_json, run_bench

    rt = Runtime(settings)
    try:
        admin_url = rt.open_store()
        mqtt_url = rt.open_broker()
        result = run_bench(admin_url, mqtt_url, args.messages, args.publishers, args.replicas,
                           args.mode, args.catch_all)
    finally:
        rt.close()
    sys.stdout.write(result_json(result) + "\n")
    return 0 if result.lossless else 1


def _bench_api(args: argparse.Namespace, settings: Settings) -> int:
    from sharpeyes.benches.api import run_api_bench

    rt = Runtime(settings)
    try:
        result = run_api_bench(rt.open_store(), rt.open_broker(), args.clients, args.seconds,
                               args.workers, args.days)
    finally:
        rt.close()
    sys.stdout.write(json.dumps(result, indent=2) + "\n")
    return 0 if result["meets_target"] else 1


def _bench_video(args: argparse.Namespace, settings: Settings) -> int:
    from sharpeyes.benches.video_speed import run_speed_bench

    result = run_speed_bench(args.seconds, args.dense_still, args.rate)
    sys.stdout.write(json.dumps(result, indent=1, allow_nan=False) + "\n")
    return 0


def _bench_video_accuracy(args: argparse.Namespace, settings: Settings) -> int:
    if args.real is not None:
        from sharpeyes.benches.video_real import run_real_bench

        result = run_real_bench(args.real, args.labels, args.limit)
    else:
        from sharpeyes.benches.video_accuracy import run_accuracy_bench

        result = run_accuracy_bench(quick=args.quick)
    sys.stdout.write(json.dumps(result, indent=1, allow_nan=False) + "\n")
    return 0


def _bench_alerts(args: argparse.Namespace, settings: Settings) -> int:
    from sharpeyes.benches.alerts import run_alert_bench

    rt = Runtime(settings)
    try:
        admin_url = rt.open_store()
        mqtt_url = rt.open_broker()
        result = run_alert_bench(admin_url, mqtt_url, zones=args.zones, probes=args.probes,
                                 report_interval=args.report_interval)
    finally:
        rt.close()
    sys.stdout.write(json.dumps(result, indent=2) + "\n")
    return 0 if result["target_met"] else 1
