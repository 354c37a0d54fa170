"""KPIs of the task loop (考核): per worker, grid, or centre at each level, over a period.

Each task counts for its final assignee, its grid, and the centres above that grid.
Times are from the task's own timestamps: to accept (created → accepted), to arrive
(accepted → arrived), to resolve (created → resolved). "On time" is what the
accept/arrive/resolve events recorded against the deadline running at that moment.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row


class GroupBy(StrEnum):
    WORKER = "worker"
    GRID = "grid"
    STREET = "street"
    DISTRICT = "district"
    CITY = "city"


_KEY = {
    GroupBy.WORKER: "t.assignee_id",
    GroupBy.GRID: "t.grid_code",
    GroupBy.STREET: "split_part(r.path, '.', 3)",
    GroupBy.DISTRICT: "split_part(r.path, '.', 2)",
    GroupBy.CITY: "split_part(r.path, '.', 1)",
}

_ACCEPTED_ON_TIME = """(SELECT bool_and((e.evidence->>'on_time')::boolean) FROM task_events e
               WHERE e.task_id = t.id AND e.action = 'accept' AND e.evidence ? 'on_time')"""

_QUERY = """
WITH scoped AS (
    SELECT t.*, {key} AS key,
           {accepted_on_time} AS accepted_on_time,
           EXISTS (SELECT 1 FROM task_escalations x WHERE x.task_id = t.id) AS escalated,
           (SELECT avg(f.satisfaction) FROM task_feedback f WHERE f.task_id = t.id) AS citizen
    FROM tasks t JOIN grids g ON g.code = t.grid_code JOIN regions r ON r.id = g.region_id
    WHERE t.created_at >= %(since)s AND t.created_at < %(until)s AND {scope}
      AND {key} IS NOT NULL AND t.state <> 'merged'
)
SELECT key,
       count(*) AS received,
       count(*) FILTER (WHERE accepted_at IS NOT NULL) AS accepted,
       count(*) FILTER (WHERE accepted_on_time) AS accepted_on_time,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM accepted_at - created_at))
           AS accept_p50_s,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM accepted_at - created_at))
           AS accept_p90_s,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM arrived_at - accepted_at))
           AS arrive_p50_s,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM arrived_at - accepted_at))
           AS arrive_p90_s,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM resolved_at - created_at))
           AS resolve_p50_s,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM resolved_at - created_at))
           AS resolve_p90_s,
       avg(escalated::int)::float8 AS escalation_rate,
       (count(*) FILTER (WHERE state = 'closed' AND tier = 'street'))::float8
           / nullif(count(*) FILTER (WHERE state = 'closed'), 0) AS lowest_tier_share,
       avg(rating)::float8 AS rating,
       avg(citizen)::float8 AS citizen_satisfaction
FROM scoped GROUP BY key ORDER BY key
"""


@dataclass(frozen=True, slots=True)
class Period:
    since: datetime
    until: datetime


def kpis(conn: psycopg.Connection[Any], group_by: GroupBy, period: Period,
         scope: sql.Composable, scope_params: dict[str, object]) -> list[dict[str, Any]]:
    """One row per worker/grid/centre with tasks in the period (inside ``scope``)."""
    query = sql.SQL(_QUERY).format(key=sql.SQL(_KEY[group_by]), scope=scope,
                                   accepted_on_time=sql.SQL(_ACCEPTED_ON_TIME))
    params = {"since": period.since, "until": period.until, **scope_params}
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(query, params).fetchall()
    if group_by is GroupBy.WORKER:
        online = online_seconds(conn, period)
        for row in rows:
            row["online_s"] = online.get(row["key"], 0.0)
    return rows


def online_seconds(conn: psycopg.Connection[Any], period: Period) -> dict[str, float]:
    """Seconds each worker was online in the period, from their presence changes."""
    rows = conn.cursor(row_factory=dict_row).execute(
        """
        WITH changes AS (
            SELECT person_id, online, greatest(at, %(since)s) AS start,
                   least(coalesce(lead(at) OVER (PARTITION BY person_id ORDER BY at, id),
                                  %(until)s), %(until)s) AS stop
            FROM worker_presence WHERE at < %(until)s
        )
        SELECT person_id, sum(extract(epoch FROM stop - start)) AS seconds
        FROM changes WHERE online AND stop > start GROUP BY person_id
        """, {"since": period.since, "until": period.until}).fetchall()
    return {r["person_id"]: float(r["seconds"]) for r in rows}


def ranking(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Monthly ranking (一月一通报): on-time acceptance, then resolution speed, then rating."""
    def score(row: dict[str, Any]) -> tuple[float, float, float]:
        on_time = row["accepted_on_time"] / row["received"] if row["received"] else 0.0
        resolve = row["resolve_p50_s"] if row["resolve_p50_s"] is not None else float("inf")
        return (-on_time, resolve, -(row["rating"] or 0.0))

    ranked = sorted(rows, key=score)
    return [{"rank": i + 1, **row} for i, row in enumerate(ranked)]
