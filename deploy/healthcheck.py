"""Container health check for Sharp Eyes processes (compose ``healthcheck``, k8s exec probes).

``python /app/healthcheck.py api|ingest|alerts|video`` exits 0 when healthy, 1 with
the reason on stderr otherwise. Standard library only: it runs every few seconds, and
must not depend on the application importing cleanly.

* ``api`` — ``GET /health`` on the local API answers 200 (it is 503 when a component
  or the database is down).
* ``ingest``, ``alerts``, ``video`` — a ``sharpeyes serve`` process is running and this
  container holds an established TCP connection to the broker and/or the database
  (ingest: both; alerts: both, it publishes tasks; video: the broker). A process whose
  component thread dies exits by itself (the runtime stops the whole group), so
  "running and connected" is the useful signal here. A database reached over a Unix
  socket (as the embedded one is) holds no TCP connection, so only the broker's is checked.
"""

from __future__ import annotations

import os
import re
import sys
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

ESTABLISHED = "01"
NEEDS = {"ingest": ("mqtt", "database"), "alerts": ("mqtt", "database"), "video": ("mqtt",)}
DEFAULT_PORTS = {"mqtt": 1883, "mqtts": 8883, "postgresql": 5432, "postgres": 5432}


def _port(url: str) -> int:
    """The server port of a URL, or of a libpq ``key=value`` connection string.

    0 when there is no TCP connection to look for: no URL, or a database reached over a
    Unix socket (a host that is a directory, or none: libpq's default).
    """
    if not url:
        return 0
    if "://" not in url:
        host = re.search(r"(?:^|\s)host\s*=\s*(\S*)", url)
        if _unix_socket(host[1] if host else ""):
            return 0
        match = re.search(r"(?:^|\s)port\s*=\s*(\d+)", url)
        return int(match[1]) if match else DEFAULT_PORTS["postgresql"]
    parts = urlsplit(url)
    if parts.scheme.startswith("postgres"):
        hosts = parse_qs(parts.query).get("host") or [unquote(parts.hostname or "")]
        if _unix_socket(hosts[-1]):
            return 0
    try:
        return parts.port or DEFAULT_PORTS.get(parts.scheme, 0)
    except ValueError:  # an empty or odd port: fall back to the scheme's
        return DEFAULT_PORTS.get(parts.scheme, 0)


def _unix_socket(host: str) -> bool:
    """libpq reads a host that is a directory, or no host at all, as a Unix socket."""
    host = host or os.environ.get("PGHOST", "")
    return not host or host.startswith("/")


def _established_remote_ports() -> set[int]:
    """Remote ports of established TCP connections in this network namespace."""
    ports: set[int] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 3 and fields[3] == ESTABLISHED:
                ports.add(int(fields[2].rsplit(":", 1)[1], 16))
    return ports


def _serving(target: str) -> bool:
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        if b"serve" in args and target.encode() in args:
            return True
    return False


def check_api() -> str | None:
    port = os.environ.get("SHARPEYES_API_PORT", "8000")
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=3):
            return None
    except urllib.error.HTTPError as exc:
        return f"/health answered {exc.code}: {exc.read()[:300]!r}"
    except OSError as exc:
        return f"/health unreachable: {exc}"


def check_process(target: str) -> str | None:
    if not _serving(target):
        return f"no `sharpeyes serve {target}` process"
    # entrypoint.sh builds SHARPEYES_MQTT_URL inside the process from MQTT_* variables,
    # so a probe (a separate exec) may only see those.
    mqtt_url = os.environ.get("SHARPEYES_MQTT_URL") or "{}://{}:{}".format(
        os.environ.get("MQTT_SCHEME", "mqtt"), os.environ.get("MQTT_HOST", "broker"),
        os.environ.get("MQTT_PORT", ""))
    ports = {"mqtt": _port(mqtt_url),
             "database": _port(os.environ.get("SHARPEYES_DATABASE_URL", ""))}
    connected = _established_remote_ports()
    for need in NEEDS[target]:
        port = ports[need]
        if port and port not in connected:
            return f"no established connection to the {need} (port {port})"
    return None


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[1] not in {"api", *NEEDS}:
        sys.stderr.write("usage: healthcheck.py api|ingest|alerts|video\n")
        return 2
    problem = check_api() if argv[1] == "api" else check_process(argv[1])
    if problem:
        sys.stderr.write(f"unhealthy: {problem}\n")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
