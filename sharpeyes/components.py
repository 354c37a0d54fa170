"""Attaching each stage to a :class:`~sharpeyes.runtime.Runtime` (``serve`` and ``demo``)."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime

import psycopg

from alerts.outbox import run_notifier
from alerts.service import run_alerts
from api.server import ApiServer
from api.services import Services
from contracts.topics import escalation_topic, worker_topic
from grid.dispatch import Dispatched, run_dispatcher, task_notification
from grid.escalation import escalate_overdue
from ingest.service import run_ingest
from kernel.progress import StageHealth
from sharpeyes.acl import SERVICE_ALERTS, SERVICE_INGEST, SERVICE_VIDEO
from sharpeyes.runtime import Runtime
from sharpeyes.scheduler import Job, run_scheduler
from store.db import create_pool, has_timescale
from store.rollups import refresh_job

log = logging.getLogger(__name__)

COMPONENTS = ("ingest", "video", "alerts", "dispatcher", "scheduler", "api")


def start_ingest(rt: Runtime) -> None:
    health = rt.health.setdefault("ingest", StageHealth("ingest"))
    rt.spawn("ingest", lambda stop: run_ingest(rt.settings, rt.database_url,
                                               rt.broker_url(SERVICE_INGEST), stop,
                                               health))


def start_video(rt: Runtime) -> None:
    """Video analysers for the cameras with a stream URL, this process's shard of them."""
    from video.counting import ModelOptions
    from video.service import VideoOptions, run_video

    s = rt.settings
    models = ModelOptions(detector=s.video_model, detector_sha256=s.video_model_sha256,
                          providers=tuple(s.video_providers.split(",")))
    options = VideoOptions(rate=s.video_rate_hz, method=s.video_method, models=models)
    url = rt.broker_url(SERVICE_VIDEO)
    rt.spawn("video", lambda stop: run_video(s, rt.database_url, url, stop,
                                             s.video_shard_index, s.video_shard_count, options))


def start_alerts(rt: Runtime) -> None:
    s = rt.settings
    rt.spawn("alerts", lambda stop: run_alerts(rt.database_url, stop, s.alert_interval_seconds,
                                               s.stale_after_seconds))
    # Sends the alert outbox (signed webhooks, MQTT per region); safe on every instance.
    url = rt.broker_url(SERVICE_ALERTS)
    rt.spawn("alert-notifier", lambda stop: run_notifier(rt.database_url, url, s.topic_prefix,
                                                         stop))


def _worker_notifier(rt: Runtime) -> Callable[[Dispatched], None]:
    """Publishes each dispatched task to its worker's topic (QoS 1)."""
    publisher = rt.publisher()

    def notify(item: Dispatched) -> None:
        if item.assignee_id:
            topic = worker_topic(rt.settings.topic_prefix, item.assignee_id)
            publisher.publish(topic, task_notification(item))

    return notify


def start_dispatcher(rt: Runtime) -> None:
    notify = _worker_notifier(rt)
    interval = rt.settings.dispatch_interval_seconds
    rt.spawn("dispatcher", lambda stop: run_dispatcher(rt.database_url, stop, interval, notify))


def start_scheduler(rt: Runtime) -> None:
    """Periodic jobs (escalation, ...) in whichever process holds the scheduler lock."""
    publisher = rt.publisher()

    def escalate() -> None:
        with psycopg.connect(rt.database_url, autocommit=True) as conn:
            for item in escalate_overdue(conn, datetime.now(UTC)):
                if item.region_id is None:
                    continue
                topic = escalation_topic(rt.settings.topic_prefix, item.region_id)
                body = {"task_id": item.task_id, "from_tier": item.from_tier,
                        "to_tier": item.to_tier, "supervisors": list(item.supervisors)}
                publisher.publish(topic, json.dumps(body))

    jobs = [Job("escalate_overdue_tasks", rt.settings.escalation_interval_seconds, escalate),
            # Plain PostgreSQL rollups and retention (a no-op on TimescaleDB).
            Job("refresh_rollups", 60.0, refresh_job(rt.database_url))]
    health = rt.health.setdefault("scheduler", StageHealth("scheduler"))
    rt.spawn("scheduler", lambda stop: run_scheduler(rt.database_url, jobs, stop,
                                                     health=health))


def api_services(rt: Runtime) -> Services:
    """What the API needs from this process: a pool, the publisher, probes of the broker
    and of the components running beside it."""
    pool = create_pool(rt.database_url, max_size=8, name="api")
    rt.on_close(pool.close)
    with pool.connection() as conn:
        timescale = has_timescale(conn)
    probes = {"mqtt": rt.broker_probe}
    probes.update({name: rt.component_probe(name) for name in COMPONENTS
                   if name in rt.components()})
    return Services(settings=rt.settings, pool=pool, jwt_secret=rt.settings.token_secret(),
                    timescale=timescale, probes=probes, publisher=rt.publisher())


def start_api(rt: Runtime) -> ApiServer:
    server = ApiServer(api_services(rt), rt.settings.api_host, rt.settings.api_port)
    server.start()
    if not server.wait_started():
        raise RuntimeError("the API server did not start")
    rt.on_close(server.stop)
    return server


def start(rt: Runtime, names: tuple[str, ...]) -> ApiServer | None:
    """Start the named components in dependency order; return the API server if started."""
    starters: dict[str, Callable[[Runtime], object]] = {
        "ingest": start_ingest, "video": start_video, "alerts": start_alerts,
        "dispatcher": start_dispatcher,
        "scheduler": start_scheduler,
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

