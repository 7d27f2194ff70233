-- On PostgreSQL the recent runs table is a queue: a run is inserted as it fires and deleted as
-- it ends, some 1,200 a second at 100,000 triggers, and autovacuum visits at most once a
-- minute. Between visits the table holds a few live rows per run slot and tens of thousands of
-- dead ones, and so does each of its indexes.
--
-- The instance index (three values) drew the planner when runs ended: its statistics count the
-- live rows, a handful per instance, so it read the instance's entries, dead ones included, and
-- matched each row against the ended ids: 100-200 ms a statement. The cycle now looks each
-- ended run up by id; the instance index is dropped so that no plan reads it, and a fire writes
-- one index entry fewer. Recovery, which looks a failed instance's runs up, is rare and scans.
DROP INDEX consort_recent_runs_instance;
-- The check-in's move walks the runs that ended in place (only recovery's abandoned runs, on
-- this backend) in job order; walking the job index to find none read every row.
CREATE INDEX consort_recent_runs_ended ON consort_recent_runs (job_group, job_name, id)
    WHERE state <> 'EXECUTING';
