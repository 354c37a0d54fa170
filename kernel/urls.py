"""Typed server addresses for the settings: a PostgreSQL connection string and a broker URL.

pydantic's ``PostgresDsn`` refuses ``postgresql://postgres:@/sharpeyes?host=/run/pg``, the
Unix-socket form the embedded PostgreSQL hands out, so the database URL is checked by
libpq's own parser (``psycopg.conninfo``), which is what will read it later anyway. Both
stay plain ``str`` subtypes for their users; what the types add is that a malformed
address is refused when the settings are read, with the variable's name, instead of
deep inside a stage at its first connection. Error messages never repeat the value: it
may carry a password.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

import psycopg
from pydantic import AfterValidator

_DATABASE_SCHEMES = frozenset({"postgresql", "postgres"})
_MQTT_SCHEMES = frozenset({"mqtt", "mqtts", "tcp"})


def check_database_url(value: str) -> str:
    """A libpq connection string naming a host: a ``postgresql://`` URI (TCP or a socket
    directory) or the ``key=value`` form that :func:`store.db.url_with_database` makes."""
    if "://" in value and urlsplit(value).scheme not in _DATABASE_SCHEMES:
        raise ValueError("must be a postgresql:// URL")
    try:
        params = psycopg.conninfo.conninfo_to_dict(value)
    except psycopg.ProgrammingError:
        raise ValueError("is not a URL that libpq can read") from None
    host = str(params.get("host") or "")
    if not host:
        raise ValueError("names no host (a name, an address, or host=/socket/directory)")
    port = params.get("port")
    if port is not None and not (str(port).isdigit() and 0 < int(port) < 65536):
        raise ValueError("has a port outside 1-65535")
    return value


def check_mqtt_url(value: str) -> str:
    """``mqtt://[user[:password]@]host[:port]`` or ``mqtts://…`` (TLS)."""
    parts = urlsplit(value)
    if parts.scheme not in _MQTT_SCHEMES:
        raise ValueError("must start with mqtt:// or mqtts://")
    if not parts.hostname:
        raise ValueError("names no host")
    try:
        parts.port  # noqa: B018 - urlsplit checks the port only when asked
    except ValueError:
        raise ValueError("has a port outside 0-65535") from None
    if parts.path not in {"", "/"} or parts.query or parts.fragment:
        raise ValueError("carries a path or query; a broker URL is scheme, host and port")
    return value


DatabaseUrl = Annotated[str, AfterValidator(check_database_url)]
MqttUrl = Annotated[str, AfterValidator(check_mqtt_url)]
