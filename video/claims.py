"""Camera claims: which analyser analyses which camera, through PostgreSQL advisory locks.

Every analyser holds one dedicated autocommit connection; a camera is analysed only by the
session holding its session advisory lock ``(CLAIM_CLASS, crc32(id))`` (the two-int4 form,
so it never collides with the single-bigint keys in ``store.locks``). Each claim round an
analyser locks the unclaimed cameras of its own shard at once, and the cameras of other
shards only once they have stayed unclaimed for ``takeover_after`` seconds (seen free on
consecutive rounds spanning that time; a probe that is not yet overdue is released at
once), so a starting peer claims its own shard first. When an analyser stops, or its
session dies, its locks vanish with the session and its peers take the cameras over.

Each analyser's session also holds a presence lock ``(PRESENCE_CLASS, shard index)``. A
camera taken over is handed back as soon as its own shard's analyser is present again:
the peer stops analysing it and unlocks it, and the owner claims it on its next round (a
gap of at most one claim interval; never two analysers at once).
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import psycopg

CLAIM_CLASS = 0x5E05  # classid of camera claims; objid is the camera's signed CRC-32
PRESENCE_CLASS = 0x5E06  # classid of "the analyser of shard <objid> is running"

_PRESENT = ("SELECT l.objid::int FROM pg_locks l WHERE l.locktype = 'advisory' AND l.granted"
            " AND l.classid = %s AND l.objsubid = 2"
            " AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())")


def claim_key(device_id: str) -> tuple[int, int]:
    """The ``(classid, objid)`` advisory-lock key of a camera, the same in every process."""
    crc = zlib.crc32(device_id.encode())
    return CLAIM_CLASS, crc - (1 << 32) if crc >= 1 << 31 else crc


@dataclass(slots=True)
class ClaimRound:
    claimed: list[str] = field(default_factory=list)   # newly locked: start analysing
    released: list[str] = field(default_factory=list)  # gone, or handed back: stop, unlock


class Claims:
    """The camera locks one analyser's session holds; ``step`` runs one claim round.

    ``release_gone`` is left to the caller (stop the worker first, then unlock), so a
    camera is never analysed without its lock.
    """

    def __init__(self, conn: psycopg.Connection, shard_of: Callable[[str], int],
                 shard_index: int, takeover_after: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.conn = conn
        self.shard_of = shard_of
        self.shard_index = shard_index
        self.takeover_after = takeover_after
        self.clock = clock
        self.held: set[str] = set()
        self._free_since: dict[str, float] = {}
        self._present = False  # whether this session holds its shard's presence lock

    def _try_lock(self, device_id: str) -> bool:
        row = self.conn.execute("SELECT pg_try_advisory_lock(%s, %s)",
                                claim_key(device_id)).fetchone()
        return bool(row and row[0])

    def unlock(self, device_id: str) -> None:
        if device_id in self.held:
            self.held.discard(device_id)
            self.conn.execute("SELECT pg_advisory_unlock(%s, %s)", claim_key(device_id))

    def step(self, camera_ids: Iterable[str]) -> ClaimRound:
        """One claim round over the registry's cameras (raises ``psycopg.Error`` if the
        session is gone; then every claim is lost)."""
        ids = sorted(set(camera_ids))
        self._announce_presence()
        out = ClaimRound(released=sorted((self.held - set(ids)) | self._owners_back()))
        now = self.clock()
        own = [c for c in ids if self.shard_of(c) == self.shard_index]
        for device_id in own:
            self._free_since.pop(device_id, None)
            if device_id not in self.held and self._try_lock(device_id):
                self.held.add(device_id)
                out.claimed.append(device_id)
        others = [c for c in ids if self.shard_of(c) != self.shard_index and c not in self.held]
        for device_id in others:
            if not self._try_lock(device_id):
                self._free_since.pop(device_id, None)  # claimed by a peer: start over
                continue
            first = self._free_since.setdefault(device_id, now)
            if now - first >= self.takeover_after:
                del self._free_since[device_id]
                self.held.add(device_id)
                out.claimed.append(device_id)
            else:
                self.conn.execute("SELECT pg_advisory_unlock(%s, %s)", claim_key(device_id))
        for device_id in set(self._free_since) - set(ids):
            del self._free_since[device_id]
        return out

    def _announce_presence(self) -> None:
        if not self._present:
            row = self.conn.execute("SELECT pg_try_advisory_lock(%s, %s)",
                                    (PRESENCE_CLASS, self.shard_index)).fetchone()
            # False: another analyser runs with this shard index (a misconfiguration); this
            # one still works, it just cannot be handed cameras back.
            self._present = bool(row and row[0])

    def _owners_back(self) -> set[str]:
        """Cameras taken over whose own shard's analyser is running again."""
        foreign = {c for c in self.held if self.shard_of(c) != self.shard_index}
        if not foreign:
            return set()
        present = {int(r[0]) for r in self.conn.execute(_PRESENT, (PRESENCE_CLASS,))}
        return {c for c in foreign if self.shard_of(c) in present}

    def forget(self) -> None:
        """The session is gone, and every lock with it."""
        self.held.clear()
        self._free_since.clear()
        self._present = False
