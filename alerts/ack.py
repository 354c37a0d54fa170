"""Acknowledgement: a person takes responsibility for a firing alert; repeats stop.

The acknowledgement is an event like any other (stream, webhooks, MQTT), recorded in
the same transaction as the change.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from alerts.errors import Conflict, NotFound
from alerts.events import ALERT_VIEW, announce, emit

Visible = Callable[[Mapping[str, Any]], bool]


def get_alert(cur: psycopg.Cursor[Any], alert_id: int, visible: Visible, *,
              lock: bool = False) -> dict[str, Any]:
    """One alert as the API shows it; NotFound when missing or outside the caller's scope."""
    query = ALERT_VIEW + " WHERE a.id = %s" + (" FOR UPDATE OF a" if lock else "")
    row = cur.execute(query, (alert_id,)).fetchone()
    if row is None or not visible(row):
        raise NotFound(f"alert {alert_id} does not exist or is outside your scope")
    return dict(row)


def acknowledge(conn: psycopg.Connection[Any], alert_id: int, person_id: str,
                note: str | None, visible: Visible) -> dict[str, Any]:
    """Acknowledge a pending or firing alert; return it as it is now."""
    now = datetime.now(UTC)
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        alert = get_alert(cur, alert_id, visible, lock=True)
        if alert["acknowledged_at"] is not None:
            raise Conflict(f"alert {alert_id} was already acknowledged by "
                           f"{alert['acknowledged_by']} at {alert['acknowledged_at']:%H:%M:%S}")
        if alert["state"] == "resolved":
            raise Conflict(f"alert {alert_id} is already resolved; nothing to acknowledge")
        cur.execute("UPDATE alerts SET acknowledged_at = %s, acknowledged_by = %s, ack_note = %s"
                    " WHERE id = %s", (now, person_id, note, alert_id))
        alert = get_alert(cur, alert_id, lambda _row: True)
        announce(cur, emit(cur, alert, "acknowledged", now))
    return alert
