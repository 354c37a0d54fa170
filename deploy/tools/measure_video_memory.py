"""Measure the memory a video analyser needs per camera (docs/capacity.md).

    python deploy/tools/measure_video_memory.py postgresql://postgres@127.0.0.1:5432/postgres \\
        mqtt://127.0.0.1:1883 --methods regress,auto --cameras 0,4,8

For each method and camera count: a scratch database with that many cameras, all reading
one generated 720p 25 fps H.264 clip (each camera opens its own decoder), then
``sharpeyes serve video`` for ``--settle`` seconds before its resident memory (VmRSS) is
sampled every 2 s for ``--seconds``. Prints JSON: peak and mean RSS in MB per run, and
the memory per camera between the smallest and the largest count.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg

from sharpeyes.benches.video_speed import write_h264_clip
from store.db import url_with_database
from store.migrate import migrate


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS"):
            return int(line.split()[1]) / 1024
    return 0.0


def _database(admin_url: str, cameras: int, clip: Path) -> tuple[str, str]:
    name = f"sharpeyes_vmem_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = url_with_database(admin_url, name)
    with psycopg.connect(url) as conn:
        migrate(conn)
        conn.execute("INSERT INTO regions VALUES ('R', NULL, 'city', 'R', 'R')")
        conn.execute("INSERT INTO grids VALUES ('G', 'R', 'g', '{}', 0, 0, 1, 1)")
        for i in range(cameras):
            conn.execute("INSERT INTO devices (id, kind, name, grid_code, stream_url)"
                         " VALUES (%s, 'camera', %s, 'G', %s)", (f"CAM-{i}", f"c{i}", str(clip)))
            conn.execute("INSERT INTO zones (id, device_id, grid_code, name, area_m2)"
                         " VALUES (%s, %s, 'G', 'z', 200)", (f"Z-{i}", f"CAM-{i}"))
        conn.commit()
    return name, url


def measure(admin_url: str, mqtt_url: str, clip: Path, cameras: int, method: str,
            settle: float, seconds: float) -> dict[str, float]:
    name, url = _database(admin_url, cameras, clip)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHARPEYES_")}
    with tempfile.TemporaryDirectory() as data:
        env.update(SHARPEYES_DATABASE_URL=url, SHARPEYES_MQTT_URL=mqtt_url,
                   SHARPEYES_VIDEO_METHOD=method, SHARPEYES_DATA_DIR=data,
                   SHARPEYES_TOPIC_PREFIX=name)
        proc = subprocess.Popen([sys.executable, "-m", "sharpeyes.cli", "serve", "video"],
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        samples = []
        try:
            time.sleep(settle)
            while len(samples) < max(1, int(seconds / 2)):
                samples.append(rss_mb(proc.pid))
                time.sleep(2)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
            with psycopg.connect(admin_url, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    return {"peak_mb": round(max(samples), 1), "mean_mb": round(sum(samples) / len(samples), 1)}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("admin_url")
    parser.add_argument("mqtt_url")
    parser.add_argument("--methods", default="regress,auto")
    parser.add_argument("--cameras", default="0,4,8")
    parser.add_argument("--settle", type=float, default=30.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args(argv)
    counts = [int(c) for c in args.cameras.split(",")]
    result: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        clip = Path(tmp) / "clip.mp4"
        write_h264_clip(clip, 30.0)
        for method in args.methods.split(","):
            runs = {}
            for n in counts:
                sys.stderr.write(f"{method}: {n} cameras, measuring for "
                                 f"{args.settle + args.seconds:.0f} s...\n")
                runs[n] = measure(args.admin_url, args.mqtt_url, clip, n, method, args.settle,
                                  args.seconds)
                sys.stderr.write(f"{method}: {n} cameras {runs[n]}\n")
            spread = max(counts) - min(counts)
            per_camera = ((runs[max(counts)]["mean_mb"] - runs[min(counts)]["mean_mb"]) / spread
                          if spread else None)
            result[method] = {"runs": {str(n): r for n, r in runs.items()},
                              "mb_per_camera": round(per_camera, 1) if per_camera else None}
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
