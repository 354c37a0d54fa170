"""Start-up and shut-down of a process group, as one explicit, ordered list of steps.

``Runtime`` resolves the store and broker (configured URLs, or the embedded
defaults), migrates, then runs components as threads that watch one stop event.
SIGINT/SIGTERM set that event; :meth:`Runtime.close` then stops the components in
reverse order and the embedded servers last, leaving the data directory usable.
"""

from __future__ import annotations

import logging
import signal
import socket
import threading
from collections.abc import Callable
from types import FrameType

import psycopg

from kernel.errors import UnavailableError
from kernel.mqtt import BrokerAddress, Publisher, parse_mqtt_url
from kernel.progress import StageHealth
from kernel.settings import Settings
from sharpeyes.acl import SERVICE_API, derive_password, load_devices
from sharpeyes.embedded import EmbeddedMqttBroker, EmbeddedPostgres
from store.migrate import migrate
from store.rollups import RetentionWindows, apply_policies

log = logging.getLogger(__name__)


class ComponentFailed(UnavailableError):
    """A component thread died; the whole group stops rather than run half-broken."""


class Runtime:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.stop = threading.Event()
        self.database_url = settings.database_url or ""
        self.mqtt_url = settings.mqtt_url or ""
        self._embedded: list[EmbeddedPostgres | EmbeddedMqttBroker] = []
        self._broker: EmbeddedMqttBroker | None = None
        self._threads: dict[str, threading.Thread] = {}
        self.health: dict[str, StageHealth] = {}   # progress of the stages that report it
        self._failures: list[str] = []
        self._closers: list[Callable[[], None]] = []
        self._publisher: Publisher | None = None

    # --- ordered start-up steps ---------------------------------------------------------
    def open_store(self) -> str:
        if not self.database_url:
            server = EmbeddedPostgres(self.settings.data_dir)
            self._embedded.append(server)
            self.database_url = server.start()
        return self.database_url

    def open_broker(self) -> str:
        """The broker URL: the configured one, or the embedded broker's operator account."""
        if not self.mqtt_url:
            broker = EmbeddedMqttBroker(self.settings.data_dir, self.settings.embedded_broker,
                                        self.settings.topic_prefix,
                                        device_port=self.settings.embedded_mqtt_port,
                                        services_port=self.settings.embedded_mqtt_services_port)
            self._embedded.append(broker)
            self._broker = broker
            self.mqtt_url = broker.start()
            # Mosquitto 2.0.11 drops a stored session when an anonymous CONNECT naming its
            # client id is refused on the device listener: ingest's id must not be
            # guessable, so it carries a suffix derived from the broker's secret.
            suffix = derive_password(broker.secret, "ingest-client-id")[:12]
            self.settings = self.settings.model_copy(
                update={"ingest_client_id": f"{self.settings.ingest_client_id}-{suffix}"})
        return self.mqtt_url

    # --- who connects with which account ---------------------------------------------------
    def broker_url(self, account: str) -> str:
        """The URL a service connects with (``sharpeyes.acl.SERVICE_*``): on the embedded
        broker its own account; a configured URL is this process's, whatever the service."""
        return self._broker.url_for(account) if self._broker is not None else self.mqtt_url

    def device_address(self) -> BrokerAddress:
        """Where simulated devices connect. Embedded: the device listener, no account in the
        address, so each device logs in as itself with :meth:`device_secret`."""
        if self._broker is not None:
            return BrokerAddress("127.0.0.1", self._broker.device_port)
        return parse_mqtt_url(self.mqtt_url)

    def device_secret(self) -> str | None:
        """What simulated devices derive their passwords from (None: the fleet's default)."""
        return self._broker.device_secret if self._broker is not None else None

    def _follow_registry(self, stop: threading.Event) -> None:
        """Keep the embedded broker's device accounts in step with the device registry."""
        assert self._broker is not None
        while not stop.is_set():
            try:
                with psycopg.connect(self.database_url, connect_timeout=5) as conn:
                    if self._broker.sync_devices(load_devices(conn)):
                        log.info("embedded broker: device accounts updated")
            except (psycopg.Error, OSError) as exc:   # the database restarting: next round
                log.warning("embedded broker: cannot read the device registry: %s", exc)
            stop.wait(1.0)

    def migrate(self) -> list[int]:
        """Apply pending migrations, then the configured retention windows (idempotent)."""
        s = self.settings
        windows = RetentionWindows(raw_days=s.retention_raw_days,
                                   minute_days=s.retention_minute_days,
                                   hour_days=s.retention_hour_days,
                                   compress_after_days=s.compress_after_days)
        with psycopg.connect(self.database_url) as conn:
            applied = migrate(conn)
            apply_policies(conn, windows)
        if self._broker is not None and "broker-accounts" not in self._threads:
            self.spawn("broker-accounts", self._follow_registry)
        return applied

    def spawn(self, name: str, target: Callable[[threading.Event], None]) -> None:
        """Run ``target(stop)`` in a thread; if it raises, the whole group stops."""

        def guarded() -> None:
            try:
                target(self.stop)
            except Exception:
                log.exception("component %s failed", name)
                self._failures.append(name)
                self.stop.set()

        thread = threading.Thread(target=guarded, name=name, daemon=True)
        self._threads[name] = thread
        thread.start()

    def components(self) -> set[str]:
        """Names of the components this process runs."""
        return set(self._threads)

    def publisher(self) -> Publisher:
        """This process's one publishing client (notifications, HTTP ingest), made on first use."""
        if self._publisher is None:
            self._publisher = Publisher(parse_mqtt_url(self.broker_url(SERVICE_API)))
            self.on_close(self._publisher.close)
        return self._publisher

    def on_close(self, closer: Callable[[], None]) -> None:
        self._closers.append(closer)

    # --- probes for /health ---------------------------------------------------------------
    def component_probe(self, name: str) -> Callable[[], str | None]:
        def probe() -> str | None:
            thread = self._threads.get(name)
            if thread is None or not thread.is_alive():
                return f"{name} is not running"
            health = self.health.get(name)
            return health.problem() if health is not None else None

        return probe

    def broker_probe(self) -> str | None:
        address = parse_mqtt_url(self.mqtt_url)
        try:
            with socket.create_connection((address.host, address.port), timeout=2):
                return None
        except OSError as exc:
            return f"broker unreachable: {exc}"

    # --- running and stopping --------------------------------------------------------------
    def install_signal_handlers(self) -> None:
        def handle(signum: int, _frame: FrameType | None) -> None:
            log.info("received %s; stopping", signal.Signals(signum).name)
            self.stop.set()

        signal.signal(signal.SIGINT, handle)
        signal.signal(signal.SIGTERM, handle)

    def wait(self, duration: float | None = None) -> None:
        """Block until stopped (signal, failure) or ``duration`` seconds pass."""
        self.stop.wait(duration)
        self.stop.set()
        if self._failures:
            raise ComponentFailed(f"component(s) failed: {', '.join(self._failures)}")

    def close(self) -> None:
        self.stop.set()
        for closer in reversed(self._closers):
            try:
                closer()
            except Exception:
                log.exception("error while closing")
        for name, thread in reversed(list(self._threads.items())):
            thread.join(timeout=15)
            if thread.is_alive():
                log.warning("component %s did not stop within 15s", name)
        for server in reversed(self._embedded):
            server.stop()
        self._embedded.clear()
