-- Time-series storage: TimescaleDB hypertables where the extension can be
-- loaded, otherwise BRIN indexes on plain PostgreSQL (queries use date_bin there).
DO $$
DECLARE
    have_timescale boolean := false;
BEGIN
    IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb') THEN
        BEGIN
            CREATE EXTENSION IF NOT EXISTS timescaledb;
            have_timescale := true;
        EXCEPTION WHEN others THEN
            -- Installed but not in shared_preload_libraries: run as plain PostgreSQL.
            RAISE WARNING 'timescaledb is installed but cannot load (%); using plain PostgreSQL', SQLERRM;
        END;
    END IF;
    IF have_timescale THEN
        PERFORM create_hypertable('crowd_observations', 'time',
                                  chunk_time_interval => interval '1 day', migrate_data => true);
        PERFORM create_hypertable('sensor_readings', 'time',
                                  chunk_time_interval => interval '1 day', migrate_data => true);
    ELSE
        CREATE INDEX crowd_observations_time_brin ON crowd_observations USING brin (time);
        CREATE INDEX sensor_readings_time_brin ON sensor_readings USING brin (time);
    END IF;
END $$;
