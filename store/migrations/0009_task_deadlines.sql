-- Grid tasks: deadlines per phase (分类分级), tiered escalation (督办), worker actions
-- with photos, citizen feedback, and worker presence for the KPIs (考核).

CREATE TABLE task_deadlines (
    category        text NOT NULL,          -- '*' matches any category
    severity        text NOT NULL,          -- '*' matches any severity
    accept_seconds  integer NOT NULL CHECK (accept_seconds > 0),
    arrive_seconds  integer NOT NULL CHECK (arrive_seconds > 0),
    resolve_seconds integer NOT NULL CHECK (resolve_seconds > 0),
    PRIMARY KEY (category, severity)
);
INSERT INTO task_deadlines VALUES
    ('*', '*',        600, 1800, 7200),
    ('*', 'critical', 180,  900, 3600),
    ('*', 'minor',   1800, 3600, 86400);

ALTER TABLE tasks
    ADD COLUMN due_kind   text CHECK (due_kind IN ('accept', 'arrive', 'resolve')),
    ADD COLUMN due_at     timestamptz,
    ADD COLUMN tier_since timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN accepted_at timestamptz,
    ADD COLUMN arrived_at timestamptz,
    ADD COLUMN arrived_lon double precision,
    ADD COLUMN arrived_lat double precision,
    ADD COLUMN resolved_at timestamptz,
    ADD COLUMN merged_into bigint REFERENCES tasks (id),
    ADD COLUMN close_note  text;
CREATE INDEX tasks_due_idx ON tasks (due_at) WHERE due_at IS NOT NULL;

CREATE TABLE task_escalations (
    id          bigserial PRIMARY KEY,
    task_id     bigint NOT NULL REFERENCES tasks (id),
    from_tier   text NOT NULL,
    to_tier     text NOT NULL,
    due_kind    text NOT NULL,
    due_at      timestamptz NOT NULL,
    at          timestamptz NOT NULL DEFAULT now(),
    region_id   text REFERENCES regions (id),   -- the centre that now supervises
    notified    text[] NOT NULL DEFAULT '{}',   -- supervisors told (person ids)
    UNIQUE (task_id, to_tier)                   -- a task escalates to each tier once
);

CREATE TABLE task_photos (
    id            bigserial PRIMARY KEY,
    task_id       bigint NOT NULL REFERENCES tasks (id),
    uploaded_by   text NOT NULL REFERENCES people (id),
    uploaded_at   timestamptz NOT NULL DEFAULT now(),
    content_type  text NOT NULL,
    width         integer NOT NULL,
    height        integer NOT NULL,
    sha256        text NOT NULL,            -- of the stored bytes
    original_sha256 text NOT NULL,          -- of the upload, before metadata was stripped
    data          bytea NOT NULL
);
CREATE INDEX task_photos_task_idx ON task_photos (task_id);

CREATE TABLE task_feedback (
    id          bigserial PRIMARY KEY,
    task_id     bigint NOT NULL REFERENCES tasks (id),
    recorded_by text NOT NULL REFERENCES people (id),
    at          timestamptz NOT NULL DEFAULT now(),
    satisfaction smallint NOT NULL CHECK (satisfaction BETWEEN 1 AND 5),
    comment     text
);

CREATE TABLE worker_presence (
    id          bigserial PRIMARY KEY,
    person_id   text NOT NULL REFERENCES people (id),
    online      boolean NOT NULL,
    at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX worker_presence_person_idx ON worker_presence (person_id, at);
