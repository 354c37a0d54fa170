"""API keys: creation (shown once), hashing, resolving a presented key, and what it covers.

A device key acts for its one device. An integrator key acts for the devices registered
in the region subtree it was issued for (:func:`grid.visibility.in_subtree`); a key of
the city's root region, or one issued before keys had regions, acts city-wide, also for
devices not registered yet (``SHARPEYES_UNKNOWN_DEVICES=auto_register``).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.rows import tuple_row

from grid.visibility import in_subtree

KEY_PREFIX = "se_"


@dataclass(frozen=True, slots=True)
class ApiKeyHolder:
    key_id: int
    name: str
    role: str                      # integrator | device
    device_id: str | None = None   # a device key acts only for this device
    region_path: str | None = None  # an integrator key: its region's path
    city_wide: bool = False        # an integrator key of the root region, or unscoped

    def may_act_for(self, device_id: str, device_path: str | None,
                    registered: bool) -> bool:
        """Whether this key may report for ``device_id``, registered (or not) in the
        region ``device_path`` (None: no grid)."""
        if self.role == "device":
            return self.device_id == device_id
        if self.city_wide:
            return True
        return registered and self.region_path is not None and in_subtree(
            device_path, self.region_path)


def hash_key(key: str) -> str:
    # Keys are 256-bit random, so a fast hash is enough (no dictionary to attack).
    return hashlib.sha256(key.encode()).hexdigest()


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


_RESOLVE = """
UPDATE api_keys k SET last_used_at = now()
FROM (SELECT k2.id, r.path, r.parent_id IS NULL AS root FROM api_keys k2
      LEFT JOIN regions r ON r.id = k2.region_id WHERE k2.key_hash = %s) s
WHERE k.id = s.id AND k.revoked_at IS NULL
RETURNING k.id, k.name, k.role, k.device_id, k.region_id, s.path, s.root
"""


def resolve_key(conn: psycopg.Connection[Any], key: str) -> ApiKeyHolder | None:
    row = conn.cursor(row_factory=tuple_row).execute(_RESOLVE, (hash_key(key),)).fetchone()
    if row is None:
        return None
    key_id, name, role, device_id, region_id, path, root = row
    city_wide = role == "integrator" and (region_id is None or bool(root))
    return ApiKeyHolder(int(key_id), str(name), str(role), device_id, path, city_wide)


_DEVICE_PATHS = """
SELECT d.id, r.path FROM devices d LEFT JOIN places p ON p.id = d.place_id
LEFT JOIN grids g ON g.code = COALESCE(d.grid_code, p.grid_code)
LEFT JOIN regions r ON r.id = g.region_id
WHERE d.id = ANY(%s)
"""


def refused_devices(conn: psycopg.Connection[Any], holder: ApiKeyHolder,
                    device_ids: Iterable[str]) -> list[str]:
    """The devices among ``device_ids`` that ``holder`` may not report for, in order. A
    device outside the key's region and one that does not exist are refused alike."""
    wanted = list(dict.fromkeys(device_ids))
    paths: dict[str, str | None] = {}
    if holder.role == "integrator" and not holder.city_wide:
        rows = conn.cursor(row_factory=tuple_row).execute(_DEVICE_PATHS, (wanted,))
        paths = {str(device): path for device, path in rows}
    return [d for d in wanted
            if not holder.may_act_for(d, paths.get(d), d in paths)]
