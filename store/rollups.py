"""Dashboard rollups (per zone, per minute and per hour), retention and compression.

Migration ``0010_rollups`` creates ``zone_rollup_1m`` and ``zone_rollup_1h`` with the
columns of :func:`store.timeseries.zone_series`: continuous aggregates on TimescaleDB,
tables on plain PostgreSQL. This module owns what a migration cannot do:

* :func:`apply_policies` — called by every process at start with the configured
  windows: records them in ``rollup_settings`` and, on TimescaleDB, (re)creates the
  refresh, compression and retention policies. Idempotent, and serialized by a row lock
  so replicas starting together do not race.
* :func:`refresh_rollups` — the plain-PostgreSQL stand-in for those policies, run every
  minute by the scheduler leader: re-aggregates every bucket that received rows since
  the last run (late reports included), then deletes what is past its window.
  Idempotent and re-runnable; a no-op on TimescaleDB, whose background jobs do this.
* :func:`rollup_series` — reads the rollups for a dashboard chart.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row, tuple_row

from kernel.errors import InvalidError
from store.db import has_timescale

log = logging.getLogger(__name__)

# Same origin as store.timeseries: minute and hour buckets align with time_bucket's.
ORIGIN = datetime.fromisoformat("2000-01-03T00:00:00+00:00")
MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)

# An ingest transaction stamps received_at when it starts and may commit just after a
# refresh read the watermark; re-reading this much before the watermark catches it.
WATERMARK_OVERLAP = timedelta(minutes=2)

MINUTE_VIEW = "zone_rollup_1m"
HOUR_VIEW = "zone_rollup_1h"
RAW_TABLES = ("crowd_observations", "sensor_readings")


# Before any row: the first refresh reads the whole table once.
_BEGINNING = datetime(1970, 1, 1, tzinfo=UTC)


class PolicyError(InvalidError):
    """Retention windows that would drop data before it is rolled up."""


@dataclass(frozen=True, slots=True)
class RetentionWindows:
    """How long each level is kept, in days, and when raw chunks are compressed."""

    raw_days: int = 30
    minute_days: int = 90
    hour_days: int = 730
    # Also how far back late reports are re-aggregated: keep it above the ingest's
    # maximum report age (SHARPEYES_MAX_REPORT_AGE_SECONDS, 7 days by default).
    compress_after_days: int = 8

    def check(self) -> None:
        """Refuse windows under which a rollup would read raw data already dropped."""
        if min(self.raw_days, self.minute_days, self.hour_days, self.compress_after_days) < 1:
            raise PolicyError("every window must be at least one day")
        if self.raw_days <= self.compress_after_days:
            raise PolicyError("raw_days must exceed compress_after_days (the late-data window)")
        if self.minute_days <= self.compress_after_days + 1:
            raise PolicyError("minute_days must exceed compress_after_days + 1: the hourly "
                              "rollup is re-read from the minute rollup over that window")
        if self.hour_days < self.minute_days:
            raise PolicyError("hour_days must be at least minute_days")


@dataclass(frozen=True, slots=True)
class RefreshResult:
    """What one :func:`refresh_rollups` run did (all zero on TimescaleDB)."""

    minutes: int = 0
    hours: int = 0
    deleted: int = 0
    skipped: bool = False


# --- policies ---------------------------------------------------------------------------

def apply_policies(conn: psycopg.Connection[Any], windows: RetentionWindows) -> bool:
    """Record ``windows`` and, on TimescaleDB, make the policies match; True if changed."""
    windows.check()
    timescale = has_timescale(conn)
    with conn.transaction():
        # The row lock serializes replicas that start at the same moment.
        current = _read_windows(conn, lock=True)
        if current == windows and (not timescale or _policies_present(conn)):
            return False
        conn.execute(
            "UPDATE rollup_settings SET raw_days = %s, minute_days = %s, hour_days = %s,"
            " compress_after_days = %s, updated_at = now()",
            (windows.raw_days, windows.minute_days, windows.hour_days,
             windows.compress_after_days),
        )
        if timescale:
            _replace_timescale_policies(conn, windows)
    log.info("rollup windows set: %s (timescaledb=%s)", windows, timescale)
    return True


def current_windows(conn: psycopg.Connection[Any]) -> RetentionWindows:
    """The windows recorded in the database."""
    return _read_windows(conn, lock=False)


def _read_windows(conn: psycopg.Connection[Any], *, lock: bool) -> RetentionWindows:
    query = ("SELECT raw_days, minute_days, hour_days, compress_after_days FROM rollup_settings"
             + (" FOR UPDATE" if lock else ""))
    row = _one(conn, query)
    if row is None:
        raise RuntimeError("rollup_settings is empty: has migration 0010 run?")
    return RetentionWindows(*(int(v) for v in row))


def _one(
    conn: psycopg.Connection[Any], query: str, params: Sequence[Any] | None = None,
) -> tuple[Any, ...] | None:
    """One row as a tuple, whatever row factory the caller's connection uses."""
    with conn.cursor(row_factory=tuple_row) as cur:
        return cur.execute(query, params).fetchone()


def _policy_jobs(conn: psycopg.Connection[Any]) -> int:
    # The jobs view names an aggregate's jobs by the view (some versions by the
    # materialization hypertable): match both.
    views = [MINUTE_VIEW, HOUR_VIEW]
    row = _one(
        conn,
        "SELECT count(*) FROM timescaledb_information.jobs"
        " WHERE hypertable_name = ANY(%s) OR hypertable_name IN"
        " (SELECT materialization_hypertable_name"
        "    FROM timescaledb_information.continuous_aggregates WHERE view_name = ANY(%s))",
        ([*RAW_TABLES, *views], views),
    )
    return int(row[0]) if row else 0


def _policies_present(conn: psycopg.Connection[Any]) -> bool:
    return _policy_jobs(conn) >= len(_timescale_policies(RetentionWindows()))


def _days(n: int) -> timedelta:
    return timedelta(days=n)


def _timescale_policies(w: RetentionWindows) -> list[tuple[str, str, dict[str, object]]]:
    """(function, relation, arguments) for every policy, in creation order."""
    late = _days(w.compress_after_days)
    policies: list[tuple[str, str, dict[str, object]]] = [
        # Refresh far enough back to absorb late reports; only invalidated buckets are
        # recomputed, so the wide window costs nothing when no late data arrived.
        ("add_continuous_aggregate_policy", MINUTE_VIEW,
         {"start_offset": late, "end_offset": MINUTE, "schedule_interval": MINUTE}),
        ("add_continuous_aggregate_policy", HOUR_VIEW,
         {"start_offset": late + _days(1), "end_offset": HOUR,
          "schedule_interval": timedelta(minutes=15)}),
        # A compressed minute rollup must lie outside its refresh window.
        ("add_compression_policy", MINUTE_VIEW, {"compress_after": late + _days(1)}),
        ("add_retention_policy", MINUTE_VIEW, {"drop_after": _days(w.minute_days)}),
        ("add_retention_policy", HOUR_VIEW, {"drop_after": _days(w.hour_days)}),
    ]
    for table in RAW_TABLES:
        policies.append(("add_compression_policy", table, {"compress_after": late}))
        policies.append(("add_retention_policy", table, {"drop_after": _days(w.raw_days)}))
    return policies


_REMOVERS = {
    "add_continuous_aggregate_policy": "remove_continuous_aggregate_policy",
    "add_compression_policy": "remove_compression_policy",
    "add_retention_policy": "remove_retention_policy",
}


def _replace_timescale_policies(conn: psycopg.Connection[Any], w: RetentionWindows) -> None:
    """Drop and re-add every policy: simpler than diffing job configs, and rare."""
    policies = _timescale_policies(w)
    for function, relation, _ in policies:
        conn.execute(sql.SQL("SELECT {}({}, if_exists => true)").format(
            sql.Identifier(_REMOVERS[function]), sql.Literal(relation)))
    for function, relation, args in policies:
        named = sql.SQL(", ").join(
            sql.SQL("{} => {}").format(sql.Identifier(k), sql.Placeholder(k)) for k in args)
        conn.execute(sql.SQL("SELECT {}({}, {})").format(
            sql.Identifier(function), sql.Literal(relation), named), args)


# --- plain PostgreSQL refresh -------------------------------------------------------------

_REFRESH_MINUTES = """
WITH touched AS (
    SELECT DISTINCT zone_id, date_bin(%(minute)s, time, %(origin)s) AS bucket
      FROM crowd_observations
     WHERE received_at >= %(since)s
)
INSERT INTO zone_rollup_1m AS r (bucket, zone_id, density, peak_density, count, samples)
SELECT t.bucket, t.zone_id, avg(o.density), max(o.density), avg(o.count), count(*)
  FROM touched t
  JOIN crowd_observations o
    ON o.zone_id = t.zone_id AND o.time >= t.bucket AND o.time < t.bucket + %(minute)s
 GROUP BY t.bucket, t.zone_id
ON CONFLICT (zone_id, bucket) DO UPDATE
   SET density = EXCLUDED.density, peak_density = EXCLUDED.peak_density,
       count = EXCLUDED.count, samples = EXCLUDED.samples
RETURNING r.zone_id, date_bin(%(hour)s, r.bucket, %(origin)s) AS hour
"""

_REFRESH_HOURS = """
INSERT INTO zone_rollup_1h AS r (bucket, zone_id, density, peak_density, count, samples)
SELECT h.hour, h.zone_id,
       sum(m.density * m.samples) / sum(m.samples), max(m.peak_density),
       sum(m.count * m.samples) / sum(m.samples), sum(m.samples)
  FROM unnest(%(zones)s::text[], %(hours)s::timestamptz[]) AS h(zone_id, hour)
  JOIN zone_rollup_1m m
    ON m.zone_id = h.zone_id AND m.bucket >= h.hour AND m.bucket < h.hour + %(hour)s
 GROUP BY h.hour, h.zone_id
ON CONFLICT (zone_id, bucket) DO UPDATE
   SET density = EXCLUDED.density, peak_density = EXCLUDED.peak_density,
       count = EXCLUDED.count, samples = EXCLUDED.samples
"""

_EXPIRE = (
    ("crowd_observations", "time", "raw_days"),
    ("sensor_readings", "time", "raw_days"),
    (MINUTE_VIEW, "bucket", "minute_days"),
    (HOUR_VIEW, "bucket", "hour_days"),
)


def refresh_rollups(conn: psycopg.Connection[Any], now: datetime) -> RefreshResult:
    """Roll up what arrived since the last run and expire old data (plain PostgreSQL).

    ``now`` sets the retention cutoffs; which raw rows are new is decided by their
    ``received_at`` against a watermark kept in the database, so a late report (an old
    ``time`` received now) re-aggregates its old bucket. A run that finds another one in
    progress returns at once with ``skipped``.
    """
    if has_timescale(conn):
        return RefreshResult()
    with conn.transaction():
        row = _one(conn, "SELECT refreshed_until, now() FROM rollup_settings"
                         " FOR UPDATE SKIP LOCKED")
        if row is None:
            return RefreshResult(skipped=True)
        watermark, started = row
        since = watermark - WATERMARK_OVERLAP if watermark is not None else _BEGINNING
        minutes, hours = _refresh_buckets(conn, since)
        deleted = _expire(conn, now, current_windows(conn))
        conn.execute("UPDATE rollup_settings SET refreshed_until = %s", (started,))
    return RefreshResult(minutes=minutes, hours=hours, deleted=deleted)


def _refresh_buckets(conn: psycopg.Connection[Any], since: datetime) -> tuple[int, int]:
    params: dict[str, object] = {"minute": MINUTE, "hour": HOUR, "origin": ORIGIN,
                                 "since": since}
    with conn.cursor(row_factory=tuple_row) as cur:
        touched = {(z, h) for z, h in cur.execute(_REFRESH_MINUTES, params).fetchall()}
        minutes = cur.rowcount
        if not touched:
            return minutes, 0
        zones, hours = zip(*sorted(touched), strict=True)
        cur.execute(_REFRESH_HOURS, {"zones": list(zones), "hours": list(hours), "hour": HOUR})
        return minutes, cur.rowcount


def _expire(conn: psycopg.Connection[Any], now: datetime, w: RetentionWindows) -> int:
    deleted = 0
    for table, column, window in _EXPIRE:
        cutoff = now - _days(getattr(w, window))
        cur = conn.execute(sql.SQL("DELETE FROM {} WHERE {} < %s").format(
            sql.Identifier(table), sql.Identifier(column)), (cutoff,))
        deleted += cur.rowcount
    return deleted


def refresh_job(url: str) -> Callable[[], None]:
    """The scheduler job (leader only, every minute): one short connection per run."""

    def run() -> None:
        with psycopg.connect(url, autocommit=True) as conn:
            result = refresh_rollups(conn, datetime.now(UTC))
        if result.minutes or result.deleted:
            log.info("rollups refreshed: %s", result)

    return run


# --- reading ----------------------------------------------------------------------------

_SERIES = """
SELECT date_bin(%(bucket)s, bucket, %(origin)s) AS bucket,
       sum(density * samples) / sum(samples) AS density, max(peak_density) AS peak_density,
       sum(count * samples) / sum(samples) AS count, sum(samples)::bigint AS samples
  FROM {view}
 WHERE zone_id = %(zone)s AND bucket >= %(since)s AND bucket < %(until)s
 GROUP BY 1 ORDER BY 1
"""


def rollup_view(bucket: timedelta) -> str | None:
    """The coarsest rollup whose buckets divide ``bucket``; None when none does."""
    for view, size in ((HOUR_VIEW, HOUR), (MINUTE_VIEW, MINUTE)):
        if bucket >= size and bucket % size == timedelta(0):
            return view
    return None


def rollup_series(
    conn: psycopg.Connection[Any], zone_id: str, since: datetime, until: datetime,
    bucket: timedelta,
) -> list[dict[str, Any]] | None:
    """Like :func:`store.timeseries.zone_series`, from the rollups; None if ``bucket`` is
    not a whole number of minutes (the caller then reads the raw series).

    Rollup buckets starting in [since, until) are counted whole, so align ``since`` and
    ``until`` to the rollup size for results identical to the raw query.
    """
    view = rollup_view(bucket)
    if view is None:
        return None
    query = sql.SQL(_SERIES).format(view=sql.Identifier(view))
    params = {"bucket": bucket, "origin": ORIGIN, "zone": zone_id, "since": since,
              "until": until}
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(query, params).fetchall()
