"""Prometheus metrics: what the store knows (shared by every replica) and this API
process's own request latency.

:class:`StoreCollector` reads at scrape time: ingest counters (committed with the rows
they count), ingest lag, dead letters by kind, alerts by state, open and overdue tasks
by tier, devices by status. :class:`LatencyMiddleware` observes every request in a
histogram labelled by route *template* (``/api/v1/tasks/{task_id}``, never the raw path,
so cardinality stays bounded), method and status class. Nothing is registered globally:
each app owns an :class:`ApiMetrics`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from grid.tasks import OPEN_STATES

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
"""Set (by sharpeyes.api_workers) when several API processes write their samples to files there."""

INGEST_COUNTERS = {
    "ingest_messages_total": "MQTT messages committed (stored or dead-lettered)",
    "ingest_rows_written_total": "Time-series rows written",
    "ingest_dead_letters_total": "Messages refused into the dead-letter table",
    "ingest_duplicates_total": "Rows skipped as redeliveries",
    "ingest_replayed_total": "Dead letters replayed and stored after a fix",
}

# Sub-millisecond to multi-second: the dashboard's target is p95 <= 50 ms.
LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

_LAG = """
SELECT extract(epoch FROM now() - max(time)) AS lag,
       extract(epoch FROM now() - max(updated_at)) AS write_age
FROM (SELECT time, updated_at FROM zone_current
      UNION ALL SELECT time, updated_at FROM sensor_current) latest
"""
_DEAD_LETTERS = """
SELECT error_kind AS kind,
       CASE WHEN replayed_at IS NOT NULL THEN 'replayed'
            WHEN replay_requested_at IS NOT NULL THEN 'replay_requested'
            ELSE 'stored' END AS state, count(*) AS n
FROM dead_letters GROUP BY 1, 2
"""
_ALERTS = "SELECT state, severity, count(*) AS n FROM alerts GROUP BY 1, 2"
_TASKS = """
SELECT state, tier, count(*) AS n,
       count(*) FILTER (WHERE due_at < now()) AS overdue,
       max(extract(epoch FROM now() - due_at)) FILTER (WHERE due_at < now()) AS worst
FROM tasks WHERE state = ANY(%s) GROUP BY 1, 2
"""
_DEVICES = """
SELECT COALESCE(s.state, 'unknown') AS status, count(*) AS n
FROM devices d LEFT JOIN device_status s ON s.device_id = d.id GROUP BY 1
"""


def _gauge(name: str, doc: str, labels: list[str],
           samples: list[tuple[list[str], float]]) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, doc, labels=labels)
    for values, value in samples:
        family.add_metric(values, value)
    return family


class StoreCollector:
    """Gauges and counters read from the store at scrape time."""

    def __init__(self, pool: ConnectionPool) -> None:
        self.pool = pool

    def collect(self) -> Iterator[Metric]:
        with self.pool.connection(timeout=5) as conn, conn.transaction(), \
                conn.cursor(row_factory=dict_row) as cur:
            cur.execute("SET LOCAL statement_timeout = '5s'")  # a scrape must not hang
            rows = {name: cur.execute(query, params).fetchall() for name, query, params in (
                ("counters", "SELECT name, instance, value FROM service_counters", None),
                ("lag", _LAG, None), ("dead", _DEAD_LETTERS, None), ("alerts", _ALERTS, None),
                ("tasks", _TASKS, (list(OPEN_STATES),)), ("devices", _DEVICES, None))}
        yield from self._counters(rows["counters"])
        yield from self._ingest(rows["lag"][0], rows["dead"])
        yield from self._alerts(rows["alerts"])
        yield from self._tasks(rows["tasks"])
        yield _gauge("sharpeyes_devices", "Registered devices by last reported status",
                     ["status"], [([r["status"]], float(r["n"])) for r in rows["devices"]])

    @staticmethod
    def _counters(rows: list[dict[str, Any]]) -> Iterator[Metric]:
        for name, help_text in INGEST_COUNTERS.items():
            family = CounterMetricFamily(f"sharpeyes_{name}", help_text, labels=["instance"])
            instances = [r for r in rows if r["name"] == name]
            for r in instances:
                family.add_metric([str(r["instance"])], float(r["value"]))
            if not instances:
                family.add_metric([""], 0.0)
            yield family

    @staticmethod
    def _ingest(lag: dict[str, Any], dead: list[dict[str, Any]]) -> Iterator[Metric]:
        # No sample at all when nothing was ever stored: absent beats a made-up number.
        yield _gauge("sharpeyes_ingest_lag_seconds",
                     "Now minus the measurement time of the newest stored report", [],
                     [([], float(lag["lag"]))] if lag["lag"] is not None else [])
        yield _gauge("sharpeyes_ingest_last_write_age_seconds",
                     "Seconds since ingest last stored a report", [],
                     [([], float(lag["write_age"]))] if lag["write_age"] is not None else [])
        yield _gauge("sharpeyes_dead_letters", "Dead letters in the table by kind and state",
                     ["kind", "state"], [([r["kind"], r["state"]], float(r["n"])) for r in dead])

    @staticmethod
    def _alerts(rows: list[dict[str, Any]]) -> Iterator[Metric]:
        firing = sum(r["n"] for r in rows if r["state"] == "firing")
        yield _gauge("sharpeyes_alerts_firing", "Alerts currently firing", [],
                     [([], float(firing))])
        yield _gauge("sharpeyes_alerts", "Alerts by state and severity", ["state", "severity"],
                     [([r["state"], r["severity"] or ""], float(r["n"])) for r in rows])

    @staticmethod
    def _tasks(rows: list[dict[str, Any]]) -> Iterator[Metric]:
        by_state = {s: 0 for s in OPEN_STATES}
        tiers: dict[str, dict[str, float]] = {}
        for r in rows:
            by_state[r["state"]] += r["n"]
            tier = tiers.setdefault(r["tier"], {"open": 0, "overdue": 0, "worst": 0.0})
            tier["open"] += r["n"]
            tier["overdue"] += r["overdue"]
            tier["worst"] = max(tier["worst"], float(r["worst"] or 0))
        yield _gauge("sharpeyes_tasks_open", "Open grid tasks by state", ["state"],
                     [([s], float(n)) for s, n in by_state.items()])
        yield _gauge("sharpeyes_tasks_open_by_tier", "Open grid tasks by handling tier",
                     ["tier"], [([t], v["open"]) for t, v in sorted(tiers.items())])
        yield _gauge("sharpeyes_tasks_overdue", "Open tasks past their current deadline",
                     ["tier"], [([t], v["overdue"]) for t, v in sorted(tiers.items())])
        yield _gauge("sharpeyes_tasks_most_overdue_seconds",
                     "How long the most overdue open task is past its deadline", ["tier"],
                     [([t], v["worst"]) for t, v in sorted(tiers.items())])


class ApiMetrics:
    """This process's request metrics, in a registry owned by one app."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.latency = Histogram(
            "sharpeyes_api_request_duration_seconds",
            "API request latency by route template, method and status class",
            ["route", "method", "status"], buckets=LATENCY_BUCKETS, registry=self.registry)


class LatencyMiddleware:
    """Pure ASGI middleware (no buffering): times each HTTP request except event streams,
    whose duration is the life of the connection, not a latency."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        seen: dict[str, Any] = {"status": 500, "stream": False}

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                seen["status"] = message["status"]
                headers = dict(message.get("headers", []))
                seen["stream"] = headers.get(b"content-type", b"").startswith(
                    b"text/event-stream")
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            if not seen["stream"]:
                route = getattr(scope.get("route"), "path", None) or "unmatched"
                self.metrics.latency.labels(route, scope["method"],
                                            f"{seen['status'] // 100}xx").observe(
                    time.perf_counter() - started)
