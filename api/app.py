"""The FastAPI application factory: routers, error handlers, the dashboard."""

from __future__ import annotations

from importlib import resources

from fastapi import FastAPI
from fastapi.responses import HTMLResponse

from api.errors import install_error_handlers
from api.routes import (
    alerts,
    auth,
    dead_letters,
    deadlines,
    health,
    hotspots,
    ingest_http,
    kpis,
    rules,
    silences,
    tasks,
    zones,
)
from api.services import Services
from sharpeyes import __version__


def create_app(services: Services) -> FastAPI:
    """An app bound to ``services``; build one per process (or per test)."""
    app = FastAPI(
        title="Sharp Eyes",
        version=__version__,
        description="Crowd-safety alerts and grid tasks from a city's cameras and sensors.",
    )
    app.state.services = services
    install_error_handlers(app)
    for module in (auth, hotspots, alerts, tasks, deadlines, kpis, zones, dead_letters,
                   ingest_http, health):
        app.include_router(module.router)
    for router in (rules.router, rules.periods_router, silences.router,
                   silences.webhooks_router):
        app.include_router(router)
    page = resources.files("api").joinpath("static/index.html").read_text(encoding="utf-8")

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def dashboard() -> str:
        return page

    return app
