"""Time-bucketed queries for TimescaleDB (``time_bucket``) and plain PostgreSQL (``date_bin``)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

# date_bin needs an origin; Timescale's default for sub-day buckets is equivalent.
_ORIGIN = datetime.fromisoformat("2000-01-03T00:00:00+00:00")


def bucket_expression(timescale: bool, column: str = "time") -> sql.Composable:
    """SQL for the bucket start of ``column``; takes the interval as the first parameter."""
    if timescale:
        return sql.SQL("time_bucket(%(bucket)s, {})").format(sql.Identifier(column))
    return sql.SQL("date_bin(%(bucket)s, {}, %(origin)s)").format(sql.Identifier(column))


def zone_series(
    conn: psycopg.Connection[Any], zone_id: str, since: datetime, until: datetime,
    bucket: timedelta, *, timescale: bool,
) -> list[dict[str, Any]]:
    """Mean and peak density and mean count per bucket for one zone."""
    query = sql.SQL(
        "SELECT {bucket} AS bucket, avg(density) AS density, max(density) AS peak_density,"
        " avg(count) AS count, count(*) AS samples"
        " FROM crowd_observations"
        " WHERE zone_id = %(zone)s AND time >= %(since)s AND time < %(until)s"
        " GROUP BY 1 ORDER BY 1"
    ).format(bucket=bucket_expression(timescale))
    params = {"bucket": bucket, "origin": _ORIGIN, "zone": zone_id, "since": since,
              "until": until}
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(query, params).fetchall()
