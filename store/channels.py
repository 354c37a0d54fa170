"""Every PostgreSQL LISTEN/NOTIFY channel the system uses, in one place.

A channel joins two stages that must not import each other (the alert evaluator wakes
the dispatcher; ingest's triggers wake the evaluator), so its name belongs to the store
they share, as the advisory lock keys do (:mod:`store.locks`).
"""

ALERT_CHANNEL = "sharpeyes_alerts"            # an alert was announced firing: dispatch it
ALERT_INPUTS_CHANNEL = "sharpeyes_alert_inputs"  # triggers: zone/sensor/device data changed
ALERT_EVENTS_CHANNEL = "sharpeyes_alert_events"  # payload: the newest alert event id
TASKS_CHANNEL = "sharpeyes_tasks"             # trigger of migration 0012: a task changed

ZONE_CHANGES_PREFIX = "zone_current:"
"""Payload prefix of :data:`ALERT_INPUTS_CHANNEL` notifications that list, as a JSON
array after it, the zones one statement changed (migration 0018)."""
