-- Area: clean rooms (consort-governance, consort-ledger). One row per clean room: its commit
-- counter and its ledger's size, the row every commit and append locks, so one clean room's
-- ledger has one order. Its maps' values carry the version of the commit that wrote them
-- (optimistic concurrency); ledger entries keep their leaf hash (hex) so trees are rebuilt
-- without rehashing; signed roots are kept per size. Times are epoch ms. No foreign keys:
-- every write goes through the locked clean-room row, and appends stay one index each.
-- WITHOUT ROWID: the composite primary key is the table, no second b-tree per insert.
CREATE TABLE consort_cleanrooms (
    name         TEXT   PRIMARY KEY,
    created_ms   BIGINT NOT NULL,
    version      BIGINT NOT NULL,
    ledger_size  BIGINT NOT NULL
) WITHOUT ROWID;

CREATE TABLE consort_cleanroom_kv (
    cleanroom  TEXT   NOT NULL,
    map        TEXT   NOT NULL,
    key        TEXT   NOT NULL,
    value      TEXT   NOT NULL,
    version    BIGINT NOT NULL,
    PRIMARY KEY (cleanroom, map, key)
) WITHOUT ROWID;

CREATE TABLE consort_ledger_entries (
    cleanroom  TEXT   NOT NULL,
    seq        BIGINT NOT NULL,
    at_ms      BIGINT NOT NULL,
    kind       TEXT   NOT NULL,
    body       TEXT   NOT NULL,
    leaf_hash  TEXT   NOT NULL,
    PRIMARY KEY (cleanroom, seq)
) WITHOUT ROWID;

CREATE TABLE consort_ledger_roots (
    cleanroom  TEXT   NOT NULL,
    size       BIGINT NOT NULL,
    root       TEXT   NOT NULL,
    at_ms      BIGINT NOT NULL,
    key_id     TEXT   NOT NULL,
    signature  TEXT   NOT NULL,
    PRIMARY KEY (cleanroom, size)
) WITHOUT ROWID;
