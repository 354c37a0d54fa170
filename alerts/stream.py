"""The dashboard's live stream of alert events, for the API's SSE endpoint (or polling).

Contract:

- Source: the append-only table ``alert_events`` (id ascending = order of events).
  Each row's ``payload`` is the same JSON the webhooks and MQTT receive
  (:func:`alerts.events.event_payload`); ``grid_code`` and ``region_path`` are there
  to filter by the reader's scope.
- Wake-up: ``NOTIFY sharpeyes_alert_events`` with the newest event id as payload,
  sent at commit of every transaction that recorded events. A reader ``LISTEN``\\s,
  then calls :func:`read_events` with the last id it delivered (SSE ``Last-Event-ID``),
  so a reconnecting client misses nothing and a missed NOTIFY costs only latency.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from alerts.events import EVENTS_CHANNEL
from grid.visibility import subtree_sql

__all__ = ["EVENTS_CHANNEL", "StreamEvent", "read_events", "wait_for_events"]

_READ = f"""
SELECT id, alert_id, kind, at, grid_code, region_path, payload FROM alert_events
WHERE id > %(after)s
  AND (%(all)s OR {subtree_sql("region_path", "%(path)s::text")}
       OR grid_code = ANY(%(grids)s))
ORDER BY id LIMIT %(limit)s
"""


@dataclass(frozen=True, slots=True)
class StreamEvent:
    id: int
    alert_id: int
    kind: str
    at: datetime
    grid_code: str | None
    region_path: str | None
    payload: dict[str, Any]


def read_events(conn: psycopg.Connection[Any], after_id: int = 0, *, limit: int = 100,
                region_path: str | None = None, grid_codes: Collection[str] = (),
                everything: bool = False) -> list[StreamEvent]:
    """Events after ``after_id`` in a scope: ``everything`` (admin), a region subtree
    (centres), or some grids (workers)."""
    params = {"after": after_id, "all": everything, "path": region_path,
              "grids": list(grid_codes), "limit": limit}
    with conn.cursor(row_factory=dict_row) as cur:
        return [StreamEvent(**row) for row in cur.execute(_READ, params)]


def wait_for_events(conn: psycopg.Connection[Any], timeout: float) -> Iterator[int]:
    """Yield announced event ids until ``timeout`` passes without one; the connection
    must be in autocommit mode and have run ``LISTEN sharpeyes_alert_events``."""
    for note in conn.notifies(timeout=timeout):
        yield int(note.payload or 0)
