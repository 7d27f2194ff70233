-- A fire inserted its run into two indexes at places set by its job and by its trigger. With
-- many triggers and a long history, each trigger's place is a page of its own (100,000
-- triggers: 100,000 pages), so nearly every fire read a page from disk and wrote it back
-- through the WAL: the cost of a fire grew with the runs stored. A trigger's runs are now
-- found under its job: the job index carries the trigger (after the id, so the order stays
-- the job's newest first) and is filtered without reading rows. Whether a trigger has an
-- executing run is answered by a partial index of executing runs only: a few cached pages.
DROP INDEX consort_runs_trigger;
DROP INDEX consort_runs_job;
CREATE INDEX consort_runs_job ON consort_runs (job_group, job_name, id, trigger_group, trigger_name);
CREATE INDEX consort_runs_executing_trigger ON consort_runs (trigger_group, trigger_name) WHERE state = 'EXECUTING';
