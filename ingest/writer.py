"""Write one batch of decoded messages in one transaction (binary COPY + upserts).

Rows are COPYed into a temporary staging table and moved with
``INSERT ... ON CONFLICT DO NOTHING``, so a redelivered message adds nothing; a message
with the key of a stored one (device, seq, time) but other values is a *conflict* and
goes to dead letters instead of vanishing. Dead letters and the ingest counters commit
in the same transaction as the data.

A batch the database refuses (a value it cannot store) is split in halves until the
refusing message is alone; that one is dead-lettered with the database's reason and
the rest commit, so one poison message never wedges ingest. A lost connection is not
split: the batch is retried whole. The "current" tables take a report's time clamped
to the commit time, so a report from a fast clock cannot hide the ones after it.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg

from ingest.adapters import Adapter, AdapterError, find_adapter
from ingest.decode import Decoder
from ingest.records import (
    Accepted,
    DeadLetter,
    Decoded,
    ObservationRow,
    ReadingRow,
    RejectKind,
    StatusUpdate,
)
from ingest.redact import redact

log = logging.getLogger(__name__)

_STAGING = """
CREATE TEMP TABLE IF NOT EXISTS obs_stage (
    time timestamptz, zone_id text, device_id text, seq bigint,
    count double precision, density double precision, confidence real, msg int
) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS reading_stage (
    time timestamptz, device_id text, seq bigint, metric text,
    value double precision, unit text, msg int
) ON COMMIT DELETE ROWS;
"""

_OBS_CONFLICTS = """
SELECT DISTINCT s.msg, o.count, o.density FROM obs_stage s
JOIN crowd_observations o USING (zone_id, time, device_id, seq)
WHERE (o.count, o.density) IS DISTINCT FROM (s.count, s.density)
"""

_READING_CONFLICTS = """
SELECT DISTINCT s.msg, r.value, r.unit FROM reading_stage s
JOIN sensor_readings r USING (device_id, metric, time, seq)
WHERE (r.value, r.unit) IS DISTINCT FROM (s.value, s.unit)
"""

_MOVE_OBSERVATIONS = """
INSERT INTO crowd_observations (time, zone_id, device_id, seq, count, density, confidence)
SELECT time, zone_id, device_id, seq, count, density, confidence FROM obs_stage
ON CONFLICT DO NOTHING
"""

_UPDATE_ZONE_CURRENT = """
INSERT INTO zone_current (zone_id, time, count, density, device_id)
SELECT DISTINCT ON (zone_id) zone_id, LEAST(time, now()), count, density, device_id
FROM obs_stage ORDER BY zone_id, time DESC
ON CONFLICT (zone_id) DO UPDATE
SET time = EXCLUDED.time, count = EXCLUDED.count, density = EXCLUDED.density,
    device_id = EXCLUDED.device_id, updated_at = now()
WHERE zone_current.time <= EXCLUDED.time
"""

_MOVE_READINGS = """
INSERT INTO sensor_readings (time, device_id, seq, metric, value, unit)
SELECT time, device_id, seq, metric, value, unit FROM reading_stage
ON CONFLICT DO NOTHING
"""

_UPDATE_SENSOR_CURRENT = """
INSERT INTO sensor_current (device_id, metric, time, value, unit)
SELECT DISTINCT ON (device_id, metric) device_id, metric, LEAST(time, now()), value, unit
FROM reading_stage ORDER BY device_id, metric, time DESC
ON CONFLICT (device_id, metric) DO UPDATE
SET time = EXCLUDED.time, value = EXCLUDED.value, unit = EXCLUDED.unit, updated_at = now()
WHERE sensor_current.time <= EXCLUDED.time
"""

_SEEN = """
INSERT INTO device_status (device_id, state, changed_at, last_seen)
VALUES (%(device_id)s, 'online', now(), LEAST(%(seen)s::timestamptz, now()))
ON CONFLICT (device_id) DO UPDATE
SET last_seen = GREATEST(device_status.last_seen, EXCLUDED.last_seen),
    changed_at = CASE WHEN device_status.state = 'online' THEN device_status.changed_at
                      ELSE now() END,
    state = 'online'
"""

_STATUS = """
INSERT INTO device_status (device_id, state, changed_at, last_seen, detail)
VALUES (%(device_id)s, %(state)s, LEAST(%(time)s::timestamptz, now()),
        LEAST(%(time)s::timestamptz, now()), %(detail)s)
ON CONFLICT (device_id) DO UPDATE
SET state = EXCLUDED.state, changed_at = EXCLUDED.changed_at, detail = EXCLUDED.detail,
    last_seen = GREATEST(device_status.last_seen, EXCLUDED.last_seen)
"""

_CLAIM_REPLAYS = """
SELECT id, topic, payload FROM dead_letters
WHERE replay_requested_at IS NOT NULL
ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED
"""

_COUNTER = """
INSERT INTO service_counters (instance, name, value) VALUES (%s, %s, %s)
ON CONFLICT (instance, name) DO UPDATE SET value = service_counters.value + EXCLUDED.value
"""


@dataclass(frozen=True, slots=True)
class RawMessage:
    """A message as received, with what is needed to acknowledge it later."""

    topic: str
    payload: bytes
    mid: int = 0
    qos: int = 0
    generation: int = 0
    received_at: datetime | None = None  # vendor messages without a time are stamped with it


@dataclass(frozen=True, slots=True)
class BatchResult:
    messages: int
    rows_written: int
    duplicates: int
    dead_letters: int

    def __add__(self, other: BatchResult) -> BatchResult:
        return BatchResult(self.messages + other.messages,
                           self.rows_written + other.rows_written,
                           self.duplicates + other.duplicates,
                           self.dead_letters + other.dead_letters)


KEPT_PREFIX = 1024   # bytes kept of a payload over the size limit


def _letter_row(letter: DeadLetter, limit: int) -> tuple[Any, ...]:
    """The stored form of a dead letter: redacted, and bounded by ``limit`` bytes (of a
    larger payload a prefix, its size and the sha256 of what was received)."""
    raw = letter.payload
    if len(raw) > limit:
        return (letter.topic, raw[:KEPT_PREFIX], letter.reason, letter.kind.value, len(raw),
                hashlib.sha256(raw).hexdigest(), True, False)
    kept, redacted = redact(raw)
    return (letter.topic, kept, letter.reason, letter.kind.value, len(raw),
            hashlib.sha256(kept).hexdigest(), False, redacted)


def _printable(text: str) -> str:
    """Text safe to store whatever it came from (reasons may quote the refused value)."""
    return text.replace("\x00", "\\0").encode("utf-8", "backslashreplace").decode("utf-8")


class BatchWriter:
    """Owns one connection; :meth:`write` commits a whole batch or nothing."""

    def __init__(self, url: str, decoder: Decoder, instance: str,
                 adapters: Sequence[Adapter] = ()) -> None:
        self.url = url
        self.decoder = decoder
        self.instance = instance
        self.adapters = adapters
        self._conn: psycopg.Connection[Any] | None = None

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed or self._conn.broken:
            self._conn = psycopg.connect(self.url, autocommit=True)
            with self._conn.transaction():
                self._conn.execute(_STAGING)
            self.decoder.registry.load(self._conn)
        return self._conn

    def load_registry(self) -> None:
        """Reload the decoder's registry (devices, zones) over this writer's connection;
        a new connection loads it as it opens, so one query serves both."""
        if self._conn is None or self._conn.closed or self._conn.broken:
            self._connection()
        else:
            self.decoder.registry.load(self._conn)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def write(self, batch: Sequence[RawMessage], now: datetime | None = None) -> BatchResult:
        """Decode and commit ``batch``; raise when the database is unreachable (nothing
        committed). A batch it refuses is split until the refused message is isolated."""
        conn = self._connection()
        now = now or datetime.now(UTC)
        try:
            with conn.transaction():
                decoded = [d for m in batch for d in self._decode_message(conn, m, now)]
                return self._commit(conn, decoded, messages=len(batch))
        except (psycopg.Error, UnicodeError) as exc:
            if conn.broken or conn.closed:
                self._conn = None
                raise
            if isinstance(exc, psycopg.OperationalError):
                raise
            if len(batch) == 1:
                return self._refused(conn, batch[0], exc)
            log.warning("batch of %d refused (%s); splitting it", len(batch), exc)
            half = len(batch) // 2
            return self.write(batch[:half], now) + self.write(batch[half:], now)

    def _refused(self, conn: psycopg.Connection[Any], message: RawMessage,
                 exc: Exception) -> BatchResult:
        """The one message the database refused, dead-lettered with its reason."""
        diag = getattr(exc, "diag", None)
        reason = getattr(diag, "message_primary", None) or str(exc)
        letter = DeadLetter(_printable(message.topic), message.payload,
                            _printable(f"the database refused it: {reason}"[:500]),
                            RejectKind.DB_REFUSED)
        with conn.transaction():
            self._dead_letters(conn, [letter])
            self._count(conn, messages=1, dead_letters=1)
        return BatchResult(1, 0, 0, 1)

    def replay_requested(self, limit: int = 500) -> tuple[int, int]:
        """Re-decode dead letters marked for replay; (stored, still refused)."""
        conn = self._connection()
        now = datetime.now(UTC)
        try:
            with conn.transaction():
                letters = conn.execute(_CLAIM_REPLAYS, (limit,)).fetchall()
                if letters:  # a replay follows a fix: see the registry as it is now
                    self.decoder.registry.load(conn)
                decoded = [(lid, self._decode_message(conn, RawMessage(t, bytes(p)), now))
                           for lid, t, p in letters]
                accepted = [d for _, ds in decoded for d in ds if isinstance(d, Accepted)]
                if accepted:
                    stored = sum(1 for _, ds in decoded
                                 if all(isinstance(d, Accepted) for d in ds))
                    self._commit(conn, list(accepted), messages=stored, counted_as="replayed")
                self._settle_replays(conn, decoded)
        except psycopg.Error:
            if conn.broken or conn.closed:
                self._conn = None
            raise
        refused = sum(1 for _, ds in decoded if any(isinstance(d, DeadLetter) for d in ds))
        return len(decoded) - refused, refused

    @staticmethod
    def _settle_replays(conn: psycopg.Connection[Any],
                        decoded: list[tuple[int, list[Decoded]]]) -> None:
        for letter_id, results in decoded:
            refusals = [r for r in results if isinstance(r, DeadLetter)]
            if refusals:
                conn.execute(
                    "UPDATE dead_letters SET replay_requested_at = NULL, last_replay_error = %s,"
                    " replay_attempts = replay_attempts + 1 WHERE id = %s",
                    (refusals[0].reason, letter_id))
            else:
                conn.execute(
                    "UPDATE dead_letters SET replay_requested_at = NULL, replayed_at = now(),"
                    " last_replay_error = NULL, replay_attempts = replay_attempts + 1"
                    " WHERE id = %s", (letter_id,))

    def _decode_message(self, conn: psycopg.Connection[Any], message: RawMessage,
                        now: datetime) -> list[Decoded]:
        """A contract message decodes to one result; a vendor message to one per translation."""
        adapter = find_adapter(self.adapters, message.topic)
        if adapter is None:
            return [self._decode(conn, message.topic, message.payload, now)]
        limit = self.decoder.limits.max_payload_bytes
        if len(message.payload) > limit:
            return [DeadLetter(message.topic, message.payload,
                               f"payload of {len(message.payload)} bytes exceeds {limit}",
                               RejectKind.OVERSIZED)]
        try:
            translated = adapter.translate(message.topic, message.payload,
                                           message.received_at or now)
        except AdapterError as exc:
            return [DeadLetter(message.topic, message.payload, f"{adapter.name}: {exc.reason}",
                               RejectKind.ADAPTER)]
        return [self._decode(conn, topic, payload, now) for topic, payload in translated]

    def _decode(self, conn: psycopg.Connection[Any], topic: str, payload: bytes,
                now: datetime) -> Decoded:
        result = self.decoder.decode(topic, payload, now)
        unknown = {RejectKind.UNKNOWN_DEVICE, RejectKind.UNKNOWN_ZONE}
        if isinstance(result, DeadLetter) and result.kind in unknown:
            if self.decoder.registry.refresh_on_miss(conn):
                result = self.decoder.decode(topic, payload, now)
        return result

    def _commit(self, conn: psycopg.Connection[Any], decoded: list[Decoded], messages: int,
                counted_as: str = "messages") -> BatchResult:
        accepted = [d for d in decoded if isinstance(d, Accepted)]
        dead = [d for d in decoded if isinstance(d, DeadLetter)]
        self._register_new_devices(conn, accepted)
        observations = [(i, o) for i, a in enumerate(accepted) for o in a.observations]
        readings = [(i, r) for i, a in enumerate(accepted) for r in a.readings]
        conflicts: dict[int, str] = {}
        self._stage_observations(conn, observations, conflicts)
        self._stage_readings(conn, readings, conflicts)
        written = self._move(conn, conflicts, bool(observations), bool(readings))
        dead += [DeadLetter(accepted[i].topic, accepted[i].payload, reason, RejectKind.CONFLICT)
                 for i, reason in sorted(conflicts.items())]
        accepted = [a for i, a in enumerate(accepted) if i not in conflicts]
        observations = [(i, o) for i, o in observations if i not in conflicts]
        readings = [(i, r) for i, r in readings if i not in conflicts]
        self._mark_seen(conn, accepted)
        self._apply_statuses(conn, [a.status for a in accepted if a.status is not None])
        self._dead_letters(conn, dead)
        duplicates = len(observations) + len(readings) - written
        self._count(conn, **{counted_as: messages}, rows_written=written,
                    duplicates=duplicates, dead_letters=len(dead))
        return BatchResult(messages, written, duplicates, len(dead))

    def _register_new_devices(
        self, conn: psycopg.Connection[Any], accepted: list[Accepted]
    ) -> None:
        registry = self.decoder.registry
        new = {a.device_id: a.device_kind for a in accepted if a.device_id not in registry.devices}
        for device_id, kind in new.items():
            conn.execute(
                "INSERT INTO devices (id, kind, name, registered) VALUES (%s, %s, %s, 'auto') "
                "ON CONFLICT (id) DO NOTHING",
                (device_id, kind, device_id),
            )
            registry.add_device(device_id, kind)
            log.info("auto-registered %s %s", kind, device_id)

    def _stage_observations(self, conn: psycopg.Connection[Any],
                            rows: list[tuple[int, ObservationRow]],
                            conflicts: dict[int, str]) -> None:
        """COPY into the stage; note the messages that conflict within the batch."""
        if not rows:
            return
        first: dict[tuple[Any, ...], tuple[float, float]] = {}
        with conn.cursor() as cur, cur.copy(
                "COPY obs_stage (time, zone_id, device_id, seq, count, density, confidence, msg)"
                " FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(["timestamptz", "text", "text", "int8", "float8", "float8",
                            "float4", "int4"])
            for i, r in rows:
                key, values = (r.zone_id, r.time, r.device_id, r.seq), (r.count, r.density)
                if first.setdefault(key, values) != values:
                    conflicts[i] = (f"conflict: zone {r.zone_id} seq {r.seq} at "
                                    f"{r.time.isoformat()} came twice with other values")
                copy.write_row((r.time, r.zone_id, r.device_id, r.seq, r.count, r.density,
                                r.confidence, i))
        for i, count, density in conn.execute(_OBS_CONFLICTS).fetchall():
            conflicts[i] = (f"conflict: already stored with count {count:g}, "
                            f"density {density:g} under the same device, seq and time")

    def _stage_readings(self, conn: psycopg.Connection[Any],
                        rows: list[tuple[int, ReadingRow]], conflicts: dict[int, str]) -> None:
        if not rows:
            return
        first: dict[tuple[Any, ...], tuple[float, str | None]] = {}
        with conn.cursor() as cur, cur.copy(
                "COPY reading_stage (time, device_id, seq, metric, value, unit, msg)"
                " FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(["timestamptz", "text", "int8", "text", "float8", "text", "int4"])
            for i, r in rows:
                key, values = (r.device_id, r.metric, r.time, r.seq), (r.value, r.unit)
                if first.setdefault(key, values) != values:
                    conflicts[i] = (f"conflict: {r.metric} seq {r.seq} at "
                                    f"{r.time.isoformat()} came twice with other values")
                copy.write_row((r.time, r.device_id, r.seq, r.metric, r.value, r.unit, i))
        for i, value, unit in conn.execute(_READING_CONFLICTS).fetchall():
            conflicts[i] = (f"conflict: already stored with value {value:g} "
                            f"{unit or ''} under the same device, seq and time")

    @staticmethod
    def _move(conn: psycopg.Connection[Any], conflicts: dict[int, str],
              observations: bool, readings: bool) -> int:
        """Staged rows of non-conflicting messages into the tables; rows inserted."""
        inserted = 0
        with conn.cursor() as cur:
            for staged, wanted, move, current in (
                    ("obs_stage", observations, _MOVE_OBSERVATIONS, _UPDATE_ZONE_CURRENT),
                    ("reading_stage", readings, _MOVE_READINGS, _UPDATE_SENSOR_CURRENT)):
                if not wanted:
                    continue
                if conflicts:
                    cur.execute(f"DELETE FROM {staged} WHERE msg = ANY(%s)", (list(conflicts),))
                cur.execute(move)
                inserted += cur.rowcount
                cur.execute(current)
        return inserted

    @staticmethod
    def _mark_seen(conn: psycopg.Connection[Any], accepted: Iterable[Accepted]) -> None:
        latest: dict[str, datetime] = {}
        for a in accepted:
            if a.seen_at is not None:
                latest[a.device_id] = max(a.seen_at, latest.get(a.device_id, a.seen_at))
        if latest:
            with conn.cursor() as cur:
                cur.executemany(_SEEN, [{"device_id": d, "seen": t} for d, t in latest.items()])

    @staticmethod
    def _apply_statuses(conn: psycopg.Connection[Any], updates: list[StatusUpdate]) -> None:
        last = {u.device_id: u for u in updates}  # in arrival order: the last one wins
        if last:
            with conn.cursor() as cur:
                cur.executemany(_STATUS, [
                    {"device_id": u.device_id, "state": u.state, "time": u.time,
                     "detail": u.detail} for u in last.values()
                ])

    def _dead_letters(self, conn: psycopg.Connection[Any], dead: list[DeadLetter]) -> None:
        if dead:
            limit = self.decoder.limits.max_payload_bytes
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO dead_letters (topic, payload, reason, error_kind, payload_size,"
                    " payload_sha256, payload_truncated, redacted)"
                    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                    [_letter_row(d, limit) for d in dead],
                )
            for d in dead:
                log.warning("dead letter on %s: %s", d.topic, d.reason)

    def _count(self, conn: psycopg.Connection[Any], **counts: int) -> None:
        with conn.cursor() as cur:
            cur.executemany(_COUNTER, [
                (self.instance, f"ingest_{name}_total", value)
                for name, value in counts.items() if value
            ])
