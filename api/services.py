"""What the API needs from the running system, handed to :func:`api.app.create_app`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from psycopg_pool import ConnectionPool

from kernel.mqtt import Publisher
from kernel.settings import Settings

# A readiness probe: returns None when healthy, else what is wrong.
Probe = Callable[[], str | None]


@dataclass(slots=True)
class Services:
    settings: Settings
    pool: ConnectionPool
    jwt_secret: str
    timescale: bool = False
    probes: dict[str, Probe] = field(default_factory=dict)
    publisher: Publisher | None = None  # for the HTTP ingest endpoint
