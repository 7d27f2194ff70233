-- consort scheduler schema, PostgreSQL. Shapes follow Quartz's QRTZ_* tables (see docs/scheduler.md);
-- times are epoch milliseconds.
CREATE TABLE consort_jobs (
    job_group          TEXT    NOT NULL,
    job_name           TEXT    NOT NULL,
    description        TEXT,
    kind               TEXT    NOT NULL,
    data               TEXT    NOT NULL,
    durable            BIGINT  NOT NULL,
    non_concurrent     BIGINT  NOT NULL,
    requests_recovery  BIGINT  NOT NULL,
    executing_run      BIGINT,
    created_ms         BIGINT  NOT NULL,
    updated_ms         BIGINT  NOT NULL,
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
    repeat_count       BIGINT,
    repeat_interval_ms BIGINT,
    start_ms           BIGINT  NOT NULL,
    end_ms             BIGINT,
    priority           BIGINT  NOT NULL,
    misfire            TEXT    NOT NULL,
    data               TEXT    NOT NULL,
    state              TEXT    NOT NULL,
    next_fire_ms       BIGINT,
    prev_fire_ms       BIGINT,
    times_triggered    BIGINT  NOT NULL DEFAULT 0,
    instance_id        TEXT,
    acquired_ms        BIGINT,
    PRIMARY KEY (trigger_group, trigger_name),
    FOREIGN KEY (job_group, job_name) REFERENCES consort_jobs (job_group, job_name) ON DELETE CASCADE
);
CREATE INDEX consort_triggers_due ON consort_triggers (state, next_fire_ms);
CREATE INDEX consort_triggers_job ON consort_triggers (job_group, job_name);
CREATE INDEX consort_triggers_acquired ON consort_triggers (instance_id, next_fire_ms) WHERE state = 'ACQUIRED';

CREATE TABLE consort_runs (
    id                 BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job_group          TEXT    NOT NULL,
    job_name           TEXT    NOT NULL,
    trigger_group      TEXT    NOT NULL,
    trigger_name       TEXT    NOT NULL,
    scheduled_ms       BIGINT  NOT NULL,
    fired_ms           BIGINT  NOT NULL,
    instance_id        TEXT    NOT NULL,
    state              TEXT    NOT NULL,
    ended_ms           BIGINT,
    error              TEXT,
    exit_code          BIGINT,
    application_id     TEXT,
    log_location       TEXT,
    recovers_run       BIGINT
);
CREATE INDEX consort_runs_job ON consort_runs (job_group, job_name, id);
CREATE INDEX consort_runs_trigger ON consort_runs (trigger_group, trigger_name, id);
CREATE INDEX consort_runs_executing ON consort_runs (instance_id) WHERE state = 'EXECUTING';
CREATE INDEX consort_runs_executing_trigger ON consort_runs (trigger_group, trigger_name) WHERE state = 'EXECUTING';

CREATE TABLE consort_instances (
    instance_id         TEXT    PRIMARY KEY,
    last_checkin_ms     BIGINT  NOT NULL,
    checkin_interval_ms BIGINT  NOT NULL
);

CREATE TABLE consort_paused_trigger_groups (
    trigger_group TEXT PRIMARY KEY
);
