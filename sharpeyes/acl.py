"""Broker credentials and topic ACLs generated from the device registry (Mosquitto files).

This module owns who may connect to the broker and what each account may publish or
subscribe to:

* every registered device gets an account named by its id that may publish only its
  own contract topics (a camera its density and status, a sensor its readings and
  status) and subscribe to nothing;
* service accounts: ``sharpeyes-ingest`` reads the contract (and adapter) topics,
  ``sharpeyes-api`` relays HTTP ingest onto the contract topics and may publish
  notifications, ``sharpeyes-alerts`` publishes worker tasks, escalations and alert
  events, ``sharpeyes-video`` publishes camera densities and statuses for the cameras
  it analyses; an adapter's source (say a Frigate NVR) publishes its own filters.

Two password files, for two listeners (deploy/mosquitto/mosquitto.conf): ``passwords``
holds devices and adapters, for the field listener, where the broker takes each
client's id from its username (``use_username_as_clientid``), so a device's credentials
cannot connect as ingest and take over its persistent session and queued messages (MQTT
resumes a session by client id alone, whatever the username); ``services.passwords``
holds the service accounts, for the internal listener that only the cluster reaches,
where several processes of one service (API workers, ingest replicas) share an account
with their own client ids. The ACL file is common to both.

Passwords are derived, not stored: ``HMAC-SHA256(secret, "mqtt-password\\0" + username)``
(32 bytes, base64url). The registry plus one secret reproduce every file on any host
(an init container, each broker of a bridge), nothing new holds per-device secrets,
and rotating the secret rotates everyone. The hash salts are derived the same way, so
regenerating an unchanged registry yields byte-identical files and no broker reload.
Revoking one device = removing it from the registry (its account disappears).

The password file uses Mosquitto 2's ``$7$`` format (PBKDF2-HMAC-SHA512, 12-byte salt,
64-byte key, base64), what ``mosquitto_passwd`` writes. The iteration count stays at
mosquitto_passwd's 101: stretching protects guessable human passwords, these carry 256
random bits, and every extra round is paid by the broker at each device's (re)connect.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import hmac
import io
import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import tuple_row

from contracts.topics import DEVICE_ID, VERSION
from kernel.errors import InvalidError

log = logging.getLogger(__name__)

PBKDF2_ITERATIONS = 101  # mosquitto_passwd's default (see the module docstring)
SALT_BYTES = 12
KEY_BYTES = 64
MIN_SECRET_BYTES = 32


class AclError(InvalidError):
    """A secret too short, or a registry entry that cannot become an account."""


class Access(StrEnum):
    """Mosquitto ``topic`` access words."""

    READ = "read"
    WRITE = "write"


@dataclass(frozen=True, slots=True)
class Rule:
    access: Access
    topic: str


@dataclass(frozen=True, slots=True)
class Account:
    username: str
    password: str
    rules: tuple[Rule, ...]
    role: str  # "device:camera", "device:sensor", "service", "adapter"


# --- passwords ------------------------------------------------------------------------------

def _derive(secret: bytes, purpose: str, username: str) -> bytes:
    return hmac.new(secret, f"{purpose}\0{username}".encode(), hashlib.sha256).digest()


def check_secret(secret: bytes) -> bytes:
    if len(secret) < MIN_SECRET_BYTES:
        raise AclError(f"the broker secret must be at least {MIN_SECRET_BYTES} bytes")
    return secret


def derive_password(secret: bytes, username: str) -> str:
    """The account's password: stable for a given secret, unguessable without it."""
    digest = _derive(check_secret(secret), "mqtt-password", username)
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def mosquitto_hash(password: str, salt: bytes, iterations: int = PBKDF2_ITERATIONS) -> str:
    """``$7$<iterations>$<salt b64>$<key b64>`` as written by Mosquitto 2's mosquitto_passwd."""
    key = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations, KEY_BYTES)
    b64 = base64.b64encode
    return f"$7${iterations}${b64(salt).decode()}${b64(key).decode()}"


def verify_mosquitto_hash(password: str, stored: str) -> bool:
    """Whether ``password`` matches a ``$7$`` (or ``$6$``, salted SHA-512) entry."""
    parts = stored.split("$")
    if len(parts) == 5 and parts[1] == "7":
        iterations, salt, key = int(parts[2]), parts[3], parts[4]
        candidate = mosquitto_hash(password, base64.b64decode(salt), iterations)
        return hmac.compare_digest(candidate.split("$")[4], key)
    if len(parts) == 4 and parts[1] == "6":  # mosquitto 1.x: sha512(password + salt)
        digest = hashlib.sha512(password.encode() + base64.b64decode(parts[2])).digest()
        return hmac.compare_digest(base64.b64encode(digest).decode(), parts[3])
    return False


# --- accounts -------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class RegisteredDevice:
    id: str
    kind: str  # "camera" or "sensor"


@dataclass(frozen=True, slots=True)
class AdapterSource:
    """An adapter's upstream (a Frigate NVR, a ThingsBoard gateway) and its topic filters."""

    name: str
    filters: tuple[str, ...]


SERVICE_INGEST = "sharpeyes-ingest"
SERVICE_API = "sharpeyes-api"
SERVICE_ALERTS = "sharpeyes-alerts"
SERVICE_VIDEO = "sharpeyes-video"
# The embedded broker's operator account (tests, benches, tools): reads and writes
# everything and may use any client id. Deployed brokers have none.
SERVICE_ADMIN = "sharpeyes-admin"
SERVICES = (SERVICE_INGEST, SERVICE_API, SERVICE_ALERTS, SERVICE_VIDEO)
# Client ids under this prefix belong to service accounts (see :func:`client_id_allowed`).
RESERVED_CLIENT_PREFIX = "sharpeyes-"


def _contract(prefix: str, collection: str, device: str, leaf: str) -> str:
    return f"{prefix}/{VERSION}/{collection}/{device}/{leaf}"


def device_rules(prefix: str, device: RegisteredDevice) -> tuple[Rule, ...]:
    """A device publishes its own reports and status (its Last Will) and nothing else."""
    if not DEVICE_ID.match(device.id):
        raise AclError(f"device id {device.id!r} must match {DEVICE_ID.pattern}")
    if device.id.startswith(RESERVED_CLIENT_PREFIX):
        # On the device listener the client id is the username: this one would be a
        # service's (say ingest's "sharpeyes-ingest-1") and take over its session.
        raise AclError(f"device id {device.id!r} starts with {RESERVED_CLIENT_PREFIX!r}, "
                       "which is reserved for service client ids")
    if ":" in device.id:
        # Mosquitto's password file splits "user:hash" at the first colon.
        raise AclError(f"device id {device.id!r} contains ':', which a Mosquitto user cannot")
    report = {"camera": ("camera", "density"), "sensor": ("sensor", "reading")}.get(device.kind)
    if report is None:
        raise AclError(f"device {device.id!r} has unknown kind {device.kind!r}")
    return (Rule(Access.WRITE, _contract(prefix, report[0], device.id, report[1])),
            Rule(Access.WRITE, _contract(prefix, "device", device.id, "status")))


def service_rules(prefix: str, adapter_filters: Sequence[str] = ()) -> dict[str, tuple[Rule, ...]]:
    """What each server process may do on the broker."""
    p = f"{prefix}/{VERSION}"
    contract = (f"{p}/camera/+/density", f"{p}/sensor/+/reading", f"{p}/device/+/status")
    notices = (f"{p}/worker/+/tasks", f"{p}/centre/+/escalations", f"{p}/alerts/+")
    write, read = Access.WRITE, Access.READ
    replicas = f"{prefix}/ingest/#"   # partitioned replicas announce their readiness
    return {
        # Mosquitto checks a shared subscription against its filter without $share/<group>/.
        SERVICE_INGEST: (*(Rule(read, t) for t in (*contract, *adapter_filters, replicas)),
                         Rule(write, replicas)),
        # POST /api/v1/ingest relays onto the contract; `serve all` also dispatches.
        SERVICE_API: tuple(Rule(write, t) for t in (*contract, *notices)),
        SERVICE_ALERTS: tuple(Rule(write, t) for t in notices),
        SERVICE_VIDEO: (Rule(write, contract[0]), Rule(write, contract[2])),
    }


@dataclass(frozen=True, slots=True)
class AccountSet:
    accounts: list[Account]
    skipped: dict[str, str]  # device id -> why it got no account


def build_accounts(
    secret: bytes, prefix: str, devices: Iterable[RegisteredDevice],
    adapters: Sequence[AdapterSource] = (),
) -> AccountSet:
    """Every account, services first, then adapters and devices sorted by name.

    A device that cannot become an account is left out (and named in ``skipped``)
    rather than failing the whole file: one odd id must not lock everyone else out.
    """
    check_secret(secret)
    filters = [f for a in adapters for f in a.filters]
    accounts = [Account(name, derive_password(secret, name), rules, "service")
                for name, rules in service_rules(prefix, filters).items()]
    accounts += [Account(f"adapter-{a.name}", derive_password(secret, f"adapter-{a.name}"),
                         tuple(Rule(Access.WRITE, f) for f in a.filters), "adapter")
                 for a in sorted(adapters, key=lambda a: a.name)]
    taken = {a.username for a in accounts}
    skipped: dict[str, str] = {}
    for device in sorted(devices, key=lambda d: d.id):
        try:
            rules = device_rules(prefix, device)
            if device.id in taken:
                raise AclError(f"device id {device.id!r} is a service or adapter account name")
        except AclError as exc:
            log.warning("no broker account for device %s: %s", device.id, exc)
            skipped[device.id] = str(exc)
            continue
        taken.add(device.id)
        accounts.append(Account(device.id, derive_password(secret, device.id), rules,
                                f"device:{device.kind}"))
    return AccountSet(accounts, skipped)


def load_devices(conn: psycopg.Connection[Any]) -> list[RegisteredDevice]:
    """The device registry (``devices`` table)."""
    with conn.cursor(row_factory=tuple_row) as cur:
        rows = cur.execute("SELECT id, kind FROM devices ORDER BY id").fetchall()
    return [RegisteredDevice(str(i), str(k)) for i, k in rows]


# --- files ----------------------------------------------------------------------------------

def render_password_file(secret: bytes, accounts: Sequence[Account]) -> str:
    """Mosquitto ``password_file``: ``username:$7$...`` per line."""
    lines = []
    for account in accounts:
        salt = _derive(secret, "mqtt-salt", account.username)[:SALT_BYTES]
        lines.append(f"{account.username}:{mosquitto_hash(account.password, salt)}\n")
    return "".join(lines)


def render_acl_file(accounts: Sequence[Account]) -> str:
    """Mosquitto ``acl_file``: a ``user`` block per account; anything unlisted is denied."""
    out = ["# Generated by `sharpeyes broker acl` from the device registry; do not edit.\n"]
    for account in accounts:
        out.append(f"\n# {account.role}\nuser {account.username}\n")
        out.extend(f"topic {rule.access.value} {rule.topic}\n" for rule in account.rules)
    return "".join(out)


def render_credentials(accounts: Sequence[Account]) -> str:
    """CSV for provisioning devices and services: username, password, role."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["username", "password", "role"])
    writer.writerows((a.username, a.password, a.role) for a in accounts)
    return buffer.getvalue()


@dataclass(frozen=True, slots=True)
class BrokerFiles:
    password_file: Path          # devices and adapters: the field listener
    service_password_file: Path  # services: the internal listener
    acl_file: Path


def write_broker_files(out_dir: Path, secret: bytes, accounts: Sequence[Account]) -> BrokerFiles:
    """Write ``passwords``, ``services.passwords`` and ``acl`` into ``out_dir``.

    All are world-readable so a broker running under another uid can load them: the
    hashes are of 256-bit random passwords, which no offline guessing recovers.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    files = BrokerFiles(out_dir / "passwords", out_dir / "services.passwords", out_dir / "acl")
    field = [a for a in accounts if a.role != "service"]
    services = [a for a in accounts if a.role == "service"]
    _write(files.password_file, render_password_file(secret, field), 0o644)
    _write(files.service_password_file, render_password_file(secret, services), 0o644)
    _write(files.acl_file, render_acl_file(accounts), 0o644)
    log.info("wrote broker files for %d accounts to %s", len(accounts), out_dir)
    return files


def write_credentials(path: Path, accounts: Sequence[Account]) -> None:
    """The plaintext passwords for provisioning, readable by their owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    _write(path, render_credentials(accounts), 0o600)


def _write(path: Path, text: str, mode: int) -> None:
    """Atomic replace, so a broker reloading mid-write never reads half a file."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


# --- the embedded brokers: fixed service accounts, devices by derivation ---------------------

def embedded_service_accounts(secret: bytes, prefix: str) -> list[Account]:
    """The services' accounts (their ACLs as deployed) and the embedded operator account."""
    accounts = [Account(name, derive_password(secret, name), rules, "service")
                for name, rules in service_rules(prefix).items()]
    everything = (Rule(Access.READ, "#"), Rule(Access.WRITE, "#"))
    accounts.append(Account(SERVICE_ADMIN, derive_password(secret, SERVICE_ADMIN), everything,
                            "service"))
    return accounts


def embedded_device_secret(secret: bytes) -> str:
    """The secret simulated devices derive their passwords from
    (:func:`simulators.devices.device_password`), itself derived from the broker's."""
    return derive_password(secret, "embedded-devices")


def any_device_rules(prefix: str, device_id: str) -> tuple[Rule, ...]:
    """A device of either kind: its own report topics and status, nothing else."""
    rules = (device_rules(prefix, RegisteredDevice(device_id, "camera"))
             + device_rules(prefix, RegisteredDevice(device_id, "sensor")))
    return tuple(dict.fromkeys(rules))


def client_id_allowed(username: str, client_id: str) -> bool:
    """Whether ``username`` may connect with ``client_id``: the binding that stops one
    account from resuming another's session (MQTT finds a session by client id alone).

    Ids starting with ``sharpeyes-`` belong to the service whose name they start with
    (``sharpeyes-ingest-1`` to ``sharpeyes-ingest``); other services may use other ids
    (``video-CAM-1``); a device only its own id or one ending in ``-<its id>``
    (``sim-sharpeyes-CAM-1``); the operator account any id.
    """
    if username == SERVICE_ADMIN:
        return True
    if client_id.startswith(RESERVED_CLIENT_PREFIX):
        return username in SERVICES and (client_id == username
                                         or client_id.startswith(f"{username}-"))
    if username in SERVICES:
        return True
    return client_id == username or client_id.endswith(f"-{username}")


def filter_covers(allowed: str, requested: str) -> bool:
    """Whether the topic or filter ``requested`` lies within the ACL filter ``allowed``.

    Levels compare literally (``..``, empty levels and a trailing ``/`` are levels like
    any other); a wildcard in ``requested`` is covered only by a wildcard in ``allowed``.
    """
    wanted = requested.split("/")
    for index, level in enumerate(allowed.split("/")):
        if level == "#":
            return True
        if index >= len(wanted) or wanted[index] == "#":
            return False
        if level != "+" and level != wanted[index]:
            return False
    return len(wanted) == len(allowed.split("/"))


class EmbeddedPolicy:
    """Who may connect and do what on an embedded broker that asks per connection (amqtt):
    service accounts by name, any device id with its derived password."""

    def __init__(self, secret: bytes, prefix: str) -> None:
        self.services = {a.username: a for a in embedded_service_accounts(secret, prefix)}
        self.prefix = prefix
        self._device_secret = embedded_device_secret(secret)
        self._devices: dict[str, tuple[Rule, ...]] = {}

    def rules(self, username: str | None) -> tuple[Rule, ...]:
        if not username:
            return ()
        if username in self.services:
            return self.services[username].rules
        if username not in self._devices:
            if len(self._devices) > 100_000:   # bounded: any name may knock
                self._devices.clear()
            try:
                self._devices[username] = any_device_rules(self.prefix, username)
            except AclError:
                self._devices[username] = ()
        return self._devices[username]

    def password_of(self, username: str) -> str | None:
        if username in self.services:
            return self.services[username].password
        if not self.rules(username):
            return None
        from simulators.devices import device_password

        return device_password(username, self._device_secret)

    def admits(self, username: str | None, password: str | None, client_id: str) -> bool:
        """Credentials right and the client id theirs; anonymous clients never."""
        if not username or password is None:
            return False
        expected = self.password_of(username)
        return (expected is not None and hmac.compare_digest(expected, password)
                and client_id_allowed(username, client_id))

    def may(self, username: str | None, access: Access, topic: str) -> bool:
        if topic.startswith("$share/"):   # a shared subscription: check its filter
            topic = topic.split("/", 2)[2] if topic.count("/") >= 2 else ""
        return any(rule.access is access and filter_covers(rule.topic, topic)
                   for rule in self.rules(username))
