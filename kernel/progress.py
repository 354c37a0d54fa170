"""What a running stage says about its own progress, for ``/health``.

Owns :class:`StageHealth`: a stage marks progress (a batch committed, a job run) and
failures (a batch refused by a lost database, a job raising), and may say how much work
waits. ``problem()`` is ``None`` while the stage moves, else the reason it is degraded:
work waiting with nothing done for ``stall_after_s``, or something failing since its
last success. A thread that is alive is not enough: ingest retrying one batch forever,
or a job failing every minute, must show.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class StageHealth:
    def __init__(self, name: str, stall_after_s: float = 30.0,
                 waiting: Callable[[], int] | None = None) -> None:
        self.name = name
        self.stall_after_s = stall_after_s
        self.waiting = waiting
        self._lock = threading.Lock()
        self._last_progress = time.monotonic()
        self._failing: dict[str, tuple[float, str]] = {}   # what → (since, last error)
        self.extra: Callable[[], str | None] | None = None

    def progressed(self, what: str = "") -> None:
        with self._lock:
            self._last_progress = time.monotonic()
            self._failing.pop(what, None)

    def failed(self, what: str, error: str) -> None:
        with self._lock:
            since = self._failing.get(what, (time.monotonic(), ""))[0]
            self._failing[what] = (since, error.strip().splitlines()[0][:200] if error.strip()
                                   else "error")

    def problem(self) -> str | None:
        now = time.monotonic()
        with self._lock:
            failing = dict(self._failing)
            idle = now - self._last_progress
        if failing:
            what, (since, error) = next(iter(failing.items()))
            label = f"{self.name} {what}".strip()
            return f"{label} failing for {now - since:.0f} s: {error}"
        waiting = self.waiting() if self.waiting is not None else 0
        if waiting > 0 and idle > self.stall_after_s:
            return (f"{self.name} makes no progress: {waiting} waiting, nothing done for "
                    f"{idle:.0f} s")
        return self.extra() if self.extra is not None else None
