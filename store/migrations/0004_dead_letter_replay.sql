-- Replaying dead letters after a fix (a device registered, a zone added): the API
-- marks letters, ingest re-decodes them and either stores them or records why not.
ALTER TABLE dead_letters
    ADD COLUMN replay_requested_at timestamptz,
    ADD COLUMN replay_attempts integer NOT NULL DEFAULT 0,
    ADD COLUMN last_replay_error text;
CREATE INDEX dead_letters_replay_idx ON dead_letters (id) WHERE replay_requested_at IS NOT NULL;
