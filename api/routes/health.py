"""``/health`` (readiness per component) and ``/metrics`` (Prometheus text)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from api.deps import ServicesDep
from grid.tasks import OPEN_STATES

router = APIRouter(tags=["operations"])

_INGEST_COUNTERS = {
    "ingest_messages_total": "MQTT messages committed (stored or dead-lettered)",
    "ingest_rows_written_total": "Time-series rows written",
    "ingest_dead_letters_total": "Messages refused into the dead-letter table",
    "ingest_duplicates_total": "Rows skipped as redeliveries",
    "ingest_replayed_total": "Dead letters replayed and stored after a fix",
}


@router.get("/health")
def health(services: ServicesDep) -> JSONResponse:
    components: dict[str, dict[str, str]] = {}
    probes = {"database": lambda: _database_probe(services.pool), **services.probes}
    for name, probe in probes.items():
        try:
            problem = probe()
        except Exception as exc:  # a probe that crashes is a component that is not ready
            problem = f"probe failed: {exc}"
        components[name] = {"status": "ok"} if problem is None else {
            "status": "down", "detail": problem}
    ready = all(c["status"] == "ok" for c in components.values())
    return JSONResponse({"status": "ok" if ready else "degraded", "components": components},
                        status_code=200 if ready else 503)


def _database_probe(pool: ConnectionPool) -> str | None:
    with pool.connection(timeout=2) as conn:
        conn.execute("SELECT 1")
    return None


class _StoreCollector:
    """Reads the counters ingest commits with its data, and live alert/task gauges."""

    def __init__(self, pool: ConnectionPool) -> None:
        self.pool = pool

    def collect(self) -> Iterator[Metric]:
        with self.pool.connection(timeout=5) as conn, conn.cursor(row_factory=dict_row) as cur:
            counters = cur.execute(
                "SELECT name, instance, value FROM service_counters").fetchall()
            firing = cur.execute(
                "SELECT count(*) AS n FROM alerts WHERE state = 'firing'").fetchone()
            tasks = cur.execute(
                "SELECT state, count(*) AS n FROM tasks WHERE state = ANY(%s) GROUP BY state",
                (list(OPEN_STATES),)).fetchall()
        yield from self._counters(counters)
        gauge = GaugeMetricFamily("sharpeyes_alerts_firing", "Alerts currently firing")
        gauge.add_metric([], float(firing["n"] if firing else 0))
        yield gauge
        by_state = {r["state"]: r["n"] for r in tasks}
        open_tasks = GaugeMetricFamily("sharpeyes_tasks_open", "Open grid tasks by state",
                                       labels=["state"])
        for state in OPEN_STATES:
            open_tasks.add_metric([state], float(by_state.get(state, 0)))
        yield open_tasks

    @staticmethod
    def _counters(rows: list[dict[str, Any]]) -> Iterator[Metric]:
        for name, help_text in _INGEST_COUNTERS.items():
            family = CounterMetricFamily(f"sharpeyes_{name}", help_text, labels=["instance"])
            instances = [r for r in rows if r["name"] == name]
            for r in instances:
                family.add_metric([str(r["instance"])], float(r["value"]))
            if not instances:
                family.add_metric([""], 0.0)
            yield family


@router.get("/metrics", response_class=Response)
def metrics(services: ServicesDep) -> Response:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_StoreCollector(services.pool))
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
