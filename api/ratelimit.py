"""Login rate limiting: sliding windows per username and per client address, in the store.

Every API replica reads and writes the same ``login_attempts`` table, so the limits hold
however many replicas serve logins. An attempt is recorded *before* its password is
checked (outcome NULL) and counts at once: concurrent attempts on several replicas see
each other and cannot overshoot. A refused attempt deletes its row, so hammering a
locked account does not extend the lock.

Limits (see :class:`LoginLimits`):

- failures per username — guessing one person's password;
- failures per client address — trying many usernames from one place;
- attempts per client address — any flood, successful or not (password hashing is
  deliberately slow, so this also protects the CPU).

A success clears the username's failures. Usernames and addresses are stored as
SHA-256 digests only. Behind a reverse proxy, run uvicorn with ``--proxy-headers`` and
``--forwarded-allow-ips`` so that the client address is the real one.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.rows import tuple_row


@dataclass(frozen=True, slots=True)
class Window:
    limit: int
    seconds: float


@dataclass(frozen=True, slots=True)
class LoginLimits:
    per_user_failures: Window = Window(5, 300)
    per_client_failures: Window = Window(20, 300)
    per_client_attempts: Window = Window(60, 60)

    @property
    def longest(self) -> float:
        return max(self.per_user_failures.seconds, self.per_client_failures.seconds,
                   self.per_client_attempts.seconds)


class TooManyAttempts(Exception):
    """Refused before checking the password; ``retry_after`` is in whole seconds."""

    def __init__(self, reason: str, retry_after: int) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


def _digest(kind: str, value: str) -> str:
    return kind + ":" + hashlib.sha256(value.encode()).hexdigest()


# The n-th newest counted attempt within the window (n = limit) decides when a slot
# frees: when it leaves the window, fewer than `limit` remain.
_WAIT = """
SELECT extract(epoch FROM at + make_interval(secs => %(seconds)s) - clock_timestamp())
FROM login_attempts
WHERE {column} = %(key)s AND at > clock_timestamp() - make_interval(secs => %(seconds)s)
  AND id <> %(me)s AND {outcome}
ORDER BY at DESC OFFSET %(offset)s LIMIT 1
"""


@dataclass(frozen=True, slots=True)
class Attempt:
    """One login attempt in progress; call :meth:`succeeded` or :meth:`failed`."""

    conn: psycopg.Connection[Any]
    attempt_id: int
    user_key: str

    def succeeded(self) -> None:
        with self.conn.transaction():
            self.conn.execute("UPDATE login_attempts SET outcome = 'success' WHERE id = %s",
                              (self.attempt_id,))
            self.conn.execute("DELETE FROM login_attempts WHERE user_key = %s"
                              " AND outcome = 'failure'", (self.user_key,))

    def failed(self) -> None:
        self.conn.execute("UPDATE login_attempts SET outcome = 'failure' WHERE id = %s",
                          (self.attempt_id,))


def begin_attempt(conn: psycopg.Connection[Any], limits: LoginLimits, username: str,
                  client: str) -> Attempt:
    """Record an attempt, or raise :class:`TooManyAttempts` (and record nothing)."""
    user_key = _digest("user", username.strip().lower())
    client_key = _digest("client", client)
    cur = conn.cursor(row_factory=tuple_row)
    cur.execute("DELETE FROM login_attempts WHERE at < clock_timestamp()"
                " - make_interval(secs => %s) AND (user_key = %s OR client_key = %s)",
                (limits.longest, user_key, client_key))
    row = cur.execute("INSERT INTO login_attempts (user_key, client_key) VALUES (%s, %s)"
                      " RETURNING id", (user_key, client_key)).fetchone()
    assert row is not None
    attempt_id = int(row[0])
    checks = (
        ("user_key", user_key, limits.per_user_failures, True,
         "too many failed logins for this username"),
        ("client_key", client_key, limits.per_client_failures, True,
         "too many failed logins from your address"),
        ("client_key", client_key, limits.per_client_attempts, False,
         "too many logins from your address"),
    )
    for column, key, window, failures_only, reason in checks:
        wait = _wait_seconds(cur, column, key, window, failures_only, attempt_id)
        if wait is not None:
            cur.execute("DELETE FROM login_attempts WHERE id = %s", (attempt_id,))
            raise TooManyAttempts(reason, wait)
    return Attempt(conn, attempt_id, user_key)


def _wait_seconds(cur: psycopg.Cursor[Any], column: str, key: str, window: Window,
                  failures_only: bool, me: int) -> int | None:
    """Seconds until an attempt would be allowed; None if allowed now."""
    # Attempts in progress (outcome NULL) count as failures until they are decided.
    outcome = "outcome IS DISTINCT FROM 'success'" if failures_only else "TRUE"
    query = _WAIT.format(column=column, outcome=outcome)
    row = cur.execute(query, {"seconds": window.seconds, "key": key, "me": me,
                              "offset": window.limit - 1}).fetchone()
    if row is None:
        return None
    return max(1, math.ceil(float(row[0])))
