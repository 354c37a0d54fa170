"""Every PostgreSQL advisory lock key the system uses, in one place so none collide."""

MIGRATIONS = 0x5E_0001      # session lock while migrating
ALERTS_LEADER = 0x5E_0002   # held by the alert evaluator leader for its lifetime
SEED = 0x5E_0003            # transaction lock while loading a city
SCHEDULER = 0x5E_0004       # held by the process that runs the periodic jobs
