-- Executing runs are few: the per-instance partial index serves the per-trigger lookups too,
-- and one index less to maintain per fire makes firing cheaper.
DROP INDEX consort_runs_executing_trigger;
