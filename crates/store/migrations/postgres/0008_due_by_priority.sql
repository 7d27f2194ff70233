-- Acquiring orders due triggers by fire time, then priority (highest first). The index had
-- only the fire time, so every trigger due at the same millisecond was sorted before the
-- batch's LIMIT applied: a backlog of 10,000 triggers due together cost a 10,000-row sort
-- per cycle of 1,000 fires. With the priority in the index the order is read off it and the
-- scan stops at the batch's end.
DROP INDEX consort_triggers_due;
CREATE INDEX consort_triggers_due ON consort_triggers (state, next_fire_ms, priority DESC);
DROP INDEX consort_triggers_acquired;
CREATE INDEX consort_triggers_acquired ON consort_triggers (instance_id, next_fire_ms, priority DESC)
    WHERE state = 'ACQUIRED';
