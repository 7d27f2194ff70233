-- A run moved to `consort_runs` as it ended, and its entry in `consort_runs_job` went where its
-- job's newest runs are: with ten million runs, a leaf of its own for every job, so nearly
-- every fire read a page, wrote it to the WAL and checkpointed it back (a fire's CPU time grew
-- 1.3-1.4x from no runs to ten million). An ended run now stays where it executed, marked
-- with its outcome, and the check-in task moves ended runs to the history in job order, a few
-- hundred per transaction: a job's leaf is written once for all the runs it ended meanwhile.
--
-- The table is renamed for what it now holds: the runs executing and those ended recently.
DROP VIEW consort_all_runs;
ALTER TABLE consort_executing RENAME TO consort_recent_runs;
ALTER TABLE consort_recent_runs ADD COLUMN state TEXT NOT NULL DEFAULT 'EXECUTING';
ALTER TABLE consort_recent_runs ADD COLUMN ended_ms INTEGER;
ALTER TABLE consort_recent_runs ADD COLUMN error TEXT;
ALTER TABLE consort_recent_runs ADD COLUMN exit_code INTEGER;
DROP INDEX consort_executing_instance;
DROP INDEX consort_executing_job;
-- Recovery and check-in look for an instance's executing runs; the move walks ended runs in
-- job order, and a job's and a trigger's status read theirs.
CREATE INDEX consort_recent_runs_instance ON consort_recent_runs (instance_id);
CREATE INDEX consort_recent_runs_job ON consort_recent_runs (job_group, job_name, id);

CREATE VIEW consort_all_runs AS
SELECT id, job_group, job_name, trigger_group, trigger_name, scheduled_ms, fired_ms, instance_id, state,
    ended_ms, error, exit_code, application_id, log_location, recovers_run
FROM consort_runs
UNION ALL
SELECT id, job_group, job_name, trigger_group, trigger_name, scheduled_ms, fired_ms, instance_id, state,
    ended_ms, error, exit_code, application_id, log_location, recovers_run
FROM consort_recent_runs;
