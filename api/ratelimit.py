"""Login rate limiting: slow guessing down without letting a stranger lock anyone out.

Every API replica reads and writes the same ``login_attempts`` table, so the limits hold
however many replicas serve logins. An attempt is recorded *before* its password is
checked (outcome NULL) and counts at once: concurrent attempts on several replicas see
each other and cannot overshoot. A refused attempt deletes its row, so hammering does
not extend a wait.

Limits (see :class:`LoginLimits`):

- failures per (username, address) pair, strictly — one place guessing one person's
  password waits out a sliding window;
- failures per client address — trying many usernames from one place;
- attempts per client address — any flood, successful or not (password hashing is
  deliberately slow, so this also protects the CPU);
- failures per username from anywhere, loosely (:class:`Backoff`) — many addresses
  guessing one password: past a free allowance, each *address* must wait an
  exponentially growing, capped delay after its own last attempt at that username.
  An address's first attempt always goes through, and an address that logged in to
  that account successfully before (within ``known_good_seconds``) is not slowed at all,
  so no number of wrong passwords from elsewhere locks the real user out.

A success clears the failures of its own pair and marks the address known-good for that
username. Usernames and addresses are stored as SHA-256 digests only. Behind a reverse
proxy, run uvicorn with ``--proxy-headers`` and ``--forwarded-allow-ips`` so that the
client address is the real one.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg.rows import tuple_row

from kernel.errors import LimitError


@dataclass(frozen=True, slots=True)
class Window:
    limit: int
    seconds: float


@dataclass(frozen=True, slots=True)
class Backoff:
    """Per-username slowing: after ``free`` failures within ``seconds`` (from any address),
    an address waits ``base * 2**(failures - free)`` seconds, at most ``cap``, after its
    own last attempt at the username. Never a lock."""

    free: int = 10
    seconds: float = 900
    base: float = 1.0
    cap: float = 60.0

    def delay(self, failures: int) -> float:
        if failures < self.free:
            return 0.0
        return min(self.cap, self.base * 2.0 ** min(failures - self.free, 64))


@dataclass(frozen=True, slots=True)
class LoginLimits:
    per_pair_failures: Window = Window(5, 300)
    per_client_failures: Window = Window(20, 300)
    per_client_attempts: Window = Window(60, 60)
    per_user: Backoff = field(default_factory=Backoff)
    known_good_seconds: float = 30 * 24 * 3600

    @property
    def longest(self) -> float:
        return max(self.per_pair_failures.seconds, self.per_client_failures.seconds,
                   self.per_client_attempts.seconds, self.per_user.seconds)


class TooManyAttempts(LimitError):
    """Refused before checking the password; ``retry_after`` is in whole seconds."""

    def __init__(self, reason: str, retry_after: int) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


def _digest(kind: str, value: str) -> str:
    return kind + ":" + hashlib.sha256(value.encode()).hexdigest()


# Attempts in progress (outcome NULL) count as failures until they are decided.
_FAILED = "outcome IS DISTINCT FROM 'success'"
_RECENT = "at > clock_timestamp() - make_interval(secs => %(seconds)s)"

# The n-th newest counted attempt within the window (n = limit) decides when a slot
# frees: when it leaves the window, fewer than `limit` remain.
_WAIT = f"""
SELECT extract(epoch FROM at + make_interval(secs => %(seconds)s) - clock_timestamp())
FROM login_attempts
WHERE {{keys}} AND {_RECENT} AND id <> %(me)s AND {{outcome}}
ORDER BY at DESC OFFSET %(offset)s LIMIT 1
"""

_KNOWN_GOOD = f"""
SELECT 1 FROM login_attempts
WHERE user_key = %(user)s AND client_key = %(client)s AND outcome = 'success' AND {_RECENT}
LIMIT 1
"""

# Failures at this username from anywhere, and how long ago this address last tried it.
_SPREAD = f"""
SELECT count(*) FILTER (WHERE {_FAILED}),
       extract(epoch FROM clock_timestamp() - max(at) FILTER (WHERE client_key = %(client)s))
FROM login_attempts
WHERE user_key = %(user)s AND {_RECENT} AND id <> %(me)s
"""


@dataclass(frozen=True, slots=True)
class Attempt:
    """One login attempt in progress; call :meth:`succeeded` or :meth:`failed`."""

    conn: psycopg.Connection[Any]
    attempt_id: int
    user_key: str
    client_key: str

    def succeeded(self) -> None:
        with self.conn.transaction():
            self.conn.execute("UPDATE login_attempts SET outcome = 'success' WHERE id = %s",
                              (self.attempt_id,))
            # This pair's failures are forgiven and only its latest success is kept (it
            # makes the address known-good for this username).
            self.conn.execute("DELETE FROM login_attempts WHERE user_key = %s"
                              " AND client_key = %s AND id <> %s",
                              (self.user_key, self.client_key, self.attempt_id))

    def failed(self) -> None:
        self.conn.execute("UPDATE login_attempts SET outcome = 'failure' WHERE id = %s",
                          (self.attempt_id,))


def begin_attempt(conn: psycopg.Connection[Any], limits: LoginLimits, username: str,
                  client: str) -> Attempt:
    """Record an attempt, or raise :class:`TooManyAttempts` (and record nothing)."""
    user_key = _digest("user", username.strip().lower())
    client_key = _digest("client", client)
    cur = conn.cursor(row_factory=tuple_row)
    cur.execute("DELETE FROM login_attempts WHERE (user_key = %s OR client_key = %s)"
                " AND at < clock_timestamp() - make_interval(secs => CASE WHEN"
                " outcome = 'success' THEN %s ELSE %s END)",
                (user_key, client_key, max(limits.known_good_seconds, limits.longest),
                 limits.longest))
    row = cur.execute("INSERT INTO login_attempts (user_key, client_key) VALUES (%s, %s)"
                      " RETURNING id", (user_key, client_key)).fetchone()
    assert row is not None
    attempt_id = int(row[0])
    keys = {"user": user_key, "client": client_key, "me": attempt_id}
    checks = (
        ("user_key = %(user)s AND client_key = %(client)s", limits.per_pair_failures, True,
         "too many failed logins for this username from your address"),
        ("client_key = %(client)s", limits.per_client_failures, True,
         "too many failed logins from your address"),
        ("client_key = %(client)s", limits.per_client_attempts, False,
         "too many logins from your address"),
    )
    try:
        for where, window, failures_only, reason in checks:
            wait = _wait_seconds(cur, where, window, failures_only, keys)
            if wait is not None:
                raise TooManyAttempts(reason, wait)
        _check_spread(cur, limits, keys)
    except TooManyAttempts:
        cur.execute("DELETE FROM login_attempts WHERE id = %s", (attempt_id,))
        raise
    return Attempt(conn, attempt_id, user_key, client_key)


def _wait_seconds(cur: psycopg.Cursor[Any], where: str, window: Window, failures_only: bool,
                  keys: dict[str, Any]) -> int | None:
    """Seconds until an attempt would be allowed; None if allowed now."""
    query = _WAIT.format(keys=where, outcome=_FAILED if failures_only else "TRUE")
    row = cur.execute(query.encode(), {**keys, "seconds": window.seconds,
                                       "offset": window.limit - 1}).fetchone()
    if row is None:
        return None
    return max(1, math.ceil(float(row[0])))


def _check_spread(cur: psycopg.Cursor[Any], limits: LoginLimits, keys: dict[str, Any]) -> None:
    """The per-username backoff: slows an address, never locks the account."""
    backoff = limits.per_user
    if cur.execute(_KNOWN_GOOD, {**keys, "seconds": limits.known_good_seconds}).fetchone():
        return
    row = cur.execute(_SPREAD, {**keys, "seconds": backoff.seconds}).fetchone()
    assert row is not None
    failures, since_mine = int(row[0]), row[1]
    delay = backoff.delay(failures)
    if delay <= 0 or since_mine is None or float(since_mine) >= delay:
        return
    raise TooManyAttempts("many failed logins for this username recently; attempts from "
                          "a new address are slowed down",
                          max(1, math.ceil(delay - float(since_mine))))
