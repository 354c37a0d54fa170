-- Latest reading per sensor and metric, kept by ingest like zone_current, so that
-- sensor rules and dashboards never scan the series.
CREATE TABLE sensor_current (
    device_id   text NOT NULL REFERENCES devices (id),
    metric      text NOT NULL,
    time        timestamptz NOT NULL,
    value       double precision NOT NULL,
    unit        text,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (device_id, metric)
);
