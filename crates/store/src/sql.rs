//! A minimal dynamic SQL layer over both backends, so catalog operations are written once.
//!
//! Statements are written in PostgreSQL's dialect with `$N` parameters and markers (`{lock}`,
//! `{skip_locked}`); the SQLite side rewrites `$N` to `?N` and drops the markers (SQLite has one
//! writer at a time, taken by `BEGIN IMMEDIATE`). Columns are only BIGINT and TEXT, so two
//! value types suffice.

use consort_scheduler::StoreError;

/// A parameter or column value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Value {
    Int(Option<i64>),
    Text(Option<String>),
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(Some(v))
    }
}
impl From<Option<i64>> for Value {
    fn from(v: Option<i64>) -> Self {
        Value::Int(v)
    }
}
impl From<i32> for Value {
    fn from(v: i32) -> Self {
        Value::Int(Some(i64::from(v)))
    }
}
impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Int(Some(i64::from(v)))
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(Some(v.to_string()))
    }
}
impl From<&String> for Value {
    fn from(v: &String) -> Self {
        Value::Text(Some(v.clone()))
    }
}
impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(Some(v))
    }
}
impl From<Option<String>> for Value {
    fn from(v: Option<String>) -> Self {
        Value::Text(v)
    }
}
impl From<Option<&str>> for Value {
    fn from(v: Option<&str>) -> Self {
        Value::Text(v.map(str::to_string))
    }
}

/// Reads a row's columns in order.
#[derive(Debug)]
pub(crate) struct Cols<'a> {
    row: &'a [Value],
    at: usize,
    table: &'static str,
}

impl<'a> Cols<'a> {
    pub fn new(table: &'static str, row: &'a [Value]) -> Self {
        Cols { row, at: 0, table }
    }

    fn next(&mut self) -> Result<&'a Value, StoreError> {
        let v = self
            .row
            .get(self.at)
            .ok_or_else(|| StoreError::Corrupt { table: self.table, message: format!("missing column {}", self.at) })?;
        self.at += 1;
        Ok(v)
    }

    fn wrong(&self, want: &str) -> StoreError {
        StoreError::Corrupt { table: self.table, message: format!("column {} is not {want}", self.at - 1) }
    }

    pub fn opt_int(&mut self) -> Result<Option<i64>, StoreError> {
        match self.next()? {
            Value::Int(v) => Ok(*v),
            Value::Text(None) => Ok(None),
            Value::Text(Some(_)) => Err(self.wrong("an integer")),
        }
    }

    pub fn int(&mut self) -> Result<i64, StoreError> {
        self.opt_int()?.ok_or_else(|| self.wrong("a non-null integer"))
    }

    pub fn int32(&mut self) -> Result<i32, StoreError> {
        i32::try_from(self.int()?).map_err(|_| self.wrong("a 32-bit integer"))
    }

    pub fn opt_int32(&mut self) -> Result<Option<i32>, StoreError> {
        self.opt_int()?.map(|v| i32::try_from(v).map_err(|_| self.wrong("a 32-bit integer"))).transpose()
    }

    pub fn bool(&mut self) -> Result<bool, StoreError> {
        Ok(self.int()? != 0)
    }

    pub fn opt_text(&mut self) -> Result<Option<String>, StoreError> {
        match self.next()? {
            Value::Text(v) => Ok(v.clone()),
            Value::Int(None) => Ok(None),
            Value::Int(Some(_)) => Err(self.wrong("text")),
        }
    }

    pub fn text(&mut self) -> Result<String, StoreError> {
        self.opt_text()?.ok_or_else(|| self.wrong("non-null text"))
    }
}

/// One open transaction of either backend.
pub(crate) trait Sql {
    /// Runs a statement; returns the rows changed.
    async fn exec(&mut self, sql: &str, params: &[Value]) -> Result<u64, StoreError>;
    /// Runs a query; returns all rows.
    async fn rows(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Vec<Value>>, StoreError>;
    /// Takes an exclusive claim on `what` until this transaction ends, without waiting: false
    /// if another transaction holds it. (SQLite has one writer at a time: always true.)
    async fn claim(&mut self, what: &str) -> Result<bool, StoreError>;
}

/// Rewrites a PostgreSQL-dialect statement for SQLite.
pub(crate) fn for_sqlite(sql: &str) -> String {
    let sql = sql.replace("{lock}", "").replace("{skip_locked}", "");
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '$' && chars.peek().is_some_and(char::is_ascii_digit) {
            out.push('?');
        } else {
            out.push(c);
        }
    }
    out
}

/// Rewrites a PostgreSQL-dialect statement's markers for PostgreSQL.
pub(crate) fn for_postgres(sql: &str) -> String {
    sql.replace("{lock}", " FOR UPDATE").replace("{skip_locked}", " FOR UPDATE SKIP LOCKED")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dialects() {
        let sql = "SELECT a FROM t WHERE x = $1 AND y = $12 {skip_locked}";
        assert_eq!(for_sqlite(sql), "SELECT a FROM t WHERE x = ?1 AND y = ?12 ");
        assert_eq!(for_postgres(sql), "SELECT a FROM t WHERE x = $1 AND y = $12  FOR UPDATE SKIP LOCKED");
    }
}
