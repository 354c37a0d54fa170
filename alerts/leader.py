"""Leader election through a PostgreSQL advisory lock held on a dedicated connection.

The lock lives as long as the session: if the leader dies its connection closes,
the lock is released, and a standby's next :meth:`LeaderLock.acquire` wins.
"""

from __future__ import annotations

import logging
from typing import Any

import psycopg

from store import locks

log = logging.getLogger(__name__)

ALERTS_LEADER_KEY = locks.ALERTS_LEADER


class LeaderLock:
    def __init__(self, url: str, key: int = ALERTS_LEADER_KEY) -> None:
        self.url = url
        self.key = key
        self._conn: psycopg.Connection[Any] | None = None

    def acquire(self) -> bool:
        """Try to become (or confirm being) the leader; never blocks."""
        if self.held():
            return True
        self.release()
        conn = psycopg.connect(self.url, autocommit=True, application_name="sharpeyes-alerts")
        row = conn.execute("SELECT pg_try_advisory_lock(%s)", (self.key,)).fetchone()
        if row and row[0]:
            self._conn = conn
            log.info("became leader (lock %#x)", self.key)
            return True
        conn.close()
        return False

    @property
    def connection(self) -> psycopg.Connection[Any]:
        """The session holding the lock. Work done on it is fenced: if the session dies,
        the lock and any unfinished transaction die with it, so a deposed leader can
        never write after a standby took over."""
        if self._conn is None:
            raise RuntimeError("not the leader")
        return self._conn

    def held(self) -> bool:
        if self._conn is None or self._conn.closed:
            return False
        try:
            self._conn.execute("SELECT 1")
            return True
        except psycopg.Error:
            self._conn = None
            return False

    def release(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None
