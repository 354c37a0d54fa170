-- Issue 17: the alert evaluator follows what changed. A statement that inserts or updates
-- zone_current announces *which* zones it changed (JSON arrays in chunks under
-- NOTIFY's 8000-byte payload limit), so the evaluator decides those zones at once
-- instead of sweeping every zone. sensor_current and device_status keep their plain
-- table-name notifications.
CREATE FUNCTION notify_zone_changes() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    chunk text;
BEGIN
    FOR chunk IN
        SELECT json_agg(zone_id)::text FROM (
            SELECT zone_id,
                   sum(octet_length(to_json(zone_id)::text) + 1) OVER (ORDER BY zone_id)
                       / 7000 AS part
            FROM changed_zones) s
        GROUP BY part
    LOOP
        PERFORM pg_notify('sharpeyes_alert_inputs', 'zone_current:' || chunk);
    END LOOP;
    RETURN NULL;
END $$;

DROP TRIGGER zone_current_wakes_alerts ON zone_current;
CREATE TRIGGER zone_current_inserts_wake_alerts AFTER INSERT ON zone_current
    REFERENCING NEW TABLE AS changed_zones
    FOR EACH STATEMENT EXECUTE FUNCTION notify_zone_changes();
CREATE TRIGGER zone_current_updates_wake_alerts AFTER UPDATE ON zone_current
    REFERENCING NEW TABLE AS changed_zones
    FOR EACH STATEMENT EXECUTE FUNCTION notify_zone_changes();
