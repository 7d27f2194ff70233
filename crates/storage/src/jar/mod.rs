//! The jar check: proves that a jar exists, is a zip, holds the named class, and that the class has
//! `public static void main(String[])`, reading only the zip's end record, its central directory
//! and that one entry with range reads, so the cost does not grow with the jar's size.
//!
//! The parsing lives in `zip` and `class` and does no I/O; `check_jar` (feature `backends`) drives
//! it with range reads.

#[cfg(feature = "backends")]
mod check;
pub mod class;
pub mod zip;

#[cfg(feature = "backends")]
pub use check::check_jar;

use std::fmt;

use crate::error::StorageError;

pub use class::{ClassInfo, Method};
pub use zip::Compression;

/// A class name as given by a user: `com.example.Main`, `com/example/Main`, with or without
/// `.class`; nested classes as `Outer$Inner`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassName {
    internal: String,
}

impl ClassName {
    /// Normalises `name` to the JVM's internal form (`com/example/Main`).
    pub fn parse(name: &str) -> Result<ClassName, JarCheckError> {
        let invalid =
            |reason: &str| JarCheckError::InvalidClassName { name: name.to_owned(), reason: reason.to_owned() };
        let trimmed = name.trim();
        let base = trimmed.strip_suffix(".class").unwrap_or(trimmed);
        if base.is_empty() {
            return Err(invalid("it is empty; give the fully qualified name, e.g. com.example.Main"));
        }
        if base.chars().any(|c| c.is_whitespace() || matches!(c, ';' | '[' | '\\')) {
            return Err(invalid("it contains spaces, `;`, `[` or `\\`; give a name such as com.example.Main"));
        }
        let internal = base.replace('.', "/");
        if internal.starts_with('/') || internal.ends_with('/') || internal.contains("//") {
            return Err(invalid("it has an empty package or class segment; give a name such as com.example.Main"));
        }
        Ok(ClassName { internal })
    }

    /// `com/example/Main`.
    pub fn internal(&self) -> &str {
        &self.internal
    }

    /// `com.example.Main`.
    pub fn dotted(&self) -> String {
        self.internal.replace('/', ".")
    }

    /// The zip entry that holds the class: `com/example/Main.class`.
    pub fn entry_name(&self) -> String {
        format!("{}.class", self.internal)
    }
}

impl fmt::Display for ClassName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.dotted())
    }
}

/// What a passing jar check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JarReport {
    /// The jar's URI.
    pub uri: String,
    /// The jar's size in bytes.
    pub size: u64,
    /// Entries in the jar's central directory.
    pub entries: u64,
    /// Bytes before the zip proper (a prepended launcher script), 0 for a plain jar.
    pub prefix_len: u64,
    /// Whether the jar uses zip64 records.
    pub zip64: bool,
    /// The main class, checked.
    pub class: Option<MainClass>,
    /// Bytes read from storage in total.
    pub bytes_read: u64,
    /// Number of range reads issued.
    pub reads: u32,
}

/// The main class found in a jar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MainClass {
    /// The class name, dotted.
    pub name: String,
    /// The zip entry that holds it.
    pub entry: String,
    /// How the entry is compressed.
    pub compression: Compression,
    /// The class file's size.
    pub class_size: u64,
    /// The class file's major version (61 = Java 17).
    pub major_version: u16,
}

impl fmt::Display for JarReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: a jar of {} bytes with {} entries", self.uri, self.size, self.entries)?;
        if self.zip64 {
            f.write_str(" (zip64)")?;
        }
        if self.prefix_len > 0 {
            write!(f, " after a {}-byte launcher prefix", self.prefix_len)?;
        }
        if let Some(c) = &self.class {
            write!(
                f,
                "; {} ({}, {} bytes {}, class file version {}) has public static void main(String[])",
                c.name, c.entry, c.class_size, c.compression, c.major_version
            )?;
        }
        write!(f, "; read {} bytes in {} range reads", self.bytes_read, self.reads)
    }
}

/// Why a jar check failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JarCheckError {
    /// The storage could not be read (not found, permission denied, unreachable, ...).
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The class name cannot be a JVM class name.
    #[error("invalid main class name `{name}`: {reason}")]
    InvalidClassName {
        /// The name as given.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The file is not a zip archive.
    #[error(
        "{uri} is not a jar: {reason}; point to the jar built by your build (e.g. target/app.jar), not a source or text file"
    )]
    NotAZip {
        /// The file's URI.
        uri: String,
        /// What the check saw.
        reason: String,
    },
    /// The zip is damaged or uses something the check cannot read.
    #[error(
        "{uri} is a damaged or unsupported jar: {reason}; rebuild it with `jar` or your build tool and upload it again"
    )]
    CorruptJar {
        /// The jar's URI.
        uri: String,
        /// What is wrong.
        reason: String,
    },
    /// The class is not in the jar.
    #[error("{uri} has no class {class} (no entry {entry} among its {entries} entries){}", suggestion_text(.suggestions))]
    ClassNotFound {
        /// The jar's URI.
        uri: String,
        /// The class asked for, dotted.
        class: String,
        /// The entry that was looked for.
        entry: String,
        /// Entries in the jar.
        entries: u64,
        /// Classes in the jar with similar names, best first.
        suggestions: Vec<String>,
    },
    /// The class entry is not a valid class file.
    #[error("{uri}: {entry} is not a valid class file: {reason}; rebuild the jar")]
    BadClassFile {
        /// The jar's URI.
        uri: String,
        /// The entry read.
        entry: String,
        /// What is wrong.
        reason: String,
    },
    /// The class exists but has no `public static void main(String[])`.
    #[error("{uri}: class {class} has no `public static void main(String[] args)`{}; Spark calls that method, so add it to {class} or name the class that has it", other_mains_text(.other_mains))]
    NoMainMethod {
        /// The jar's URI.
        uri: String,
        /// The class, dotted.
        class: String,
        /// Methods called `main` that do not qualify, described.
        other_mains: Vec<String>,
    },
}

fn suggestion_text(suggestions: &[String]) -> String {
    if suggestions.is_empty() {
        "; check the class name in the descriptor and that the jar is the one built from your code".to_owned()
    } else {
        format!("; did you mean {}? Fix the class name in the descriptor", suggestions.join(", "))
    }
}

fn other_mains_text(other: &[String]) -> String {
    if other.is_empty() { String::new() } else { format!(" (found only {})", other.join(", ")) }
}

/// Up to five class names in the jar close to the one asked for: the same simple name in another
/// package, the same path under a prefix (`BOOT-INF/classes/`), or a small edit distance.
pub fn suggest<'a>(wanted: &ClassName, entry_names: impl Iterator<Item = &'a str>) -> Vec<String> {
    let wanted_internal = wanted.internal().to_ascii_lowercase();
    let wanted_simple = wanted_internal.rsplit('/').next().unwrap_or_default().to_owned();
    let mut scored: Vec<(usize, String)> = entry_names
        .filter_map(|name| name.strip_suffix(".class"))
        .filter(|n| !n.ends_with("module-info") && !n.ends_with("package-info"))
        .filter_map(|n| {
            let lower = n.to_ascii_lowercase();
            let simple = lower.rsplit('/').next().unwrap_or_default();
            let score = if lower == wanted_internal || lower.ends_with(&format!("/{wanted_internal}")) {
                0
            } else if simple == wanted_simple {
                1
            } else {
                let d = levenshtein(&lower, &wanted_internal);
                let limit = (wanted_internal.len() / 4).max(2);
                if d > limit {
                    return None;
                }
                1 + d
            };
            Some((score, n.replace('/', ".")))
        })
        .collect();
    scored.sort();
    scored.dedup_by(|a, b| a.1 == b.1);
    scored.into_iter().take(5).map(|(_, n)| n).collect()
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_names_with_dots_slashes_and_suffix() {
        for name in ["com.example.Main", "com/example/Main", "com.example.Main.class", " com/example/Main.class "] {
            assert_eq!(ClassName::parse(name).unwrap().entry_name(), "com/example/Main.class", "{name}");
        }
        assert_eq!(ClassName::parse("a.Outer$Inner").unwrap().entry_name(), "a/Outer$Inner.class");
        for bad in ["", ".class", "com..Main", "com.Main.", "/Main", "com example"] {
            assert!(ClassName::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn suggestions_prefer_same_simple_name_then_spelling() {
        let entries = [
            "com/acme/jobs/Main.class",
            "BOOT-INF/classes/com/example/Main.class",
            "com/example/Mian.class",
            "com/example/Other.class",
            "META-INF/MANIFEST.MF",
        ];
        let got = suggest(&ClassName::parse("com.example.Main").unwrap(), entries.into_iter());
        assert_eq!(got, ["BOOT-INF.classes.com.example.Main", "com.acme.jobs.Main", "com.example.Mian"]);
    }

    #[test]
    fn levenshtein_distances() {
        assert_eq!(levenshtein("kitten", "sitting"), 3);
        assert_eq!(levenshtein("", "abc"), 3);
        assert_eq!(levenshtein("same", "same"), 0);
    }
}
