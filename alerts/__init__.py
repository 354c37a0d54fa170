"""Alerts stage: rules evaluated on a timer against the store, by a single leader.

Alert state (pending since, firing, resolved) lives in the database, so a restart
never resets a ``for`` duration and never raises a duplicate; one active alert per
rule and zone is enforced by a unique index on the fingerprint.
"""
