-- Listing the runs of one state newest first (the dashboard's FAILED runs) walked the runs by id
-- until it had a page of that state: with failures rare, tens of thousands of rows. Ids grow
-- with fire times, so each state's entries are appended at the end of its range, a page that
-- stays in memory: a cheap index to maintain.
CREATE INDEX consort_runs_state ON consort_runs (state, id);
