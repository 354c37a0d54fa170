"""``sharpeyes broker acl|password``: Mosquitto files from the registry, derived passwords.

``broker acl --out DIR [--credentials FILE]`` writes ``DIR/passwords`` and ``DIR/acl``
(and, when asked, a CSV of plaintext passwords for provisioning devices).
``broker password NAME`` prints one account's password, which is how a process or a
device installer obtains it: passwords are derived from the broker secret, never stored.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

import psycopg

from kernel.secret_policy import WeakSecret, check_secret
from kernel.settings import Settings
from sharpeyes.acl import (
    AclError,
    AdapterSource,
    build_accounts,
    derive_password,
    embedded_device_secret,
    load_devices,
    write_broker_files,
    write_credentials,
)
from sharpeyes.runtime import Runtime
from simulators.devices import device_password

log = logging.getLogger(__name__)


def register(sub: Any) -> None:
    broker = sub.add_parser("broker", help="MQTT broker administration")
    kinds = broker.add_subparsers(dest="broker_command", required=True)
    acl = kinds.add_parser("acl", help="write Mosquitto password_file, acl_file and the "
                           "credentials CSV for every registered device and service")
    acl.add_argument("--out", type=Path, required=True, help="directory to write into")
    acl.add_argument("--credentials", type=Path, default=None,
                     help="also write username,password,role CSV here (mode 0600)")
    password = kinds.add_parser("password", help="print the derived password of one account")
    password.add_argument("username", help="a device id or a service account name")
    for command in (acl, password):
        command.add_argument("--secret-file", type=Path, default=None,
                             help="file holding the broker secret "
                             "(default: SHARPEYES_BROKER_SECRET)")
    password.add_argument("--embedded", action="store_true",
                          help="the password of a device on the embedded broker of "
                          "SHARPEYES_DATA_DIR (what `sharpeyes demo` runs)")
    acl.set_defaults(handler=_acl)
    password.set_defaults(handler=_password)


def _secret(args: argparse.Namespace, settings: Settings) -> bytes:
    if args.secret_file is not None:
        secret = bytes(args.secret_file.read_bytes().strip())
    elif settings.broker_secret is None:
        raise AclError("set SHARPEYES_BROKER_SECRET or pass --secret-file")
    else:
        secret = settings.broker_secret.get_secret_value().encode()
    if settings.environment != "development":   # passwords derived from an example: none
        try:
            check_secret("the broker secret", secret.decode("utf-8", "replace"))
        except WeakSecret as exc:
            raise AclError(str(exc)) from exc
    return secret


def _adapter_sources(settings: Settings) -> list[AdapterSource]:
    if settings.adapters_file is None:
        return []
    from ingest.adapters import build_adapters
    from ingest.adapters.config import load_adapters_config

    adapters = build_adapters(load_adapters_config(settings.adapters_file), settings.topic_prefix)
    return [AdapterSource(a.name, tuple(a.subscriptions())) for a in adapters]


def _acl(args: argparse.Namespace, settings: Settings) -> int:
    try:
        secret = _secret(args, settings)
        rt = Runtime(settings)
        try:
            with psycopg.connect(rt.open_store()) as conn:
                devices = load_devices(conn)
        finally:
            rt.close()
        result = build_accounts(secret, settings.topic_prefix, devices,
                                _adapter_sources(settings))
        files = write_broker_files(args.out, secret, result.accounts)
        if args.credentials is not None:
            write_credentials(args.credentials, result.accounts)
    except AclError as exc:
        sys.stderr.write(f"broker acl: {exc}\n")
        return 2
    sys.stdout.write(f"{len(result.accounts)} accounts -> {files.password_file}, "
                     f"{files.service_password_file}, {files.acl_file}\n")
    for device_id, why in result.skipped.items():
        sys.stdout.write(f"skipped {device_id}: {why}\n")
    return 0


def _password(args: argparse.Namespace, settings: Settings) -> int:
    if args.embedded:
        return _embedded_password(args.username, settings)
    try:
        sys.stdout.write(derive_password(_secret(args, settings), args.username) + "\n")
    except AclError as exc:
        sys.stderr.write(f"broker password: {exc}\n")
        return 2
    return 0


def _embedded_password(device_id: str, settings: Settings) -> int:
    """A device's password on the embedded broker: it logs in as its id with this one."""
    path = settings.data_dir / "broker" / "secret"
    if not path.exists():
        sys.stderr.write(f"broker password: no embedded broker in {settings.data_dir} yet "
                         "(start `sharpeyes demo` once)\n")
        return 2
    secret = embedded_device_secret(path.read_text().strip().encode())
    sys.stdout.write(device_password(device_id, secret) + "\n")
    return 0
