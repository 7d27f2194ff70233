//! Checksummed schema migrations, one list per backend, compiled into the binary.
//!
//! A database records each applied migration's version, name and SHA-256. Opening a store
//! applies the missing ones in one transaction; it refuses a database whose applied
//! migration changed or that has migrations this build does not know.

use sha2::{Digest, Sha256};

use consort_scheduler::StoreError;

/// One migration.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sql: &'static str,
}

pub(crate) const SQLITE: &[Migration] = &[
    Migration { version: 1, name: "init", sql: include_str!("../migrations/sqlite/0001_init.sql") },
    Migration {
        version: 2,
        name: "fewer_run_indexes",
        sql: include_str!("../migrations/sqlite/0002_fewer_run_indexes.sql"),
    },
    Migration { version: 3, name: "auth", sql: include_str!("../migrations/sqlite/0003_auth.sql") },
    Migration { version: 4, name: "provisioner", sql: include_str!("../migrations/sqlite/0004_provisioner.sql") },
    Migration { version: 5, name: "once", sql: include_str!("../migrations/sqlite/0005_once.sql") },
    Migration { version: 6, name: "cleanroom", sql: include_str!("../migrations/sqlite/0006_cleanroom.sql") },
    Migration { version: 7, name: "runs_by_state", sql: include_str!("../migrations/sqlite/0007_runs_by_state.sql") },
    Migration {
        version: 8,
        name: "due_by_priority",
        sql: include_str!("../migrations/sqlite/0008_due_by_priority.sql"),
    },
    Migration { version: 9, name: "runs_by_job", sql: include_str!("../migrations/sqlite/0009_runs_by_job.sql") },
    Migration {
        version: 10,
        name: "executing_apart",
        sql: include_str!("../migrations/sqlite/0010_executing_apart.sql"),
    },
    Migration { version: 11, name: "recent_runs", sql: include_str!("../migrations/sqlite/0011_recent_runs.sql") },
];

pub(crate) const POSTGRES: &[Migration] = &[
    Migration { version: 1, name: "init", sql: include_str!("../migrations/postgres/0001_init.sql") },
    Migration {
        version: 2,
        name: "fewer_run_indexes",
        sql: include_str!("../migrations/postgres/0002_fewer_run_indexes.sql"),
    },
    Migration { version: 3, name: "auth", sql: include_str!("../migrations/postgres/0003_auth.sql") },
    Migration { version: 4, name: "provisioner", sql: include_str!("../migrations/postgres/0004_provisioner.sql") },
    Migration { version: 5, name: "once", sql: include_str!("../migrations/postgres/0005_once.sql") },
    Migration { version: 6, name: "cleanroom", sql: include_str!("../migrations/postgres/0006_cleanroom.sql") },
    Migration { version: 7, name: "runs_by_state", sql: include_str!("../migrations/postgres/0007_runs_by_state.sql") },
    Migration {
        version: 8,
        name: "due_by_priority",
        sql: include_str!("../migrations/postgres/0008_due_by_priority.sql"),
    },
    Migration { version: 9, name: "runs_by_job", sql: include_str!("../migrations/postgres/0009_runs_by_job.sql") },
    // PostgreSQL only (page room and autovacuum settings): SQLite has no twin.
    Migration { version: 10, name: "row_versions", sql: include_str!("../migrations/postgres/0010_row_versions.sql") },
    Migration {
        version: 11,
        name: "executing_apart",
        sql: include_str!("../migrations/postgres/0011_executing_apart.sql"),
    },
    Migration { version: 12, name: "recent_runs", sql: include_str!("../migrations/postgres/0012_recent_runs.sql") },
    // PostgreSQL only: its cycle deletes each run as it ends (SQLite ends runs in place).
    Migration {
        version: 13,
        name: "recent_runs_by_id",
        sql: include_str!("../migrations/postgres/0013_recent_runs_by_id.sql"),
    },
];

/// The table both backends keep applied migrations in.
pub(crate) const TABLE_DDL: &str = "CREATE TABLE IF NOT EXISTS consort_migrations (\
    version BIGINT PRIMARY KEY, name TEXT NOT NULL, checksum TEXT NOT NULL, applied_ms BIGINT NOT NULL)";

/// The SHA-256 of a migration's text, hex.
pub(crate) fn checksum(sql: &str) -> String {
    Sha256::digest(sql.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// An applied migration as recorded in the database.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Applied {
    pub version: i64,
    pub name: String,
    pub checksum: String,
}

/// Compares what the database applied with what this build knows; returns what to apply.
pub(crate) fn plan<'a>(
    backend: &str,
    applied: &[Applied],
    known: &'a [Migration],
) -> Result<Vec<&'a Migration>, StoreError> {
    let latest = known.last().map_or(0, |m| m.version);
    for a in applied {
        let Some(m) = known.iter().find(|m| m.version == a.version) else {
            return Err(StoreError::Migration(format!(
                "the {backend} database has migration {} ({}) that this build does not know (it knows up to {latest}): \
                 it was written by a newer consort; upgrade consort, or point it at another database",
                a.version, a.name
            )));
        };
        let sum = checksum(m.sql);
        if sum != a.checksum {
            return Err(StoreError::Migration(format!(
                "migration {} ({}) differs from the one applied to this {backend} database (checksum {} there, {} here): \
                 never edit an applied migration; restore it and add a new migration instead",
                m.version, m.name, a.checksum, sum
            )));
        }
    }
    Ok(known.iter().filter(|m| !applied.iter().any(|a| a.version == m.version)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn applied(m: &Migration) -> Applied {
        Applied { version: m.version, name: m.name.into(), checksum: checksum(m.sql) }
    }

    #[test]
    fn fresh_database_gets_everything_and_an_up_to_date_one_nothing() {
        assert_eq!(plan("sqlite", &[], SQLITE).unwrap().len(), SQLITE.len());
        let all: Vec<_> = POSTGRES.iter().map(applied).collect();
        assert!(plan("postgres", &all, POSTGRES).unwrap().is_empty());
    }

    #[test]
    fn only_missing_migrations_are_applied_in_order() {
        let done = [applied(&SQLITE[0]), applied(&SQLITE[2])];
        let todo = plan("sqlite", &done, SQLITE).unwrap();
        let missing: Vec<i64> = SQLITE.iter().map(|m| m.version).filter(|v| ![1, 3].contains(v)).collect();
        assert_eq!(missing[..2], [2, 4]);
        assert_eq!(todo.iter().map(|m| m.version).collect::<Vec<_>>(), missing);
        assert!(SQLITE.windows(2).all(|w| w[0].version < w[1].version));
        assert!(POSTGRES.windows(2).all(|w| w[0].version < w[1].version));
    }

    #[test]
    fn changed_migration_is_refused_with_the_fix() {
        let mut a = applied(&SQLITE[0]);
        a.checksum = "0".repeat(64);
        let err = plan("sqlite", &[a], SQLITE).unwrap_err().to_string();
        assert!(err.contains("never edit an applied migration"), "{err}");
    }

    #[test]
    fn unknown_newer_migration_is_refused_with_the_fix() {
        let a = Applied { version: 999, name: "future".into(), checksum: "x".into() };
        let err = plan("postgres", &[a], POSTGRES).unwrap_err().to_string();
        assert!(err.contains("upgrade consort"), "{err}");
    }
}
