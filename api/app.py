"""The FastAPI application factory: routers and who may reach them, error handlers,
metrics, the live stream hub, and the dashboard (static ES modules, no CDN).

Role gates that hold for a whole router are applied here (``_ROUTERS``), so one table
says which roles reach which resource; finer rules (an action only the assignee may
take, a field only an admin may change) live in the routers.
"""

from __future__ import annotations

import html
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, FastAPI
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from starlette.responses import Response

from api.deps import CENTRE, WATCHERS, roles_gate
from api.docs_page import install_docs
from api.errors import COMMON_RESPONSES, install_error_handlers
from api.metrics import ApiMetrics, LatencyMiddleware
from api.ratelimit import LoginLimits
from api.routes import (
    alerts,
    audit,
    auth,
    cameras,
    config,
    dead_letters,
    deadlines,
    devices,
    grid_map,
    health,
    hotspots,
    ingest_http,
    kpis,
    rules,
    silences,
    stream,
    tasks,
    zones,
)
from api.routes.stream import StreamHub
from api.services import Services
from grid.actors import Role
from kernel import __version__
from kernel.settings import Settings

# (router, roles admitted to every route in it; None: the router checks for itself)
_ROUTERS: tuple[tuple[APIRouter, tuple[Role, ...] | None], ...] = (
    (auth.router, None), (config.router, None), (hotspots.router, WATCHERS),
    (grid_map.router, WATCHERS),
    (stream.router, None),  # token may come as ?access_token=; checks WATCHERS itself
    (alerts.router, WATCHERS), (rules.router, None), (rules.periods_router, None),
    (silences.router, None), (silences.webhooks_router, None),
    (tasks.router, WATCHERS), (deadlines.router, WATCHERS), (kpis.router, None),
    (zones.router, None), (devices.router, None), (cameras.router, WATCHERS),
    (dead_letters.router, None),
    (ingest_http.router, None), (audit.router, CENTRE), (health.router, None),
)

# The dashboard loads only from this origin; images may be blobs (authorised fetches).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' blob: data:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "form-action 'self'"
)


class _RevalidatedStatic(StaticFiles):
    """Static files that browsers revalidate (ETag), so an upgrade is seen at once."""

    def file_response(self, *args: Any, **kwargs: Any) -> Response:
        response = super().file_response(*args, **kwargs)
        response.headers["Cache-Control"] = "no-cache"
        return response


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    yield
    await run_in_threadpool(app.state.stream_hub.close)  # end open streams on shutdown


def create_app(services: Services, *, login_limits: LoginLimits | None = None) -> FastAPI:
    """An app bound to ``services``; build one per process (or per test)."""
    app = FastAPI(
        title="Sharp Eyes",
        version=__version__,
        description="Crowd-safety alerts and grid tasks from a city's cameras and sensors. "
                    "Errors are RFC 9457 problem details; lists take `limit` and `offset`.",
        lifespan=_lifespan,
        docs_url=None,  # served from the vendored Swagger UI (api/docs_page.py)
    )
    metrics = ApiMetrics()
    app.state.services = services
    app.state.login_limits = login_limits or LoginLimits()
    app.state.metrics = metrics
    app.state.stream_hub = StreamHub(services.pool)
    app.add_middleware(LatencyMiddleware, metrics=metrics)
    install_error_handlers(app)
    for router, roles in _ROUTERS:
        gate = [roles_gate(*roles)] if roles else []
        responses = COMMON_RESPONSES if router is not health.router else {}
        app.include_router(router, dependencies=gate, responses=responses)
    _mount_dashboard(app, services.settings)
    install_docs(app)
    return app


def _mount_dashboard(app: FastAPI, settings: Settings) -> None:
    static = resources.files("api").joinpath("static")
    page = static.joinpath("index.html").read_text(encoding="utf-8")
    page, policy = _with_tiles(page, settings.dashboard_tile_url,
                               settings.dashboard_tile_attribution)
    app.mount("/static", _RevalidatedStatic(directory=str(static)), name="static")

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def dashboard() -> HTMLResponse:
        return HTMLResponse(page, headers={"Content-Security-Policy": policy,
                                           "Cache-Control": "no-cache"})


def _with_tiles(page: str, tile_url: str, attribution: str) -> tuple[str, str]:
    """The page with the configured base map filled in, and a policy that lets the browser
    load those tiles (only from that origin); unchanged when no tile server is set."""
    if not tile_url:
        return page, CONTENT_SECURITY_POLICY
    parts = urlsplit(tile_url)
    for name, value in (("sharpeyes-tile-url", tile_url),
                        ("sharpeyes-tile-attribution", attribution)):
        page = page.replace(f'<meta name="{name}" content="">',
                            f'<meta name="{name}" content="{html.escape(value)}">')
    policy = CONTENT_SECURITY_POLICY.replace(
        "img-src 'self'", f"img-src 'self' {parts.scheme}://{parts.netloc}")
    return page, policy
