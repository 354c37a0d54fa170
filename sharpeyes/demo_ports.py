"""The demo's ports, kept in its data directory so that a restart listens where it did.

Bookmarks, a logged-in dashboard and a device pointed at the broker keep working after
``sharpeyes demo`` is stopped and started again. A port asked for (``--api-port``,
``--mqtt-port``) must be free; the remembered one is reused when free, else the OS picks
another, remembered instead.
"""

from __future__ import annotations

import json
import logging
import socket
from pathlib import Path

from kernel.errors import ConflictError
from kernel.netutil import free_port

log = logging.getLogger(__name__)

PORTS_FILE = "demo-ports.json"


class PortInUse(ConflictError):
    """A port the user asked for is taken by another program."""


def is_free(host: str, port: int) -> bool:
    """Whether a server could listen on host:port now. SO_REUSEADDR as the API sets it,
    so a port whose last connections linger in TIME_WAIT counts as free."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def remembered(data_dir: Path) -> dict[str, int]:
    """The ports of the last run, by name, where it left readable ones."""
    try:
        data = json.loads((data_dir / PORTS_FILE).read_text())
        return {str(k): int(v) for k, v in data.items() if 0 < int(v) < 65536}
    except (OSError, ValueError, TypeError, AttributeError):
        return {}


def keep_port(data_dir: Path, name: str, host: str, asked: int = 0,
              taken: frozenset[int] = frozenset()) -> int:
    """The port ``name`` ("api", "mqtt", "mqtt-services") listens on in this run,
    remembered for the next run; never one of ``taken`` (chosen for this run already)."""
    last = remembered(data_dir).get(name, 0)
    if asked:
        if asked in taken or not is_free(host, asked):
            raise PortInUse(f"--{name}-port {asked}: the port is in use on {host}")
        port = asked
    elif last and last not in taken and is_free(host, last):
        port = last
    else:
        if last:
            log.warning("%s port %d of the last run is in use now; taking another", name, last)
        port = free_port(host)
        while port in taken:
            port = free_port(host)
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / PORTS_FILE).write_text(json.dumps({**remembered(data_dir), name: port}) + "\n")
    return port


def keep_api_port(data_dir: Path, host: str, asked: int = 0) -> int:
    """The port this run's API listens on, remembered for the next run."""
    return keep_port(data_dir, "api", host, asked)
