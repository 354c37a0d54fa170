-- Core model: regions, grids, people, places, devices, zones, time series,
-- dead letters, alerts, tasks and their append-only events.
-- Released migrations are never edited; add a new file instead.

CREATE TABLE regions (
    id          text PRIMARY KEY,
    parent_id   text REFERENCES regions (id),
    level       text NOT NULL CHECK (level IN ('city', 'district', 'street', 'community')),
    name        text NOT NULL,
    -- Dotted ancestry ("C01.D02.S05"): a centre's scope is a prefix match.
    path        text NOT NULL UNIQUE
);

CREATE TABLE grids (
    code        text PRIMARY KEY,
    region_id   text NOT NULL REFERENCES regions (id),
    name        text NOT NULL,
    boundary    jsonb NOT NULL,           -- GeoJSON Polygon, lon/lat (WGS 84)
    min_lon     double precision NOT NULL,
    min_lat     double precision NOT NULL,
    max_lon     double precision NOT NULL,
    max_lat     double precision NOT NULL
);
CREATE INDEX grids_region_idx ON grids (region_id);

CREATE TABLE people (
    id            text PRIMARY KEY,
    username      text NOT NULL UNIQUE,
    display_name  text NOT NULL,
    role          text NOT NULL CHECK (role IN ('admin', 'operator', 'worker', 'integrator', 'viewer')),
    region_id     text REFERENCES regions (id),
    phone         text,
    password_hash text NOT NULL,
    active        boolean NOT NULL DEFAULT true,
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE grid_members (
    grid_code   text NOT NULL REFERENCES grids (code),
    person_id   text NOT NULL REFERENCES people (id),
    duty        text NOT NULL CHECK (duty IN ('worker', 'leader')),
    on_duty     boolean NOT NULL DEFAULT true,
    PRIMARY KEY (grid_code, person_id)
);
CREATE INDEX grid_members_person_idx ON grid_members (person_id);

CREATE TABLE places (
    id          text PRIMARY KEY,
    name        text NOT NULL,
    kind        text NOT NULL,
    grid_code   text NOT NULL REFERENCES grids (code),
    lon         double precision NOT NULL,
    lat         double precision NOT NULL
);

CREATE TABLE devices (
    id          text PRIMARY KEY,
    kind        text NOT NULL CHECK (kind IN ('camera', 'sensor')),
    name        text NOT NULL,
    place_id    text REFERENCES places (id),
    grid_code   text REFERENCES grids (code),
    source      text NOT NULL DEFAULT 'sharpeyes',
    lon         double precision,
    lat         double precision,
    stream_url  text,
    registered  text NOT NULL DEFAULT 'manual' CHECK (registered IN ('manual', 'auto')),
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE device_status (
    device_id   text PRIMARY KEY REFERENCES devices (id),
    state       text NOT NULL CHECK (state IN ('online', 'offline', 'lost')),
    changed_at  timestamptz NOT NULL,
    last_seen   timestamptz NOT NULL,
    detail      text
);

CREATE TABLE zones (
    id               text PRIMARY KEY,
    device_id        text NOT NULL REFERENCES devices (id),
    place_id         text REFERENCES places (id),
    grid_code        text NOT NULL REFERENCES grids (code),
    name             text NOT NULL,
    area_m2          double precision NOT NULL CHECK (area_m2 > 0),
    warn_density     double precision NOT NULL DEFAULT 2.5 CHECK (warn_density > 0),
    critical_density double precision NOT NULL DEFAULT 4.0 CHECK (critical_density > 0),
    polygon          jsonb                 -- image coordinates, for the video analyser
);
CREATE INDEX zones_device_idx ON zones (device_id);

-- Time series. The unique index is both the idempotency key (a redelivered
-- message carries the same device, sequence and time) and the zone/time index.
CREATE TABLE crowd_observations (
    time        timestamptz NOT NULL,
    zone_id     text NOT NULL,
    device_id   text NOT NULL,
    seq         bigint NOT NULL,
    count       double precision NOT NULL CHECK (count >= 0),
    density     double precision NOT NULL CHECK (density >= 0),
    confidence  real,
    received_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX crowd_observations_key ON crowd_observations (zone_id, time, device_id, seq);

CREATE TABLE sensor_readings (
    time        timestamptz NOT NULL,
    device_id   text NOT NULL,
    seq         bigint NOT NULL,
    metric      text NOT NULL,
    value       double precision NOT NULL,
    unit        text,
    received_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX sensor_readings_key ON sensor_readings (device_id, metric, time, seq);

-- Latest report per zone, kept by ingest: the hotspot list and the alert
-- evaluator read this instead of scanning the series.
CREATE TABLE zone_current (
    zone_id     text PRIMARY KEY REFERENCES zones (id),
    time        timestamptz NOT NULL,
    count       double precision NOT NULL,
    density     double precision NOT NULL,
    device_id   text NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE dead_letters (
    id          bigserial PRIMARY KEY,
    received_at timestamptz NOT NULL DEFAULT now(),
    topic       text NOT NULL,
    payload     bytea NOT NULL,
    reason      text NOT NULL,
    error_kind  text NOT NULL,
    replayed_at timestamptz
);
CREATE INDEX dead_letters_received_idx ON dead_letters (received_at DESC);

-- Per-process counters written in the same transaction as the data they count,
-- so /metrics agrees with the store whichever process serves it.
CREATE TABLE service_counters (
    instance    text NOT NULL,
    name        text NOT NULL,
    value       bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (instance, name)
);

CREATE TABLE alert_rules (
    id              bigserial PRIMARY KEY,
    name            text NOT NULL,
    kind            text NOT NULL CHECK (kind IN ('density_above')),
    zone_id         text REFERENCES zones (id),   -- NULL: every zone
    -- NULL thresholds: each zone's own (fire at critical_density, clear below warn_density).
    threshold       double precision CHECK (threshold > 0),
    clear_threshold double precision CHECK (clear_threshold > 0),
    for_seconds     double precision NOT NULL DEFAULT 0 CHECK (for_seconds >= 0),
    severity        text NOT NULL DEFAULT 'major' CHECK (severity IN ('minor', 'major', 'critical')),
    enabled         boolean NOT NULL DEFAULT true,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (clear_threshold <= threshold),
    CHECK ((threshold IS NULL) = (clear_threshold IS NULL))
);

CREATE TABLE alerts (
    id              bigserial PRIMARY KEY,
    rule_id         bigint NOT NULL REFERENCES alert_rules (id),
    zone_id         text NOT NULL REFERENCES zones (id),
    fingerprint     text NOT NULL,
    state           text NOT NULL CHECK (state IN ('pending', 'firing', 'resolved')),
    severity        text NOT NULL,
    value           double precision NOT NULL,
    pending_since   timestamptz NOT NULL,
    fired_at        timestamptz,
    resolved_at     timestamptz,
    acknowledged_at timestamptz,
    acknowledged_by text REFERENCES people (id),
    dispatched_at   timestamptz
);
-- One active alert per rule and scope.
CREATE UNIQUE INDEX alerts_one_active ON alerts (fingerprint) WHERE state IN ('pending', 'firing');
CREATE INDEX alerts_undispatched ON alerts (id) WHERE state = 'firing' AND dispatched_at IS NULL;

CREATE TABLE tasks (
    id            bigserial PRIMARY KEY,
    alert_id      bigint UNIQUE REFERENCES alerts (id),
    zone_id       text REFERENCES zones (id),
    grid_code     text NOT NULL REFERENCES grids (code),
    category      text NOT NULL,
    severity      text NOT NULL,
    title         text NOT NULL,
    state         text NOT NULL CHECK (state IN ('reported', 'dispatched', 'handling',
                                        'follow_up', 'closed', 'rejected', 'merged', 'cancelled')),
    discovered_by text NOT NULL,          -- "camera:CAM-1", "worker:P-3", ...
    assignee_id   text REFERENCES people (id),
    tier          text NOT NULL DEFAULT 'street' CHECK (tier IN ('street', 'district', 'city')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    closed_at     timestamptz,
    rating        smallint CHECK (rating BETWEEN 1 AND 5)
);
CREATE INDEX tasks_open_idx ON tasks (state) WHERE state NOT IN ('closed', 'merged', 'cancelled');
CREATE INDEX tasks_assignee_idx ON tasks (assignee_id);
CREATE INDEX tasks_zone_open_idx ON tasks (zone_id) WHERE state NOT IN ('closed', 'merged', 'cancelled');

-- Alerts merged into an already open task for the same place point at it.
ALTER TABLE alerts ADD COLUMN task_id bigint REFERENCES tasks (id);

CREATE TABLE task_events (
    id          bigserial PRIMARY KEY,
    task_id     bigint NOT NULL REFERENCES tasks (id),
    at          timestamptz NOT NULL DEFAULT clock_timestamp(),
    actor       text NOT NULL,
    action      text NOT NULL,
    from_state  text,
    to_state    text NOT NULL,
    note        text,
    evidence    jsonb
);
CREATE INDEX task_events_task_idx ON task_events (task_id, id);

CREATE FUNCTION forbid_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
END $$;
CREATE TRIGGER task_events_append_only BEFORE UPDATE OR DELETE ON task_events
    FOR EACH ROW EXECUTE FUNCTION forbid_change();
