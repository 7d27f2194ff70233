-- Exactly-once fail-over: the process behind each check-in row (two live processes with one
-- instance id are told apart), and why a trigger was put in ERROR.
ALTER TABLE consort_instances ADD COLUMN boot_id TEXT;
ALTER TABLE consort_triggers ADD COLUMN error TEXT;
