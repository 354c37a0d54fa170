-- Dashboard rollups of crowd_observations per zone, per minute and per hour, with the
-- columns of store.timeseries.zone_series (bucket, density = mean, peak_density = max,
-- count = mean, samples), plus retention and compression.
--
-- TimescaleDB: zone_rollup_1m is a continuous aggregate of crowd_observations and
-- zone_rollup_1h a continuous aggregate of zone_rollup_1m (hierarchical, so the hourly
-- rollup outlives the minute one); both answer in real time (recent raw rows included).
-- Plain PostgreSQL: the same names are tables that store.rollups.refresh_rollups keeps
-- (a leader-only scheduled job). Windows are not fixed here, since a migration cannot
-- read configuration: store.rollups.apply_policies writes them to rollup_settings and
-- (on TimescaleDB) turns them into refresh, compression and retention policies.
-- Released migrations are never edited; add a new file instead.

-- One row: the windows in force and, on plain PostgreSQL, the refresh watermark.
CREATE TABLE rollup_settings (
    id                  boolean PRIMARY KEY DEFAULT true CHECK (id),
    raw_days            integer NOT NULL DEFAULT 30 CHECK (raw_days > 0),
    minute_days         integer NOT NULL DEFAULT 90 CHECK (minute_days > 0),
    hour_days           integer NOT NULL DEFAULT 730 CHECK (hour_days > 0),
    -- Chunks older than this are compressed (TimescaleDB); also how far back late
    -- reports are re-aggregated, so keep it above the ingest's maximum report age.
    compress_after_days integer NOT NULL DEFAULT 8 CHECK (compress_after_days > 0),
    -- Plain PostgreSQL: received_at up to which raw rows have been rolled up.
    refreshed_until     timestamptz,
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CHECK (raw_days > compress_after_days),
    CHECK (minute_days > compress_after_days + 1),
    CHECK (hour_days >= minute_days)
);
INSERT INTO rollup_settings DEFAULT VALUES;

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
        -- WITH NO DATA: materializing here would scan all history inside the migration's
        -- transaction; the refresh policies (or refresh_continuous_aggregate) fill them.
        EXECUTE $sql$
            CREATE MATERIALIZED VIEW zone_rollup_1m
            WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
            SELECT time_bucket(interval '1 minute', time) AS bucket, zone_id,
                   avg(density) AS density, max(density) AS peak_density,
                   avg(count) AS count, count(*) AS samples
              FROM crowd_observations
             GROUP BY 1, 2
            WITH NO DATA
        $sql$;
        -- Means of means weighted by samples equal the mean over the raw rows.
        EXECUTE $sql$
            CREATE MATERIALIZED VIEW zone_rollup_1h
            WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
            SELECT time_bucket(interval '1 hour', bucket) AS bucket, zone_id,
                   sum(density * samples) / sum(samples) AS density,
                   max(peak_density) AS peak_density,
                   sum(count * samples) / sum(samples) AS count,
                   sum(samples)::bigint AS samples
              FROM zone_rollup_1m
             GROUP BY 1, 2
            WITH NO DATA
        $sql$;
        -- (TimescaleDB indexes each aggregate on (zone_id, bucket) by itself.)
        -- Compressed chunks group rows by series; the unique keys' columns are all in
        -- segmentby/orderby, so redelivered rows are still refused after compression.
        ALTER TABLE crowd_observations SET (
            timescaledb.compress,
            timescaledb.compress_segmentby = 'zone_id',
            timescaledb.compress_orderby = 'time DESC, device_id, seq');
        ALTER TABLE sensor_readings SET (
            timescaledb.compress,
            timescaledb.compress_segmentby = 'device_id, metric',
            timescaledb.compress_orderby = 'time DESC, seq');
        ALTER MATERIALIZED VIEW zone_rollup_1m SET (timescaledb.compress = true);
    ELSE
        CREATE TABLE zone_rollup_1m (
            bucket       timestamptz NOT NULL,
            zone_id      text NOT NULL,
            density      double precision NOT NULL,
            peak_density double precision NOT NULL,
            count        double precision NOT NULL,
            samples      bigint NOT NULL,
            PRIMARY KEY (zone_id, bucket)
        );
        CREATE TABLE zone_rollup_1h (LIKE zone_rollup_1m INCLUDING ALL);
        -- Retention deletes by bucket; rows arrive in time order, so BRIN suffices.
        CREATE INDEX zone_rollup_1m_bucket_brin ON zone_rollup_1m USING brin (bucket);
        CREATE INDEX zone_rollup_1h_bucket_brin ON zone_rollup_1h USING brin (bucket);
        -- refresh_rollups finds what changed by arrival time (late reports included):
        -- BRIN costs ingest almost nothing, and received_at follows the physical order.
        CREATE INDEX crowd_observations_received_brin ON crowd_observations
            USING brin (received_at);
    END IF;
END $$;
