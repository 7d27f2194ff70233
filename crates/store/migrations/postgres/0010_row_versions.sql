-- Room for new row versions, and vacuum while a backlog fires. A fire writes its trigger row
-- once (new fire time: non-HOT, an entry in each of its three indexes), its run row twice
-- (inserted EXECUTING, an entry in each of five indexes; updated when it ends, a new state:
-- non-HOT, four entries) and, for a non-concurrent job, its job row twice (executing run set
-- and cleared: no indexed column, so HOT when its page has room). With the pages packed full a
-- new version goes to another page, and the dead ones waited for autovacuum at its default
-- thresholds (20% of the table): a backlog left 500,000 dead versions and 7,600 pages for
-- 10,000 live triggers. With a fifth of each trigger and job page free, a new version stays
-- on its page and page pruning reclaims the dead ones as pages are read: 2,000 pages after
-- the same backlog. The run table gets no fillfactor: its rows are appended and each is
-- updated once, with a new state (indexed), so free room would only spread the inserts.
--
-- fillfactor only applies to pages written from now on: existing pages stay full until
-- updates move their rows or a VACUUM FULL / pg_repack rewrites the table.
--
-- Per-table autovacuum thresholds: vacuum once 2% of a table is dead or newly inserted
-- (inserts too, so the run table's visibility map stays current for index-only reads), and
-- unthrottled on the two small hot tables. Autovacuum still visits a database at most once
-- per `autovacuum_naptime` (a server setting, one minute by default, not settable here), so a
-- backlog shorter than that is not vacuumed while it runs.
ALTER TABLE consort_triggers SET (
    fillfactor = 80,
    autovacuum_vacuum_scale_factor = 0.02,
    autovacuum_vacuum_threshold = 1000,
    autovacuum_analyze_scale_factor = 0.05,
    autovacuum_vacuum_cost_delay = 0
);
ALTER TABLE consort_jobs SET (
    fillfactor = 80,
    autovacuum_vacuum_scale_factor = 0.02,
    autovacuum_vacuum_threshold = 1000,
    autovacuum_vacuum_cost_delay = 0
);
ALTER TABLE consort_runs SET (
    autovacuum_vacuum_scale_factor = 0.02,
    autovacuum_vacuum_insert_scale_factor = 0.02,
    autovacuum_analyze_scale_factor = 0.02,
    autovacuum_vacuum_cost_delay = 1
);
