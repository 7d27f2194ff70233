-- Area: clean rooms (consort-governance, consort-ledger). One row per clean room: its commit
-- counter and its ledger's size, the row every commit and append locks (FOR UPDATE), so one
-- clean room's ledger has one order across instances. Its maps' values carry the version of
-- the commit that wrote them (optimistic concurrency); ledger entries keep their leaf hash
-- (hex) so trees are rebuilt without rehashing; signed roots are kept per size. Times are
-- epoch ms. No foreign keys: every write goes through the locked clean-room row.
-- Names and keys compare bytewise (COLLATE "C"), as on SQLite, so listing order and prefix
-- ranges do not depend on the database's locale.
CREATE TABLE consort_cleanrooms (
    name         TEXT COLLATE "C" PRIMARY KEY,
    created_ms   BIGINT NOT NULL,
    version      BIGINT NOT NULL,
    ledger_size  BIGINT NOT NULL
);

CREATE TABLE consort_cleanroom_kv (
    cleanroom  TEXT COLLATE "C" NOT NULL,
    map        TEXT COLLATE "C" NOT NULL,
    key        TEXT COLLATE "C" NOT NULL,
    value      TEXT   NOT NULL,
    version    BIGINT NOT NULL,
    PRIMARY KEY (cleanroom, map, key)
);

CREATE TABLE consort_ledger_entries (
    cleanroom  TEXT COLLATE "C" NOT NULL,
    seq        BIGINT NOT NULL,
    at_ms      BIGINT NOT NULL,
    kind       TEXT   NOT NULL,
    body       TEXT   NOT NULL,
    leaf_hash  TEXT   NOT NULL,
    PRIMARY KEY (cleanroom, seq)
);

CREATE TABLE consort_ledger_roots (
    cleanroom  TEXT COLLATE "C" NOT NULL,
    size       BIGINT NOT NULL,
    root       TEXT   NOT NULL,
    at_ms      BIGINT NOT NULL,
    key_id     TEXT   NOT NULL,
    signature  TEXT   NOT NULL,
    PRIMARY KEY (cleanroom, size)
);
