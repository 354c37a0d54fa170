"""What each stage of a bench run cost: CPU seconds per 1,000 messages, and the machine's load.

A :class:`CostMeter` is given, per stage, *counters*: functions that return the CPU
seconds used so far by each unit of that stage (a process id, a thread id). It reads them
all at :meth:`~CostMeter.start` and :meth:`~CostMeter.stop`; a stage's cost is the sum of
its units' differences (a unit born inside the window counts from zero, one gone before
the end is lost, which the report says). Stages that measure themselves (a publisher
process that ends before the window does) add their seconds with :meth:`add_seconds`.

Beside the stages: the machine's CPU count, load averages and busy fraction over the
window, the busy CPU seconds no stage accounts for (other tenants of a shared machine),
and ``saturated`` — the machine was ≥ 90 % busy, or its 1-minute load reached the CPU
count — so that a latency measured on a saturated machine says so.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Hashable, Iterable
from typing import Any
from urllib.parse import urlsplit

import psutil
import psycopg

Counter = Callable[[], dict[Hashable, float]]
"""CPU seconds so far of each unit of a stage, by unit (pid, tid)."""

SATURATED_BUSY = 0.9


def _cpu(proc: psutil.Process) -> float:
    times = proc.cpu_times()
    return float(times.user + times.system)


def processes(pids: Callable[[], Iterable[int]], *, children: bool = False) -> Counter:
    """The processes ``pids()`` names now (and their descendants with ``children``)."""

    def read() -> dict[Hashable, float]:
        out: dict[Hashable, float] = {}
        for pid in pids():
            try:
                proc = psutil.Process(pid)
                family = [proc, *proc.children(recursive=True)] if children else [proc]
                for p in family:
                    out[p.pid] = _cpu(p)
            except psutil.Error:
                continue  # gone: its time since the last reading is lost
        return out

    return read


def listening_pids(port: int) -> list[int]:
    """Processes with a TCP socket listening on ``port`` (a broker, a database server)."""
    try:
        conns = psutil.net_connections(kind="tcp")
    except psutil.Error:
        return []
    return sorted({c.pid for c in conns if c.pid and c.status == psutil.CONN_LISTEN
                   and c.laddr and c.laddr.port == port})


def server_tree(port: int) -> Counter:
    """The server listening on ``port`` and every process it forked (PostgreSQL backends)."""
    return processes(lambda: listening_pids(port), children=True)


_BACKENDS = """
SELECT pid FROM pg_stat_activity
WHERE datname IS NULL OR datname = current_database() OR %s
"""


def postgres(url: str, *, every_database: bool = False) -> Counter:
    """The PostgreSQL server behind ``url`` when it runs on this machine (TCP or a Unix
    socket): its background processes (WAL writer, checkpointer...) and the backends of
    ``url``'s database, or of every database with ``every_database``; on a shared server
    the other databases' backends belong to other tenants. Nothing when it is remote."""

    def read() -> dict[Hashable, float]:
        try:
            with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
                row = conn.execute("SELECT pg_backend_pid()").fetchone()
                own = int(row[0]) if row else 0
                pids = [int(r[0]) for r in conn.execute(_BACKENDS, (every_database,))]
                backend = psutil.Process(own)  # while the session (and its process) lives
                if "postgres" not in backend.name():
                    return {}  # the pid is some other process: the server is remote
                pids = [backend.ppid(), *(p for p in pids if p != own)]  # the postmaster too
        except (psycopg.Error, psutil.Error):
            return {}  # unreachable, or remote
        return processes(lambda: pids)()

    return read


def threads(match: Callable[[str], bool]) -> Counter:
    """Threads of this process whose Python name satisfies ``match``."""

    def read() -> dict[Hashable, float]:
        names = {t.native_id: t.name for t in threading.enumerate()}
        out: dict[Hashable, float] = {}
        for t in psutil.Process().threads():
            name = names.get(t.id)
            if name is not None and match(name):
                out[t.id] = float(t.user_time + t.system_time)
        return out

    return read


def named(*prefixes: str) -> Callable[[str], bool]:
    """A thread-name matcher: the name starts with one of ``prefixes``."""
    return lambda name: name.startswith(prefixes)


def paho_thread(client_id: str) -> str:
    """The name paho gives the network thread of ``client_id`` (``loop_start``)."""
    return f"paho-mqtt-client-{client_id}"


def _machine() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot."""
    t = psutil.cpu_times()
    idle = t.idle + getattr(t, "iowait", 0.0)
    total = float(sum(t))
    return total - idle, total


class CostMeter:
    """Per-stage CPU over a window; :meth:`report` gives seconds per 1,000 messages."""

    def __init__(self) -> None:
        self._counters: dict[str, list[Counter]] = {}
        self._extra: dict[str, float] = {}
        self._lock = threading.Lock()
        self._first: dict[str, dict[Hashable, float]] = {}
        self._last: dict[str, dict[Hashable, float]] = {}
        self._window: tuple[float, float] = (0.0, 0.0)
        self._machine: tuple[tuple[float, float], tuple[float, float]] = ((0, 0), (0, 0))
        self._load: tuple[tuple[float, ...], tuple[float, ...]] = ((), ())

    def add(self, stage: str, counter: Counter) -> CostMeter:
        self._counters.setdefault(stage, []).append(counter)
        return self

    def add_seconds(self, stage: str, seconds: float) -> None:
        """CPU a stage measured itself (thread-safe)."""
        with self._lock:
            self._extra[stage] = self._extra.get(stage, 0.0) + seconds

    def _read(self) -> dict[str, dict[Hashable, float]]:
        out: dict[str, dict[Hashable, float]] = {}
        for stage, counters in self._counters.items():
            units: dict[Hashable, float] = {}
            for counter in counters:
                units.update(counter())
            out[stage] = units
        return out

    def start(self) -> None:
        self._first = self._read()
        self._window = (time.monotonic(), 0.0)
        self._machine = (_machine(), (0.0, 0.0))
        self._load = (os.getloadavg(), ())

    def stop(self) -> None:
        self._last = self._read()
        self._window = (self._window[0], time.monotonic())
        self._machine = (self._machine[0], _machine())
        self._load = (self._load[0], os.getloadavg())

    def seconds(self) -> dict[str, float]:
        """CPU seconds of each stage over the window."""
        out: dict[str, float] = {}
        for stage, units in self._last.items():
            first = self._first.get(stage, {})
            out[stage] = sum(max(0.0, cpu - first.get(unit, 0.0)) for unit, cpu in units.items())
        for stage, extra in self._extra.items():
            out[stage] = out.get(stage, 0.0) + extra
        return out

    def lost_units(self) -> dict[str, int]:
        """Units read at the start and gone at the end, by stage (their time is lost)."""
        return {stage: n for stage, units in self._first.items()
                if (n := len(set(units) - set(self._last.get(stage, {}))))}

    def report(self, messages: int) -> dict[str, Any]:
        """JSON-ready: per stage CPU s per 1,000 messages and cores used; the machine."""
        wall = max(self._window[1] - self._window[0], 1e-9)
        per_stage = self.seconds()
        per_k = 1000.0 / messages if messages else 0.0
        units = {stage: len(u) for stage, u in self._last.items()}
        stages = {stage: {"cpu_s": round(s, 3), "cpu_s_per_1k_msgs": round(s * per_k, 4),
                          "cores": round(s / wall, 3), "units": units.get(stage, 0)}
                  for stage, s in sorted(per_stage.items())}
        return {"messages": messages, "wall_s": round(wall, 2), "stages": stages,
                "lost_units": self.lost_units(), "machine": self._machine_report(per_stage)}

    def _machine_report(self, per_stage: dict[str, float]) -> dict[str, Any]:
        (busy0, total0), (busy1, total1) = self._machine
        cpus = os.cpu_count() or 1
        busy = (busy1 - busy0) / max(total1 - total0, 1e-9)
        load_start, load_end = self._load
        unaccounted = (busy1 - busy0) - sum(per_stage.values())
        return {"cpus": cpus, "busy_fraction": round(busy, 3),
                "busy_cpu_s": round(busy1 - busy0, 2),
                "unaccounted_cpu_s": round(unaccounted, 2),
                "loadavg_start": [round(x, 2) for x in load_start],
                "loadavg_end": [round(x, 2) for x in load_end],
                "saturated": bool(busy >= SATURATED_BUSY
                                  or (load_end and load_end[0] >= cpus))}


def _port(url: str, default: int) -> int:
    try:
        return urlsplit(url).port or default
    except ValueError:
        return default


def with_servers(meter: CostMeter, mqtt_url: str, database_url: str) -> CostMeter:
    """Add the broker (every process listening on its port) and the database server (its
    background processes and this database's backends) when they run on this machine."""
    return (meter.add("broker", server_tree(_port(mqtt_url, 1883)))
            .add("database", postgres(database_url)))
