"""Alerts stage: rules (data) evaluated on a timer against the store, by a single leader.

Alert state (pending since, firing, clearing, resolved, acknowledged, silenced) lives in
the database, so a restart never resets a ``for`` duration and never raises a
duplicate; one active alert per rule and subject is enforced by a unique index on the
fingerprint. Notifications are written to an event log and an outbox in the same
transaction and sent afterwards (webhooks, MQTT); the dispatcher turns firing alerts
into grid tasks. See docs/alerts.md.

    engine      one evaluation cycle          service   leader + timer loop
    decide      the pure state machine        lifecycle writes decisions to ``alerts``
    zone_rules, device_rules, composite       what each rule kind sees (samples)
    scope, trends, forecast, schedule         scopes and periods, fits, time windows
    notify, events, outbox, webhook, stream   who hears about it, and how
    definitions, access, rule_store, silences, periods, subscriptions, ack   the API's side
    bench       ``sharpeyes bench alerts``
"""
