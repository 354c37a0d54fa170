"""Measure database bytes per observation and per camera-day (docs/capacity.md).

    python deploy/tools/measure_storage.py postgresql://postgres@127.0.0.1:5432/postgres
    python deploy/tools/measure_storage.py --in-place URL   # TimescaleDB served by pglite

Creates a scratch database (unless ``--in-place``: an empty database used as it is),
migrates it, inserts one day of 1 Hz density reports for ``--zones`` zones (one camera
each) server-side with ``generate_series``, rolls them up, and prints JSON: rows, bytes
per row of ``crowd_observations`` (heap, unique key, BRIN/time indexes), rollup sizes,
and on TimescaleDB the sizes before and after compressing the chunks.

The values are synthetic but shaped like a real zone (a slow daily swell plus noise),
since compression depends on how repetitive the data is.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from store.db import has_timescale, url_with_database  # noqa: E402
from store.migrate import migrate  # noqa: E402
from store.rollups import refresh_rollups  # noqa: E402

log = logging.getLogger("measure_storage")
DAY_START = datetime(2026, 1, 5, tzinfo=UTC)

_INSERT_DAY = """
INSERT INTO crowd_observations (time, zone_id, device_id, seq, count, density, confidence)
SELECT %(start)s + make_interval(secs => s), 'Z' || z, 'CAM-' || z, s,
       c, c / 200.0, 0.9
  FROM generate_series(1, %(zones)s) AS z,
       generate_series(0, 86399) AS s,
       LATERAL (SELECT round(60 + 40 * sin(s / 13750.0) + 8 * random())::float8 AS c) v
"""


@contextmanager
def scratch(url: str, in_place: bool) -> Iterator[str]:
    if in_place:
        yield url
        return
    name = f"sharpeyes_size_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield url_with_database(url, name)
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _size(conn: psycopg.Connection[Any], relation: str, timescale: bool) -> int:
    query = ("SELECT hypertable_size(%s)" if timescale and relation == "crowd_observations"
             else "SELECT pg_total_relation_size(%s)")
    row = conn.execute(query, (relation,)).fetchone()
    return int(row[0] or 0) if row else 0


def _rollup_rows(conn: psycopg.Connection[Any]) -> dict[str, int]:
    counts = {}
    for view in ("zone_rollup_1m", "zone_rollup_1h"):
        row = conn.execute(f"SELECT count(*) FROM {view}").fetchone()
        counts[view] = int(row[0]) if row else 0
    return counts


def measure(url: str, zones: int) -> dict[str, Any]:
    with psycopg.connect(url, autocommit=True, prepare_threshold=None) as conn:
        migrate(conn)
        timescale = has_timescale(conn)
        conn.execute(_INSERT_DAY, {"start": DAY_START, "zones": zones})
        conn.execute("ANALYZE crowd_observations")
        rows = zones * 86_400
        raw = _size(conn, "crowd_observations", timescale)
        result: dict[str, Any] = {
            "timescaledb": timescale, "zones": zones, "rows": rows,
            "raw_bytes": raw, "raw_bytes_per_row": round(raw / rows, 1),
            "raw_bytes_per_camera_day": raw // zones,
        }
        if timescale:
            result.update(_timescale_extras(conn, rows, zones))
        else:
            row = conn.execute("SELECT pg_relation_size('crowd_observations'),"
                               " pg_indexes_size('crowd_observations')").fetchone()
            assert row is not None
            result["heap_bytes"], result["index_bytes"] = int(row[0]), int(row[1])
            refresh_rollups(conn, DAY_START + timedelta(days=1))
            result["rollup_rows"] = _rollup_rows(conn)
            result["rollup_bytes"] = {v: _size(conn, v, False)
                                      for v in ("zone_rollup_1m", "zone_rollup_1h")}
        return result


def _timescale_extras(conn: psycopg.Connection[Any], rows: int, zones: int) -> dict[str, Any]:
    for view in ("zone_rollup_1m", "zone_rollup_1h"):
        conn.execute(f"CALL refresh_continuous_aggregate('{view}', NULL, NULL)")
    conn.execute("SELECT compress_chunk(c, if_not_compressed => true)"
                 " FROM show_chunks('crowd_observations') c")
    compressed = _size(conn, "crowd_observations", True)
    stats = conn.execute(
        "SELECT sum(before_compression_total_bytes), sum(after_compression_total_bytes)"
        " FROM chunk_compression_stats('crowd_observations')").fetchone()
    before, after = (int(stats[0] or 0), int(stats[1] or 0)) if stats else (0, 0)
    return {
        "rollup_rows": _rollup_rows(conn),
        "compressed_bytes": compressed,
        "compressed_bytes_per_row": round(compressed / rows, 1),
        "compressed_bytes_per_camera_day": compressed // zones,
        "chunk_bytes_before_compression": before,
        "chunk_bytes_after_compression": after,
        "compression_ratio": round(before / after, 1) if after else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", help="PostgreSQL URL (a server where databases may be created)")
    parser.add_argument("--zones", type=int, default=4, help="zones (one camera each)")
    parser.add_argument("--in-place", action="store_true",
                        help="use the database of URL as it is (pglite: one database)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    with scratch(args.url, args.in_place) as url:
        result = measure(url, args.zones)
    sys.stdout.write(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
