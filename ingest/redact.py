"""Person-identifying fields of integrators' payloads, removed before anything is stored.

Owns the list of such fields and the redaction of a JSON payload. The system counts
people and never identifies them: a Frigate event carries ``sub_label`` (a recognised
face's name) and ``recognized_license_plate``; other vendors send plates, faces or names.
A dead letter keeps the payload (for replay after a fix), so the payload is redacted
first: the values of these keys, at any depth, become ``"[redacted]"``; counts, zones
and times stay, so a redacted letter still replays.
"""

from __future__ import annotations

import json
from typing import Any

IDENTIFYING = frozenset({
    "sub_label", "recognized_license_plate", "recognized_license_plate_score",
    "license_plate", "plate", "plate_number", "plates", "face", "faces", "face_id",
    "person_name", "identity", "id_card", "id_number", "phone", "phone_number",
})
MARK = "[redacted]"


def _clean(value: Any) -> tuple[Any, bool]:
    if isinstance(value, dict):
        out, changed = {}, False
        for key, item in value.items():
            if isinstance(key, str) and key.lower() in IDENTIFYING and item not in (None, MARK):
                out[key], changed = MARK, True
            else:
                out[key], sub = _clean(item)
                changed = changed or sub
        return out, changed
    if isinstance(value, list):
        items = [_clean(v) for v in value]
        return [v for v, _ in items], any(c for _, c in items)
    return value, False


def redact(payload: bytes) -> tuple[bytes, bool]:
    """``payload`` without identifying values, and whether anything was removed. Bytes that
    are not a JSON document are returned as they are (nothing in them can be found)."""
    try:
        document = json.loads(payload)
    except (ValueError, RecursionError):
        return payload, False
    cleaned, changed = _clean(document)
    if not changed:
        return payload, False
    return json.dumps(cleaned, ensure_ascii=False, separators=(",", ":")).encode(), True
