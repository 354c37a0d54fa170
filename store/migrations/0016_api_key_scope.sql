-- API keys are limited to what they were issued for (issue 15): an integrator key acts
-- only for the devices registered in its region's subtree (the city's root region: all
-- devices, registered or not). Integrator keys issued before this have no region and keep
-- acting city-wide; GET /api/v1/api-keys shows them (region_id null) for reissuing.
-- A device key acts only for its device, as before.
ALTER TABLE api_keys ADD COLUMN region_id text REFERENCES regions (id);
ALTER TABLE api_keys ADD CONSTRAINT api_keys_region_only_for_integrators
    CHECK (role = 'integrator' OR region_id IS NULL);
