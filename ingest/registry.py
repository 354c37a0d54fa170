"""The device and zone registry as ingest sees it: a cache refreshed from the store."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import psycopg


@dataclass(frozen=True, slots=True)
class ZoneInfo:
    device_id: str
    area_m2: float


class Registry:
    """Known devices and zones; a miss reloads at most once per ``min_refresh`` seconds."""

    def __init__(self, min_refresh: float = 2.0) -> None:
        self.devices: dict[str, str] = {}
        self.zones: dict[str, ZoneInfo] = {}
        self._min_refresh = min_refresh
        self._loaded_at = float("-inf")

    def load(self, conn: psycopg.Connection[Any]) -> None:
        with conn.cursor() as cur:
            cur.execute("SELECT id, kind FROM devices")
            self.devices = {str(r[0]): str(r[1]) for r in cur.fetchall()}
            cur.execute("SELECT id, device_id, area_m2 FROM zones")
            self.zones = {str(r[0]): ZoneInfo(str(r[1]), float(r[2])) for r in cur.fetchall()}
        self._loaded_at = time.monotonic()

    def refresh_on_miss(self, conn: psycopg.Connection[Any]) -> bool:
        """Reload if the last load is old enough; True if it reloaded."""
        if time.monotonic() - self._loaded_at < self._min_refresh:
            return False
        self.load(conn)
        return True

    def add_device(self, device_id: str, kind: str) -> None:
        self.devices[device_id] = kind
