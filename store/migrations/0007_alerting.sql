-- Alerting (issue 7): more rule kinds, scopes, schedules and sensitive periods; alerts
-- about devices and places as well as zones; silences; acknowledgement; the alert
-- event log (the dashboard's live stream) and the notification outbox.
-- Released migrations are never edited; add a new file instead.

-- Rules: kind-specific parameters, scope, timing, routing ---------------------------------
ALTER TABLE alert_rules
    DROP CONSTRAINT alert_rules_kind_check,
    DROP CONSTRAINT alert_rules_check,            -- clear <= threshold: not for "below" rules
    DROP CONSTRAINT alert_rules_check1,           -- thresholds now default separately
    DROP CONSTRAINT alert_rules_threshold_check,  -- a sensor may alert below zero
    DROP CONSTRAINT alert_rules_clear_threshold_check,
    ADD CONSTRAINT alert_rules_kind_check CHECK (kind IN (
        'density_above', 'count_above', 'rate_of_rise', 'forecast_breach', 'sensor_threshold',
        'device_offline', 'stale_data', 'camera_tamper', 'composite')),
    -- NULL severity: from the density level (contracts.levels), else the kind's default.
    ALTER COLUMN severity DROP NOT NULL,
    ALTER COLUMN severity DROP DEFAULT,
    ADD COLUMN place_kind text,                          -- scope: places.kind
    ADD COLUMN region_id text REFERENCES regions (id),   -- scope: this region's subtree
    ADD COLUMN device_id text REFERENCES devices (id),   -- scope: one device
    ADD COLUMN params jsonb NOT NULL DEFAULT '{}',       -- per kind, see docs/alerts.md
    ADD COLUMN schedule jsonb,                           -- NULL: always active
    ADD COLUMN clear_for_seconds double precision NOT NULL DEFAULT 0
        CHECK (clear_for_seconds >= 0),
    ADD COLUMN cooldown_seconds double precision NOT NULL DEFAULT 60
        CHECK (cooldown_seconds >= 0),
    ADD COLUMN repeat_seconds double precision CHECK (repeat_seconds > 0),
    ADD COLUMN channels text[] NOT NULL DEFAULT '{task,webhook,mqtt}'
        CHECK (channels <@ '{task,webhook,mqtt}'),
    ADD COLUMN created_by text REFERENCES people (id),
    ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN deleted_at timestamptz;                   -- soft delete: alerts keep their rule

-- Rules created before this migration got 'major' from the old column default.
UPDATE alert_rules SET severity = NULL WHERE severity = 'major';
UPDATE alert_rules r SET name = r.name || ' #' || r.id
WHERE r.id <> (SELECT min(o.id) FROM alert_rules o WHERE lower(o.name) = lower(r.name));
CREATE UNIQUE INDEX alert_rules_name_key ON alert_rules (lower(name)) WHERE deleted_at IS NULL;

-- Sensitive periods (major events, holidays) with their own thresholds ---------------------
CREATE TABLE alert_periods (
    id              bigserial PRIMARY KEY,
    name            text NOT NULL,
    starts_at       timestamptz NOT NULL,
    ends_at         timestamptz NOT NULL,
    rule_id         bigint REFERENCES alert_rules (id),  -- NULL: every threshold rule in scope
    zone_id         text REFERENCES zones (id),
    place_kind      text,
    region_id       text REFERENCES regions (id),
    factor          double precision CHECK (factor > 0), -- multiplies the rule's thresholds
    threshold       double precision,                    -- or replaces them (one rule only)
    clear_threshold double precision,
    created_by      text REFERENCES people (id),
    created_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (ends_at > starts_at),
    CHECK ((factor IS NULL) <> (threshold IS NULL)),
    CHECK ((threshold IS NULL) = (clear_threshold IS NULL)),
    CHECK (threshold IS NULL OR rule_id IS NOT NULL)
);
CREATE INDEX alert_periods_ends_idx ON alert_periods (ends_at);

-- Silences and maintenance windows: alerts are recorded, not notified or dispatched -------
CREATE TABLE alert_silences (
    id          bigserial PRIMARY KEY,
    kind        text NOT NULL DEFAULT 'silence' CHECK (kind IN ('silence', 'maintenance')),
    rule_id     bigint REFERENCES alert_rules (id),
    zone_id     text REFERENCES zones (id),
    device_id   text REFERENCES devices (id),
    place_kind  text,
    region_id   text REFERENCES regions (id),
    starts_at   timestamptz NOT NULL,
    ends_at     timestamptz NOT NULL,
    reason      text NOT NULL CHECK (btrim(reason) <> ''),
    created_by  text NOT NULL REFERENCES people (id),
    created_at  timestamptz NOT NULL DEFAULT now(),
    expired_at  timestamptz,                 -- ended early by a person
    expired_by  text REFERENCES people (id),
    CHECK (ends_at > starts_at),
    CHECK (num_nonnulls(rule_id, zone_id, device_id, place_kind, region_id) > 0)
);
CREATE INDEX alert_silences_ends_idx ON alert_silences (ends_at);

-- Alerts: subjects beyond zones, minimum durations, silences, notification state -----------
ALTER TABLE alerts
    ALTER COLUMN zone_id DROP NOT NULL,
    ADD COLUMN device_id text REFERENCES devices (id),
    ADD COLUMN place_id text REFERENCES places (id),
    ADD COLUMN grid_code text REFERENCES grids (code),  -- where the task goes
    ADD COLUMN subject text,                 -- 'zone:Z-1', 'device:CAM-1', 'place:P-1'
    ADD COLUMN detail text,
    ADD COLUMN clear_since timestamptz,      -- firing, but below the clear threshold since
    ADD COLUMN silence_id bigint REFERENCES alert_silences (id),
    ADD COLUMN notified_at timestamptz,      -- first firing notification
    ADD COLUMN last_notified_at timestamptz,
    ADD COLUMN notify_count integer NOT NULL DEFAULT 0,
    ADD COLUMN resolve_notified boolean NOT NULL DEFAULT false,
    ADD COLUMN ack_note text,
    ADD CONSTRAINT alerts_subject_check CHECK (num_nonnulls(zone_id, device_id, place_id) > 0);

UPDATE alerts a SET grid_code = z.grid_code, place_id = z.place_id, subject = 'zone:' || z.id
FROM zones z WHERE z.id = a.zone_id;
-- Alerts from before this migration were handled by the dispatcher alone: never re-notify.
UPDATE alerts SET notified_at = COALESCE(fired_at, pending_since),
                  last_notified_at = COALESCE(fired_at, pending_since), resolve_notified = true
WHERE fired_at IS NOT NULL;

CREATE INDEX alerts_recently_resolved ON alerts (resolved_at)
    WHERE state = 'resolved' AND fired_at IS NOT NULL;
CREATE INDEX alerts_resolve_unnotified ON alerts (id)
    WHERE state = 'resolved' AND notified_at IS NOT NULL AND NOT resolve_notified;
CREATE INDEX alerts_subject_idx ON alerts (subject);

-- Webhook subscriptions ----------------------------------------------------------------------
CREATE TABLE alert_webhooks (
    id           bigserial PRIMARY KEY,
    name         text NOT NULL,
    url          text NOT NULL CHECK (url ~ '^https?://'),
    secret       text NOT NULL CHECK (length(secret) >= 16),   -- HMAC-SHA256 key
    region_id    text REFERENCES regions (id),                 -- NULL: every region
    min_severity text NOT NULL DEFAULT 'minor'
        CHECK (min_severity IN ('minor', 'major', 'critical')),
    enabled      boolean NOT NULL DEFAULT true,
    created_by   text REFERENCES people (id),
    created_at   timestamptz NOT NULL DEFAULT now(),
    deleted_at   timestamptz
);

-- The alert event log: the dashboard's live stream and the source of every notification.
CREATE TABLE alert_events (
    id          bigserial PRIMARY KEY,
    alert_id    bigint NOT NULL REFERENCES alerts (id),
    kind        text NOT NULL CHECK (kind IN ('firing', 'repeat', 'resolved', 'acknowledged')),
    at          timestamptz NOT NULL,
    grid_code   text,
    region_path text,
    payload     jsonb NOT NULL
);
CREATE INDEX alert_events_alert_idx ON alert_events (alert_id);
CREATE TRIGGER alert_events_append_only BEFORE UPDATE OR DELETE ON alert_events
    FOR EACH ROW EXECUTE FUNCTION forbid_change();

-- The outbox: one row per event and destination, written with the event, retried with
-- back-off until delivered (a crash between commit and send loses nothing).
CREATE TABLE alert_deliveries (
    id              bigserial PRIMARY KEY,
    event_id        bigint NOT NULL REFERENCES alert_events (id),
    channel         text NOT NULL CHECK (channel IN ('webhook', 'mqtt')),
    webhook_id      bigint REFERENCES alert_webhooks (id),
    region_id       text,                    -- mqtt: <prefix>/v1/alerts/<region_id>
    state           text NOT NULL DEFAULT 'pending'
        CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    leased_until    timestamptz,
    delivered_at    timestamptz,
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CHECK ((channel = 'webhook') = (webhook_id IS NOT NULL)),
    CHECK ((channel = 'mqtt') = (region_id IS NOT NULL))
);
CREATE INDEX alert_deliveries_due_idx ON alert_deliveries (next_attempt_at)
    WHERE state = 'pending';
CREATE INDEX alert_deliveries_event_idx ON alert_deliveries (event_id);

-- Wake the evaluator when its inputs change (it also runs on a timer).
CREATE FUNCTION notify_alert_inputs() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('sharpeyes_alert_inputs', TG_TABLE_NAME);
    RETURN NULL;
END $$;
CREATE TRIGGER zone_current_wakes_alerts AFTER INSERT OR UPDATE ON zone_current
    FOR EACH STATEMENT EXECUTE FUNCTION notify_alert_inputs();
CREATE TRIGGER sensor_current_wakes_alerts AFTER INSERT OR UPDATE ON sensor_current
    FOR EACH STATEMENT EXECUTE FUNCTION notify_alert_inputs();
CREATE TRIGGER device_status_wakes_alerts AFTER INSERT OR UPDATE ON device_status
    FOR EACH STATEMENT EXECUTE FUNCTION notify_alert_inputs();
