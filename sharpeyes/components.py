"""Attaching each stage to a :class:`~sharpeyes.runtime.Runtime` (``serve`` and ``demo``)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import psycopg

from alerts.service import run_alerts
from api.server import ApiServer
from api.services import Services
from contracts.topics import worker_topic
from grid.dispatch import Dispatched, run_dispatcher, task_notification
from ingest.service import run_ingest
from sharpeyes.mqtt import Publisher, new_client, parse_mqtt_url
from sharpeyes.runtime import Runtime
from store.db import create_pool, has_timescale

log = logging.getLogger(__name__)

COMPONENTS = ("ingest", "alerts", "dispatcher", "api")


def start_ingest(rt: Runtime) -> None:
    rt.spawn("ingest", lambda stop: run_ingest(rt.settings, rt.database_url, rt.mqtt_url, stop))


def start_alerts(rt: Runtime) -> None:
    s = rt.settings
    rt.spawn("alerts", lambda stop: run_alerts(rt.database_url, stop, s.alert_interval_seconds,
                                               s.stale_after_seconds))


def _worker_notifier(rt: Runtime) -> Callable[[Dispatched], None]:
    """Publishes each dispatched task to its worker's topic (QoS 1)."""
    address = parse_mqtt_url(rt.mqtt_url)
    client = new_client(address)
    client.connect_async(address.host, address.port, keepalive=30)
    client.loop_start()

    def close() -> None:
        client.disconnect()
        client.loop_stop()

    rt.on_close(close)

    def notify(item: Dispatched) -> None:
        if item.assignee_id:
            topic = worker_topic(rt.settings.topic_prefix, item.assignee_id)
            client.publish(topic, task_notification(item), qos=1)

    return notify


def start_dispatcher(rt: Runtime) -> None:
    notify = _worker_notifier(rt)
    interval = rt.settings.dispatch_interval_seconds
    rt.spawn("dispatcher", lambda stop: run_dispatcher(rt.database_url, stop, interval, notify))


def start_api(rt: Runtime) -> ApiServer:
    pool = create_pool(rt.database_url, max_size=8, name="api")
    rt.on_close(pool.close)
    with pool.connection() as conn:
        timescale = has_timescale(conn)
    probes = {"mqtt": rt.broker_probe}
    probes.update({name: rt.component_probe(name) for name in ("ingest", "alerts", "dispatcher")
                   if name in rt.components()})
    publisher = Publisher(parse_mqtt_url(rt.mqtt_url))
    rt.on_close(publisher.close)
    services = Services(settings=rt.settings, pool=pool, jwt_secret=rt.settings.token_secret(),
                        timescale=timescale, probes=probes, publisher=publisher)
    server = ApiServer(services, rt.settings.api_host, rt.settings.api_port)
    server.start()
    if not server.wait_started():
        raise RuntimeError("the API server did not start")
    rt.on_close(server.stop)
    return server


def start(rt: Runtime, names: tuple[str, ...]) -> ApiServer | None:
    """Start the named components in dependency order; return the API server if started."""
    starters: dict[str, Callable[[Runtime], object]] = {
        "ingest": start_ingest, "alerts": start_alerts, "dispatcher": start_dispatcher,
    }
    for name in COMPONENTS:
        if name in names and name in starters:
            starters[name](rt)
    return start_api(rt) if "api" in names else None


def wait_for_database(url: str, stop: threading.Event, timeout: float = 60) -> None:
    """Block until the database accepts connections (a container may still be starting)."""
    waited = 0.0
    while True:
        try:
            psycopg.connect(url, connect_timeout=3).close()
            return
        except psycopg.OperationalError:
            if waited >= timeout or stop.is_set():
                raise
            stop.wait(1.0)
            waited += 1.0

