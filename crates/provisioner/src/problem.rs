//! One thing wrong with a request: where it is, what is wrong, and how to fix it.
//!
//! # Field paths
//!
//! [`Problem::field`] is a path into the descriptor (the YAML document in the request's
//! `descriptor`), from its root:
//!
//! - mapping keys are joined with `.`: `dataProduct.environment`;
//! - sequence items take their index in brackets: `dataProduct.components[0].specific.jar`
//!   (the component's position in `dataProduct.components`, counted from 0);
//! - a key that is not made only of ASCII letters, digits, `_` and `-` is written as a
//!   JSON string in brackets, so the dots of a Spark property never read as nesting:
//!   `dataProduct.components[0].specific.jobConfig.conf["spark.sql.shuffle.partitions"]`;
//! - a missing field has the path it should have had;
//! - a problem with the document as a whole (YAML syntax, a document that is not a mapping)
//!   has the path `descriptor`: the request field that carries the YAML.
//!
//! Reverse provisioning's problems name the request's parameters instead: `params.jobName`.
//!
//! [`Problem::line`] and [`Problem::column`] (1-based) point into the YAML text: at the
//! value of the field, or for a missing field at the mapping that should hold it.

use std::fmt;

/// The path of problems about the descriptor as a whole.
pub const DOCUMENT: &str = "descriptor";

/// One problem found in a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// Where: a dot path into the descriptor (see the module docs).
    pub field: String,
    /// What is wrong, quoting the offending value.
    pub problem: String,
    /// What to change.
    pub fix: String,
    /// The line in the YAML text (1-based), when known.
    pub line: Option<u32>,
    /// The column in the YAML text (1-based), when known.
    pub column: Option<u32>,
}

impl Problem {
    /// A problem without a position in the text.
    pub fn new(field: impl Into<String>, problem: impl Into<String>, fix: impl Into<String>) -> Self {
        Problem { field: field.into(), problem: problem.into(), fix: fix.into(), line: None, column: None }
    }

    /// The same problem at `line`, `column` of the YAML text.
    pub fn at(mut self, line: u32, column: u32) -> Self {
        (self.line, self.column) = (Some(line), Some(column));
        self
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.problem)?;
        if let (Some(line), Some(column)) = (self.line, self.column) {
            write!(f, " (line {line}, column {column})")?;
        }
        write!(f, "; fix: {}", self.fix)
    }
}

/// Appends a mapping key to a path, following the module's convention.
pub(crate) fn join(path: &str, key: &str) -> String {
    let plain = !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    match (path.is_empty(), plain) {
        (true, true) => key.to_string(),
        (false, true) => format!("{path}.{key}"),
        (_, false) => format!("{path}[{}]", serde_json::Value::from(key)),
    }
}

/// Appends a sequence index to a path.
pub(crate) fn index(path: &str, i: usize) -> String {
    format!("{path}[{i}]")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_follow_the_convention() {
        assert_eq!(join("", "dataProduct"), "dataProduct");
        assert_eq!(index(&join("dataProduct", "components"), 2), "dataProduct.components[2]");
        assert_eq!(join("a.conf", "spark.sql.shuffle.partitions"), r#"a.conf["spark.sql.shuffle.partitions"]"#);
        assert_eq!(join("a", "with \"quote\""), r#"a["with \"quote\""]"#);
        let p = Problem::new("x.y", "is wrong", "make it right").at(3, 7);
        assert_eq!(p.to_string(), "x.y: is wrong (line 3, column 7); fix: make it right");
    }
}
