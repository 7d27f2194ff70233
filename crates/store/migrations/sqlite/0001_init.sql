-- consort scheduler schema, SQLite. Shapes follow Quartz's QRTZ_* tables (see docs/scheduler.md);
-- times are epoch milliseconds.
CREATE TABLE consort_jobs (
    job_group          TEXT    NOT NULL,
    job_name           TEXT    NOT NULL,
    description        TEXT,
    kind               TEXT    NOT NULL,
    data               TEXT    NOT NULL,
    durable            INTEGER NOT NULL,
    non_concurrent     INTEGER NOT NULL,
    requests_recovery  INTEGER NOT NULL,
    executing_run      INTEGER,
    created_ms         INTEGER NOT NULL,
    updated_ms         INTEGER NOT NULL,
    PRIMARY KEY (job_group, job_name)
);

CREATE TABLE consort_triggers (
    trigger_group      TEXT    NOT NULL,
    trigger_name       TEXT    NOT NULL,
    job_group          TEXT    NOT NULL,
    job_name           TEXT    NOT NULL,
    description        TEXT,
    schedule_type      TEXT    NOT NULL,
    cron_expression    TEXT,
    time_zone          TEXT,
    repeat_count       INTEGER,
    repeat_interval_ms INTEGER,
    start_ms           INTEGER NOT NULL,
    end_ms             INTEGER,
    priority           INTEGER NOT NULL,
    misfire            TEXT    NOT NULL,
    data               TEXT    NOT NULL,
    state              TEXT    NOT NULL,
    next_fire_ms       INTEGER,
    prev_fire_ms       INTEGER,
    times_triggered    INTEGER NOT NULL DEFAULT 0,
    instance_id        TEXT,
    acquired_ms        INTEGER,
    PRIMARY KEY (trigger_group, trigger_name),
    FOREIGN KEY (job_group, job_name) REFERENCES consort_jobs (job_group, job_name) ON DELETE CASCADE
);
CREATE INDEX consort_triggers_due ON consort_triggers (state, next_fire_ms);
CREATE INDEX consort_triggers_job ON consort_triggers (job_group, job_name);
CREATE INDEX consort_triggers_acquired ON consort_triggers (instance_id, next_fire_ms) WHERE state = 'ACQUIRED';

CREATE TABLE consort_runs (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    job_group          TEXT    NOT NULL,
    job_name           TEXT    NOT NULL,
    trigger_group      TEXT    NOT NULL,
    trigger_name       TEXT    NOT NULL,
    scheduled_ms       INTEGER NOT NULL,
    fired_ms           INTEGER NOT NULL,
    instance_id        TEXT    NOT NULL,
    state              TEXT    NOT NULL,
    ended_ms           INTEGER,
    error              TEXT,
    exit_code          INTEGER,
    application_id     TEXT,
    log_location       TEXT,
    recovers_run       INTEGER
);
CREATE INDEX consort_runs_job ON consort_runs (job_group, job_name, id);
CREATE INDEX consort_runs_trigger ON consort_runs (trigger_group, trigger_name, id);
CREATE INDEX consort_runs_executing ON consort_runs (instance_id) WHERE state = 'EXECUTING';
CREATE INDEX consort_runs_executing_trigger ON consort_runs (trigger_group, trigger_name) WHERE state = 'EXECUTING';

CREATE TABLE consort_instances (
    instance_id         TEXT    PRIMARY KEY,
    last_checkin_ms     INTEGER NOT NULL,
    checkin_interval_ms INTEGER NOT NULL
);

CREATE TABLE consort_paused_trigger_groups (
    trigger_group TEXT PRIMARY KEY
);
