//! The checks that need the outside world, implemented by the runtime crate.

use async_trait::async_trait;

/// Why an effectful check failed, in the words the user reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckFailure {
    /// What is wrong, e.g. "`hdfs://ns1/apps/etl.jar` does not exist".
    pub problem: String,
    /// What to change, e.g. "upload the jar there, or correct `jar`".
    pub fix: String,
}

impl CheckFailure {
    /// A failure with its problem and fix.
    pub fn new(problem: impl Into<String>, fix: impl Into<String>) -> Self {
        CheckFailure { problem: problem.into(), fix: fix.into() }
    }
}

/// Checks against the world outside the descriptor. [`crate::validate()`] calls each one only
/// when the fields it needs are valid, and the three concurrently.
#[async_trait]
pub trait Checks: Send + Sync + std::fmt::Debug {
    /// The backend `name` is configured on this server and answers.
    async fn backend(&self, name: &str) -> Result<(), CheckFailure>;
    /// The jar at `uri` exists and `class_name` in it has `public static void main(String[])`.
    async fn jar(&self, uri: &str, class_name: &str) -> Result<(), CheckFailure>;
    /// The Python file at `uri` exists (and parses, where that is cheap).
    async fn python_file(&self, uri: &str) -> Result<(), CheckFailure>;
}
