-- Area: auth. API tokens (only the SHA-256 of each secret) and the audit trail
-- (every write and every refused request; nothing secret). Times are epoch ms.
CREATE TABLE consort_tokens (
    id            TEXT   PRIMARY KEY,
    hash          TEXT   NOT NULL UNIQUE,
    name          TEXT   NOT NULL,
    roles         TEXT   NOT NULL,
    created_ms    BIGINT NOT NULL,
    expires_ms    BIGINT,
    revoked_ms    BIGINT,
    last_used_ms  BIGINT
);
CREATE UNIQUE INDEX consort_tokens_live_name ON consort_tokens (name) WHERE revoked_ms IS NULL;

CREATE TABLE consort_audit (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    at_ms      BIGINT NOT NULL,
    principal  TEXT   NOT NULL,
    remote     TEXT   NOT NULL,
    method     TEXT   NOT NULL,
    path       TEXT   NOT NULL,
    status     BIGINT NOT NULL,
    outcome    TEXT   NOT NULL
);
CREATE INDEX consort_audit_principal ON consort_audit (principal, id);
