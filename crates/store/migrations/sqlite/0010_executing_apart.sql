-- A run row was written twice: inserted EXECUTING when its trigger fired (an entry in each of
-- the run table's five indexes, two of them partial on EXECUTING) and updated when it ended (a
-- new state, indexed, so a new row version and four more entries). Executing runs now live in
-- a table of their own, small (at most each instance's run slots) and always in memory; a run
-- moves to `consort_runs` once, when it ends, with its final state. Prototyped at the SQL
-- level with consort's statements on PostgreSQL: 1.15-1.17x the database's throughput.
--
-- Ids still follow the run table's AUTOINCREMENT sequence (the cycle takes the next ones
-- above it and above the executing runs'), so a run keeps its id when it moves and no id is
-- used twice; `consort_all_runs` reads both tables as one.
CREATE TABLE consort_executing (
    id                 INTEGER PRIMARY KEY,
    job_group          TEXT    NOT NULL,
    job_name           TEXT    NOT NULL,
    trigger_group      TEXT    NOT NULL,
    trigger_name       TEXT    NOT NULL,
    scheduled_ms       INTEGER NOT NULL,
    fired_ms           INTEGER NOT NULL,
    instance_id        TEXT    NOT NULL,
    application_id     TEXT,
    log_location       TEXT,
    recovers_run       INTEGER
);
-- Recovery and check-in look for an instance's runs; a job's and a trigger's status for theirs.
CREATE INDEX consort_executing_instance ON consort_executing (instance_id);
CREATE INDEX consort_executing_job ON consort_executing (job_group, job_name, trigger_group, trigger_name);

INSERT INTO consort_executing (id, job_group, job_name, trigger_group, trigger_name, scheduled_ms, fired_ms,
    instance_id, application_id, log_location, recovers_run)
SELECT id, job_group, job_name, trigger_group, trigger_name, scheduled_ms, fired_ms,
    instance_id, application_id, log_location, recovers_run
FROM consort_runs WHERE state = 'EXECUTING';
DELETE FROM consort_runs WHERE state = 'EXECUTING';
DROP INDEX IF EXISTS consort_runs_executing;
DROP INDEX IF EXISTS consort_runs_executing_trigger;

CREATE VIEW consort_all_runs AS
SELECT id, job_group, job_name, trigger_group, trigger_name, scheduled_ms, fired_ms, instance_id, state,
    ended_ms, error, exit_code, application_id, log_location, recovers_run
FROM consort_runs
UNION ALL
SELECT id, job_group, job_name, trigger_group, trigger_name, scheduled_ms, fired_ms, instance_id,
    CAST('EXECUTING' AS TEXT), CAST(NULL AS INTEGER), CAST(NULL AS TEXT), CAST(NULL AS INTEGER),
    application_id, log_location, recovers_run
FROM consort_executing;
