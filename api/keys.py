"""API keys: creation (shown once), hashing, and resolving a presented key."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.rows import tuple_row

KEY_PREFIX = "se_"


@dataclass(frozen=True, slots=True)
class ApiKeyHolder:
    key_id: int
    name: str
    role: str                 # integrator | device
    device_id: str | None     # a device key acts only for this device

    def may_act_for(self, device_id: str) -> bool:
        return self.role == "integrator" or self.device_id == device_id


def hash_key(key: str) -> str:
    # Keys are 256-bit random, so a fast hash is enough (no dictionary to attack).
    return hashlib.sha256(key.encode()).hexdigest()


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def resolve_key(conn: psycopg.Connection[Any], key: str) -> ApiKeyHolder | None:
    row = conn.cursor(row_factory=tuple_row).execute(
        "UPDATE api_keys SET last_used_at = now() WHERE key_hash = %s AND revoked_at IS NULL"
        " RETURNING id, name, role, device_id", (hash_key(key),)).fetchone()
    if row is None:
        return None
    key_id, name, role, device_id = row
    return ApiKeyHolder(int(key_id), str(name), str(role), device_id)
