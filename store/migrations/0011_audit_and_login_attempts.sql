-- API platform (issue 6): the audit log of who changed what, and login attempts for
-- rate limiting shared by every API replica.
-- Released migrations are never edited; add a new file instead.

-- Who changed what: rules, devices, zones, tasks, people, API keys. Written by
-- api.audit.record in the same transaction as the change; append-only.
CREATE TABLE audit_log (
    id          bigserial PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT clock_timestamp(),
    actor       text NOT NULL,        -- 'person:P-1', 'api-key:3', 'system:dispatcher'
    actor_role  text,
    entity      text NOT NULL,        -- 'device', 'zone', 'task', 'rule', 'api_key', ...
    entity_id   text NOT NULL,
    action      text NOT NULL,        -- 'create', 'update', 'delete' or a domain verb
    region_path text,                 -- the entity's region: centres read their subtree
    before      jsonb,
    after       jsonb
);
CREATE INDEX audit_log_entity_idx ON audit_log (entity, entity_id, id);
CREATE INDEX audit_log_region_idx ON audit_log (region_path text_pattern_ops, id);
CREATE INDEX audit_log_actor_idx ON audit_log (actor, id);
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION forbid_change();

-- Login attempts, for sliding-window limits per username and per client address.
-- Both are stored as SHA-256 digests: a mistyped password in the username field
-- must not end up readable here. A row without outcome is an attempt in progress;
-- it already counts, so concurrent attempts on several replicas cannot overshoot.
CREATE TABLE login_attempts (
    id          bigserial PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT clock_timestamp(),
    user_key    text NOT NULL,
    client_key  text NOT NULL,
    outcome     text CHECK (outcome IN ('success', 'failure'))
);
CREATE INDEX login_attempts_user_idx ON login_attempts (user_key, at);
CREATE INDEX login_attempts_client_idx ON login_attempts (client_key, at);
