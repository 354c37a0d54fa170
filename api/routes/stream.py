"""``GET /api/v1/stream``: the live stream (Server-Sent Events) of alerts, tasks and
density changes, each filtered by the caller's scope.

One :class:`StreamHub` per app reads the store for every subscriber on one dedicated
connection, in a thread started with the first subscriber and ended when the last has
gone:

- ``alert``   — ``LISTEN sharpeyes_alert_events`` (:mod:`alerts.stream`); the SSE ``id`` is
  the alert event id, so a client reconnecting with ``Last-Event-ID`` misses none; the
  alert carries the names of its zone and place and its density level, as in
  ``GET /alerts``, so that the feed says where in the place's words;
- ``task``    — ``LISTEN sharpeyes_tasks`` (trigger of migration 0012): id, state, grid,
  assignee, tier of every task inserted or updated;
- ``density`` — ``zone_current`` polled every second; zones whose density changed.

A ``ready`` event opens every stream: clients refetch their lists then, since task and
density events sent while they were away are not replayed. EventSource cannot set
headers, so the token may come as ``?access_token=``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Annotated, Any

import psycopg
from fastapi import APIRouter, Header, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from alerts.stream import EVENTS_CHANNEL, StreamEvent, read_events
from api.deps import WATCHERS, StreamActorDep
from contracts.levels import level_of
from grid.actors import Actor, Role
from grid.visibility import sees_task
from store.channels import TASKS_CHANNEL

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1", tags=["stream"])

POLL_SECONDS = 1.0
KEEPALIVE_SECONDS = 15.0
MAX_STREAM_SECONDS = 900.0   # clients reconnect (with Last-Event-ID) after this
IDLE_STOP_SECONDS = 5.0
# Ingest stamps updated_at when its transaction starts: re-read this much each poll.
_MARGIN = timedelta(seconds=10)
QUEUE_LIMIT = 1000

_DENSITY = """
SELECT c.zone_id, c.density, c.count, c.time, c.updated_at, z.grid_code, r.path AS region_path
FROM zone_current c JOIN zones z ON z.id = c.zone_id
JOIN grids g ON g.code = z.grid_code JOIN regions r ON r.id = g.region_id
WHERE c.updated_at > %s
"""


# The zone's and place's names of alert events, joined as GET /alerts joins them.
_NAMES = """
SELECT k.zone_id, k.place_id, z.name AS zone_name, z.name_latin AS zone_name_latin,
       p.name AS place_name, p.name_latin AS place_name_latin
FROM unnest(%s::text[], %s::text[]) AS k(zone_id, place_id)
LEFT JOIN zones z ON z.id = k.zone_id
LEFT JOIN places p ON p.id = COALESCE(k.place_id, z.place_id)
"""


def named(conn: psycopg.Connection[Any], events: list[StreamEvent]) -> list[dict[str, Any]]:
    """The events' payloads with their alerts' zone and place names and density level."""
    keys = sorted({(e.payload["alert"].get("zone_id"), e.payload["alert"].get("place_id"))
                   for e in events if isinstance(e.payload.get("alert"), dict)},
                  key=str)
    names: dict[tuple[Any, Any], dict[str, Any]] = {}
    if keys:
        with conn.cursor(row_factory=dict_row) as cur:
            rows = cur.execute(_NAMES, ([k[0] for k in keys], [k[1] for k in keys])).fetchall()
        names = {(r.pop("zone_id"), r.pop("place_id")): r for r in rows}
    out = []
    for e in events:
        alert = e.payload.get("alert")
        if not isinstance(alert, dict):
            out.append(e.payload)
            continue
        value = alert.get("value")
        level = (level_of(value).value if alert.get("kind") == "density_above"
                 and isinstance(value, int | float) else None)
        extra = names.get((alert.get("zone_id"), alert.get("place_id")), {})
        out.append({**e.payload, "alert": {**alert, **extra, "level": level}})
    return out


@dataclass(frozen=True, slots=True)
class Item:
    """One piece of an event, with what decides who may see it."""

    data: dict[str, Any]
    grid_code: str | None
    region_path: str | None
    assignee_id: str | None = None


@dataclass(frozen=True, slots=True)
class Event:
    kind: str                      # alert | task | density | ready | overflow | end
    items: tuple[Item, ...]
    event_id: int | None = None

    def sse(self, items: tuple[Item, ...]) -> str:
        data = items[0].data if self.kind != "density" else {"zones": [i.data for i in items]}
        head = f"id: {self.event_id}\n" if self.event_id is not None else ""
        return f"{head}event: {self.kind}\ndata: {json.dumps(data, default=str)}\n\n"


def sees(actor: Actor, item: Item) -> bool:
    """Whether an item is inside the actor's scope (the same rules as the lists)."""
    return sees_task(actor, item.region_path, item.grid_code, item.assignee_id)


@dataclass(eq=False)
class Subscriber:
    actor: Actor
    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue[tuple[Event, tuple[Item, ...]]] = field(
        default_factory=lambda: asyncio.Queue(QUEUE_LIMIT))

    def offer(self, event: Event) -> None:
        """Called from the hub's thread: queue what this subscriber may see."""
        visible = tuple(i for i in event.items if sees(self.actor, i)) if event.items else ()
        if event.items and not visible:
            return
        self.loop.call_soon_threadsafe(self._put, event, visible)

    def _put(self, event: Event, visible: tuple[Item, ...]) -> None:
        try:
            self.queue.put_nowait((event, visible))
        except asyncio.QueueFull:  # a client too slow to keep up: tell it, then end
            self.queue = asyncio.Queue(1)
            self.queue.put_nowait((Event("overflow", ()), ()))


def _conninfo(pool: ConnectionPool) -> str:
    info = pool.conninfo
    return str(info()) if callable(info) else str(info)


class StreamHub:
    """Reads the store once for all subscribers of one app, in one background thread."""

    def __init__(self, pool: ConnectionPool) -> None:
        self.conninfo = _conninfo(pool)
        self._subscribers: set[Subscriber] = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._last_alert = 0
        self._last_density: dict[str, float] = {}
        self._grid_paths: dict[str, str] = {}

    def subscribe(self, actor: Actor, loop: asyncio.AbstractEventLoop) -> Subscriber:
        subscriber = Subscriber(actor, loop)
        with self._lock:
            if self._closed:
                raise HTTPException(503, "the server is shutting down",
                                    headers={"Retry-After": "3"})
            self._subscribers.add(subscriber)
            if self._thread is None:
                self._last_alert, self._last_density = 0, {}
                self._thread = threading.Thread(target=self._run, name="api-stream",
                                                daemon=True)
                self._thread.start()
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        with self._lock:
            self._subscribers.discard(subscriber)

    def close(self, timeout: float = 3.0) -> None:
        """End every stream and the reader thread (server shutdown); later subscriptions
        are refused."""
        with self._lock:
            self._closed = True
            subscribers, thread = list(self._subscribers), self._thread
        for subscriber in subscribers:
            subscriber.offer(Event("end", ()))
        if thread is not None:
            thread.join(timeout)

    def _broadcast(self, event: Event) -> None:
        with self._lock:
            subscribers = list(self._subscribers)
        for subscriber in subscribers:
            subscriber.offer(event)

    def _should_stop(self, idle_since: float | None) -> bool:
        """True (and the thread forgotten) once closed, or idle for a while."""
        with self._lock:
            idle = not self._subscribers and (
                idle_since is None or time.monotonic() - idle_since > IDLE_STOP_SECONDS)
            if self._closed or idle:
                self._thread = None
                return True
        return False

    def _run(self) -> None:
        backoff = 0.5
        while True:
            try:
                with psycopg.connect(self.conninfo, autocommit=True,
                                     row_factory=dict_row) as conn:
                    backoff = 0.5
                    self._listen(conn)
                return
            except psycopg.Error as exc:
                log.warning("live stream lost the store (%s); retrying", exc)
                if self._should_stop(None):
                    return
                time.sleep(backoff)
                backoff = min(10.0, backoff * 2)

    def _listen(self, conn: psycopg.Connection[Any]) -> None:
        conn.execute(f"LISTEN {EVENTS_CHANNEL}")
        conn.execute(f"LISTEN {TASKS_CHANNEL}")
        if not self._last_alert:
            row = conn.execute("SELECT COALESCE(max(id), 0) AS id FROM alert_events").fetchone()
            self._last_alert = int(row["id"]) if row else 0
        polled_at = conn.execute("SELECT now() AS now").fetchone()["now"]  # type: ignore[index]
        self._alerts(conn)  # whatever came while (re)connecting
        idle_since = time.monotonic()
        next_poll = time.monotonic()
        while not self._should_stop(idle_since):
            with self._lock:
                idle_since = time.monotonic() if self._subscribers else idle_since
            wait = max(0.0, next_poll - time.monotonic())
            notes = list(conn.notifies(timeout=wait, stop_after=200))
            if any(n.channel == EVENTS_CHANNEL for n in notes):
                self._alerts(conn)
            for note in notes:
                if note.channel == TASKS_CHANNEL:
                    self._task(conn, note.payload)
            if time.monotonic() >= next_poll:
                polled_at = self._density(conn, polled_at)
                next_poll = time.monotonic() + POLL_SECONDS

    def _alerts(self, conn: psycopg.Connection[Any]) -> None:
        while True:
            events = read_events(conn, self._last_alert, limit=500, everything=True)
            for e, payload in zip(events, named(conn, events), strict=True):
                self._broadcast(Event("alert", (Item(payload, e.grid_code, e.region_path),),
                                      e.id))
                self._last_alert = e.id
            if len(events) < 500:
                return

    def _task(self, conn: psycopg.Connection[Any], payload: str) -> None:
        data = json.loads(payload)
        grid = data.get("grid_code")
        path = self._grid_path(conn, grid) if grid else None
        self._broadcast(Event("task", (Item(data, grid, path, data.get("assignee_id")),)))

    def _grid_path(self, conn: psycopg.Connection[Any], grid: str) -> str | None:
        if grid not in self._grid_paths:
            rows = conn.execute("SELECT g.code, r.path FROM grids g"
                                " JOIN regions r ON r.id = g.region_id").fetchall()
            self._grid_paths = {r["code"]: r["path"] for r in rows}
        return self._grid_paths.get(grid)

    def _density(self, conn: psycopg.Connection[Any], since: datetime) -> datetime:
        now: datetime = conn.execute("SELECT now() AS now").fetchone()["now"]  # type: ignore[index]
        rows = conn.execute(_DENSITY, (since - _MARGIN,)).fetchall()
        items = []
        for r in rows:
            density = round(float(r["density"]), 2)
            if self._last_density.get(r["zone_id"]) == density:
                continue
            self._last_density[r["zone_id"]] = density
            items.append(Item({"zone_id": r["zone_id"], "density": density,
                               "count": r["count"], "level": level_of(density).value,
                               "time": r["time"].isoformat(), "grid_code": r["grid_code"]},
                              r["grid_code"], r["region_path"]))
        if items:
            self._broadcast(Event("density", tuple(items)))
        return now



def _backfill(conn: psycopg.Connection[Any], actor: Actor, after: int) -> list[Event]:
    """Alert events after ``after`` in the caller's scope, for a reconnecting client."""
    worker = actor.role is Role.WORKER
    events = read_events(conn, after, limit=500, everything=actor.role is Role.ADMIN,
                         region_path=None if worker else actor.region_path,
                         grid_codes=actor.grid_codes if worker else ())
    return [Event("alert", (Item(payload, e.grid_code, e.region_path),), e.id)
            for e, payload in zip(events, named(conn, events), strict=True)]


async def _frames(request: Request, hub: StreamHub, subscriber: Subscriber,
                  backlog: list[Event]) -> AsyncIterator[str]:
    started = last_write = time.monotonic()
    seen_alert = max((e.event_id or 0 for e in backlog), default=0)
    try:
        yield f"retry: 3000\nevent: ready\ndata: {json.dumps(_hello(subscriber.actor))}\n\n"
        for event in backlog:
            yield event.sse(event.items)
        while time.monotonic() - started < MAX_STREAM_SECONDS:
            try:
                event, items = await asyncio.wait_for(subscriber.queue.get(), timeout=1.0)
            except TimeoutError:
                if await request.is_disconnected():
                    return
                if time.monotonic() - last_write >= KEEPALIVE_SECONDS:
                    last_write = time.monotonic()
                    yield ": keep-alive\n\n"
                continue
            if event.kind == "alert" and (event.event_id or 0) <= seen_alert:
                continue  # already sent from the backlog
            yield event.sse(items) if items else f"event: {event.kind}\ndata: {{}}\n\n"
            last_write = time.monotonic()
            if event.kind in ("overflow", "end"):
                return
    finally:
        hub.unsubscribe(subscriber)


def _hello(actor: Actor) -> dict[str, Any]:
    return {"person_id": actor.person_id, "role": actor.role.value,
            "kinds": ["alert", "task", "density"]}


_STREAM_DOC: dict[int | str, dict[str, Any]] = {
    200: {"description": "text/event-stream: `ready`, then `alert` (with `id`), `task` and "
                         "`density` events; `: keep-alive` comments",
          "content": {"text/event-stream": {"schema": {"type": "string"}}}},
    401: {"description": "no valid token"},
    403: {"description": "integrators have no live stream"},
}


@router.get("/stream", response_class=StreamingResponse, responses=_STREAM_DOC)
async def stream(
    request: Request, actor: StreamActorDep,
    last_event_id: Annotated[int | None, Header(
        alias="Last-Event-ID", ge=0, description="Resume after this alert event.")] = None,
    after: Annotated[int | None, Query(ge=0, le=2**62,
                                       description="Same as Last-Event-ID.")] = None,
) -> StreamingResponse:
    """Live alerts, tasks and density changes in your scope (Server-Sent Events)."""
    if actor.role not in WATCHERS:
        raise HTTPException(403, "the live stream is for admins, operators, workers and "
                                 "viewers")
    hub: StreamHub = request.app.state.stream_hub
    resume = last_event_id if last_event_id is not None else after
    # Subscribe before reading the backlog: an event in between arrives twice at worst
    # (and is skipped by id), never not at all.
    subscriber = hub.subscribe(actor, asyncio.get_running_loop())
    backlog: list[Event] = []
    if resume is not None:
        pool: ConnectionPool = request.app.state.services.pool
        try:
            backlog = await run_in_threadpool(_with_conn(pool, _backfill), actor, resume)
        except BaseException:
            hub.unsubscribe(subscriber)
            raise
    return StreamingResponse(
        _frames(request, hub, subscriber, backlog), media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


def _with_conn(pool: ConnectionPool,
               fn: Callable[..., list[Event]]) -> Callable[..., list[Event]]:
    def call(*args: Any) -> list[Event]:
        with pool.connection() as conn:
            return fn(conn, *args)
    return call
