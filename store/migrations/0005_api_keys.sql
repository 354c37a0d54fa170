-- API keys for integrators and devices: only a SHA-256 of the key is stored; the
-- key itself is shown once at creation. A device key may act only for its device.
CREATE TABLE api_keys (
    id          bigserial PRIMARY KEY,
    name        text NOT NULL,
    prefix      text NOT NULL,                 -- first characters, to recognise a key
    key_hash    text NOT NULL UNIQUE,
    role        text NOT NULL CHECK (role IN ('integrator', 'device')),
    device_id   text REFERENCES devices (id),
    created_by  text REFERENCES people (id),
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz,
    last_used_at timestamptz,
    CHECK ((role = 'device') = (device_id IS NOT NULL))
);
