"""The outbox sender against real receivers: a local HTTP server and the MQTT broker."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import psycopg
import pytest

from alerts import webhook
from alerts.outbox import OutboxSender, RetryPolicy, run_notifier
from kernel.mqtt import Publisher, new_client, parse_mqtt_url
from tests.alerts.support import now, run, set_density
from tests.helpers import wait_until

SECRET = "test-secret-0123456789"
FAST = RetryPolicy(base_seconds=0.05, max_seconds=0.2, max_attempts=4, lease_seconds=0.3)


@dataclass
class Receiver:
    """What the test server saw; it answers with ``statuses`` in turn (then 200)."""

    statuses: list[int] = field(default_factory=list)
    requests: list[tuple[Message, bytes, bool]] = field(default_factory=list)
    url: str = ""


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    seen = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            body = self.rfile.read(int(self.headers["Content-Length"]))
            valid = webhook.verify(SECRET, body, self.headers[webhook.TIMESTAMP_HEADER],
                                   self.headers[webhook.SIGNATURE_HEADER])
            seen.requests.append((self.headers, body, valid))
            status = seen.statuses.pop(0) if seen.statuses else (200 if valid else 401)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    seen.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/alerts"
    try:
        yield seen
    finally:
        server.shutdown()
        server.server_close()


def fire_with_webhook(db: psycopg.Connection, url: str, channels: str = "{webhook}") -> None:
    db.execute("INSERT INTO alert_webhooks (name, url, secret) VALUES ('centre', %s, %s)",
               (url, SECRET))
    db.execute("UPDATE alert_rules SET channels = %s", (channels,))
    set_density(db, "Z-A", 4.5, now())
    run(db, now())


def deliveries(db: psycopg.Connection) -> list[tuple[str, int, str | None]]:
    return [(r[0], r[1], r[2]) for r in db.execute(
        "SELECT state, attempts, last_error FROM alert_deliveries ORDER BY id").fetchall()]


def test_a_signed_webhook_is_verified_by_the_receiving_server(
    city: psycopg.Connection, db_url: str, receiver: Receiver
) -> None:
    stop = threading.Event()
    sender = threading.Thread(target=run_notifier, args=(db_url, None, "t", stop, 0.2, FAST))
    sender.start()
    try:
        fire_with_webhook(city, receiver.url)
        wait_until(lambda: deliveries(city) == [("delivered", 1, None)], timeout=10,
                   what="the webhook delivery")
    finally:
        stop.set()
        sender.join(timeout=10)
    (headers, body, valid), = receiver.requests
    assert valid and headers["Content-Type"] == "application/json"
    event = json.loads(body)
    assert event["event"] == "firing" and event["alert"]["zone_id"] == "Z-A"
    assert headers["X-SharpEyes-Event-Id"] == str(event["event_id"])
    assert not webhook.verify("another-secret-123456", body, headers[webhook.TIMESTAMP_HEADER],
                              headers[webhook.SIGNATURE_HEADER])
    stamp = int(headers[webhook.TIMESTAMP_HEADER])
    assert not webhook.verify(SECRET, body, str(stamp), headers[webhook.SIGNATURE_HEADER],
                              now=stamp + 3600)   # a replay an hour later is refused


def test_failed_deliveries_are_retried_with_back_off_then_given_up(
    city: psycopg.Connection, receiver: Receiver
) -> None:
    receiver.statuses = [500, 503]
    fire_with_webhook(city, receiver.url)
    sender = OutboxSender(city, None, "t", FAST)
    assert sender.send_due().retried == 1
    due = city.execute("SELECT next_attempt_at - now() FROM alert_deliveries").fetchone()
    assert due is not None and timedelta(0) < due[0] <= timedelta(seconds=0.1)
    assert sender.send_due().claimed == 0           # not before its back-off
    wait_until(lambda: sender.send_due().delivered, timeout=5, what="the third attempt")
    assert deliveries(city) == [("delivered", 3, None)]
    receiver.statuses = [500] * 10
    city.execute("UPDATE alert_deliveries SET state = 'pending', next_attempt_at = now(),"
                 " attempts = 2")

    def given_up() -> bool:
        sender.send_due()
        return deliveries(city)[0][0] == "failed"

    wait_until(given_up, timeout=5, what="giving up after max_attempts")
    state, attempts, error = deliveries(city)[0]
    assert (state, attempts) == ("failed", 4) and error is not None and "HTTP 500" in error


def test_a_sender_that_dies_mid_delivery_loses_nothing(
    city: psycopg.Connection, receiver: Receiver
) -> None:
    fire_with_webhook(city, receiver.url)
    # What a sender leaves behind when it is killed after claiming: a lease, no outcome.
    city.execute("UPDATE alert_deliveries SET leased_until = now() + interval '0.3 s',"
                 " attempts = 1")
    sender = OutboxSender(city, None, "t", FAST)
    assert sender.send_due().claimed == 0
    wait_until(lambda: sender.send_due().delivered, timeout=5, what="the lease to expire")
    assert deliveries(city) == [("delivered", 2, None)] and len(receiver.requests) == 1


def test_mqtt_notifications_go_to_the_topic_of_each_region_on_the_path(
    city: psycopg.Connection, mqtt_url: str, topic_prefix: str
) -> None:
    received: list[tuple[str, int]] = []
    address = parse_mqtt_url(mqtt_url)
    subscriber = new_client(address)
    subscriber.on_message = lambda _c, _u, msg: received.append((msg.topic, msg.qos))
    subscribed = threading.Event()
    subscriber.on_subscribe = lambda *_args: subscribed.set()
    subscriber.connect(address.host, address.port)
    subscriber.subscribe(f"{topic_prefix}/v1/alerts/#", qos=1)
    subscriber.loop_start()
    publisher = Publisher(address)
    try:
        assert subscribed.wait(5)
        wait_until(publisher.client.is_connected, timeout=5, what="the publisher")
        city.execute("UPDATE alert_rules SET channels = '{mqtt}'")
        set_density(city, "Z-A", 4.5, now())
        run(city, now())
        assert OutboxSender(city, publisher, topic_prefix, FAST).send_due().delivered == 2
        wait_until(lambda: len(received) == 2, timeout=5, what="both region topics")
    finally:
        publisher.close()
        subscriber.disconnect()
        subscriber.loop_stop()
    assert sorted(received) == [(f"{topic_prefix}/v1/alerts/C", 1),
                                (f"{topic_prefix}/v1/alerts/SA", 1)]
