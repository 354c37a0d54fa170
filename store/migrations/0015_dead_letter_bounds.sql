-- Dead letters are bounded and private: a payload within the ingest size limit is kept
-- whole (so that replay still works); of a larger one only a prefix, with the size and
-- the sha256 of what was received. Identifying fields of vendor payloads are redacted
-- before the row is written (ingest/redact.py).
ALTER TABLE dead_letters
    ADD COLUMN payload_size integer,
    ADD COLUMN payload_sha256 text,
    ADD COLUMN payload_truncated boolean NOT NULL DEFAULT false,
    ADD COLUMN redacted boolean NOT NULL DEFAULT false;
