"""Which package writes each table: one owner per table, the others read it.

The store owns the schema (``store/migrations``) and says here who may change the rows of
each table, so that a change to a table has one place to look. Other packages read what
they need and ask the owner to write (``tests/kernel/test_table_ownership.py`` scans
every ``INSERT``, ``UPDATE``, ``DELETE`` and ``COPY`` in the code against this map, and
the README's table is checked against it too).

:data:`SHARED_WRITES` lists, with the reason, the writes outside their owner that are
known and not yet moved; the test fails both on a new one and on one that has gone.
"""

from __future__ import annotations

from types import MappingProxyType

# Reference data (the city): written by the importer, the one loader of the grid model.
_CITY = ("regions", "grids", "people", "grid_members", "places", "zones", "devices")

TABLE_OWNERS = MappingProxyType({
    **dict.fromkeys(_CITY, "store"),
    "schema_migrations": "store", "rollup_settings": "store", "zone_rollup_1m": "store",
    "zone_rollup_1h": "store",
    "crowd_observations": "ingest", "sensor_readings": "ingest", "zone_current": "ingest",
    "sensor_current": "ingest", "device_status": "ingest", "dead_letters": "ingest",
    "service_counters": "ingest",
    "alerts": "alerts", "alert_rules": "alerts", "alert_events": "alerts",
    "alert_deliveries": "alerts", "alert_periods": "alerts", "alert_silences": "alerts",
    "alert_webhooks": "alerts",
    "tasks": "grid", "task_events": "grid", "task_feedback": "grid",
    "task_escalations": "grid", "task_photos": "grid",
    "task_deadlines": "api", "api_keys": "api", "audit_log": "api",
    "login_attempts": "api", "worker_presence": "api",
    "video_heatmaps": "video",
})

# (table, module) → why it still writes there. Shrink this; never grow it quietly.
SHARED_WRITES = MappingProxyType({
    ("alerts", "grid.dispatch"): "the dispatcher marks the alert it turned into a task "
        "(dispatched_at, task_id); the hand-over wants an alerts-owned claim table",
    ("dead_letters", "api.routes.dead_letters"): "an operator's replay and dismissal",
    ("task_photos", "api.routes.tasks"): "the upload route stores the re-encoded photo",
    ("alert_rules", "simulators.seed"): "the sample city's default density rule",
    ("devices", "api.routes.devices"): "operators register, edit and remove devices",
    ("device_status", "api.routes.devices"): "removing a device removes its status",
    ("sensor_current", "api.routes.devices"): "removing a device removes its readings",
    ("devices", "ingest.writer"): "auto-registration of unknown devices (a setting)",
    ("devices", "simulators.video_camera"): "the demo's video camera registers itself",
    ("zones", "api.routes.zones"): "operators draw, edit and remove zones",
    ("zone_current", "api.routes.zones"): "removing a zone removes its current value",
    ("zones", "simulators.video_camera"): "the demo's video camera draws its zones",
})

# The composition root's benches build throw-away databases of their own; they may write
# anything there, and nothing they do reaches a city's database.
UNRESTRICTED = ("sharpeyes.benches",)
