"""``/health`` (readiness per component), ``/health/live`` and ``/metrics`` (Prometheus).

Unauthenticated, for probes and scrapers: they reveal counts and component states,
never data about places or people.
"""

from __future__ import annotations

import os

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from psycopg_pool import ConnectionPool
from pydantic import BaseModel

from api.deps import ServicesDep
from api.metrics import MULTIPROC_ENV, ApiMetrics, StoreCollector

router = APIRouter(tags=["operations"])


class ComponentOut(BaseModel):
    status: str
    detail: str | None = None


class HealthOut(BaseModel):
    status: str
    components: dict[str, ComponentOut]


@router.get("/health", response_model=HealthOut,
            responses={503: {"model": HealthOut, "description": "a component is down"}})
def health(services: ServicesDep) -> JSONResponse:
    """Readiness: 200 when every component is up, else 503 saying which is not."""
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


@router.get("/health/live", response_model=HealthOut)
def live() -> HealthOut:
    """Liveness: the process answers (restart it if this fails; not a readiness check)."""
    return HealthOut(status="ok", components={})


def _database_probe(pool: ConnectionPool) -> str | None:
    with pool.connection(timeout=2) as conn:
        conn.execute("SELECT 1")
    return None


@router.get("/metrics", response_class=Response,
            responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}})
def metrics(services: ServicesDep, request: Request) -> Response:
    """Prometheus text: ingest, dead letters, alerts, task SLA, devices, API latency."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(services.pool))
    return Response(generate_latest(registry) + _latency(request),
                    media_type=CONTENT_TYPE_LATEST)


def _latency(request: Request) -> bytes:
    """This process's request latency, or every API worker's (sharpeyes.api_workers) summed."""
    if os.environ.get(MULTIPROC_ENV):
        workers = CollectorRegistry(auto_describe=False)
        MultiProcessCollector(workers)  # type: ignore[no-untyped-call]
        return generate_latest(workers)
    own: ApiMetrics = request.app.state.metrics
    return generate_latest(own.registry)
