//! The jar check: proves that a jar exists, is a zip, holds the named class, and that the class has
//! `public static void main(String[])`, reading only the zip's end record, its central directory
//! and that one entry with range reads, so the cost does not grow with the jar's size.
//!
//! The parsing lives in `zip` and `class` and does no I/O; `check_jar` drives it with range reads.

pub mod class;
pub mod zip;

use std::fmt;

use crate::error::StorageError;
use crate::storage::Storage;

pub use class::{ClassInfo, Method};
pub use zip::Compression;

/// The largest class file the check will decompress.
const MAX_CLASS_BYTES: usize = 64 << 20;
/// The largest central directory the check will read (about a million entries).
const MAX_DIRECTORY_BYTES: u64 = 256 << 20;
/// Bytes read at the end of the file first: enough for the end record of a jar without a long
/// comment, and for the central directory of a jar of a few hundred entries.
const FIRST_TAIL: u64 = 16 << 10;
/// Bytes read past a local header's fixed part in the same request, to cover its name and extra
/// field and so save a round trip.
const LOCAL_HEADER_SLACK: u64 = 512;

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

/// Joins two byte runs.
fn concat(head: bytes::Bytes, rest: &[u8]) -> bytes::Bytes {
    let mut v = Vec::with_capacity(head.len() + rest.len());
    v.extend_from_slice(&head);
    v.extend_from_slice(rest);
    v.into()
}

/// Reads through `storage` while counting what it reads.
struct Meter<'a> {
    storage: &'a Storage,
    uri: &'a str,
    bytes: u64,
    reads: u32,
}

impl Meter<'_> {
    async fn read(&mut self, start: u64, end: u64) -> Result<bytes::Bytes, StorageError> {
        let b = self.storage.read_range(self.uri, start..end).await?;
        self.bytes += b.len() as u64;
        self.reads += 1;
        Ok(b)
    }
}

/// Checks the jar at `uri`: it exists, is a zip, and — when `class` is given — holds that class
/// with `public static void main(String[])`. Reads the end record, the central directory and the
/// class entry only.
pub async fn check_jar(storage: &Storage, uri: &str, class: Option<&str>) -> Result<JarReport, JarCheckError> {
    let class = class.map(ClassName::parse).transpose()?;
    let meta = storage.stat(uri).await?;
    if meta.is_dir {
        return Err(StorageError::IsDirectory { uri: uri.to_owned() }.into());
    }
    let size = meta.len;
    let mut m = Meter { storage, uri, bytes: 0, reads: 0 };
    let not_zip = |reason: String| JarCheckError::NotAZip { uri: uri.to_owned(), reason };
    let corrupt = |reason: String| JarCheckError::CorruptJar { uri: uri.to_owned(), reason };
    let zip_err = |e: zip::ZipError| match e {
        zip::ZipError::NotAZip(r) => not_zip(r),
        zip::ZipError::Corrupt(r) => corrupt(r),
    };

    // 1. The tail: end record (and usually the whole central directory of a small jar). Most jars
    //    have no archive comment, so a short tail holds the end record; a long comment costs one
    //    more read for the rest of the 64 KiB the record may hide in.
    let mut tail_start = size.saturating_sub(FIRST_TAIL);
    let mut tail = m.read(tail_start, size).await?;
    let end = match zip::parse_end_record(&tail, size) {
        Ok(end) => end,
        Err(zip::ZipError::NotAZip(_)) if tail_start > 0 && size - tail_start < zip::MAX_TAIL => {
            let start = size.saturating_sub(zip::MAX_TAIL);
            tail = concat(m.read(start, tail_start).await?, &tail);
            tail_start = start;
            zip::parse_end_record(&tail, size).map_err(zip_err)?
        }
        Err(e) => return Err(zip_err(e)),
    };
    let from_tail = |start: u64, len: u64| -> Option<&[u8]> {
        let s = start.checked_sub(tail_start)? as usize;
        tail.get(s..s.checked_add(len as usize)?)
    };

    // 2. Zip64: the zip64 end record says where the directory is.
    let dir = match &end.zip64 {
        None => zip::directory(&end).map_err(zip_err)?,
        Some(locator) => {
            let mut found = None;
            for pos in zip::zip64_record_candidates(locator) {
                if pos.checked_add(zip::ZIP64_EOCD_LEN).is_none_or(|e| e > size) {
                    continue;
                }
                let record = match from_tail(pos, zip::ZIP64_EOCD_LEN) {
                    Some(b) => bytes::Bytes::copy_from_slice(b),
                    None => m.read(pos, pos + zip::ZIP64_EOCD_LEN).await?,
                };
                if zip::is_zip64_record(&record) {
                    found = Some(zip::zip64_directory(&record, pos).map_err(zip_err)?);
                    break;
                }
            }
            found.ok_or_else(|| corrupt("the zip64 locator points to no zip64 end record".to_owned()))?
        }
    };
    if dir.size > MAX_DIRECTORY_BYTES {
        return Err(corrupt(format!(
            "its central directory is {} bytes, more than the {MAX_DIRECTORY_BYTES} bytes the check reads",
            dir.size
        )));
    }

    // 3. The central directory.
    let cd_end = dir.start.checked_add(dir.size).filter(|&e| e <= size).ok_or_else(|| {
        corrupt(format!(
            "its central directory ({} bytes at byte {}) runs past the end of the file",
            dir.size, dir.start
        ))
    })?;
    let cd = match from_tail(dir.start, dir.size) {
        Some(b) => bytes::Bytes::copy_from_slice(b),
        // The directory straddles the tail: fetch only the part before it.
        None if dir.start < tail_start && cd_end > tail_start => {
            let head = m.read(dir.start, tail_start).await?;
            let rest = from_tail(tail_start, cd_end - tail_start).unwrap_or_default();
            concat(head, rest)
        }
        None => m.read(dir.start, cd_end).await?,
    };
    let entries = zip::parse_central_directory(&cd).map_err(zip_err)?;
    let mut report = JarReport {
        uri: uri.to_owned(),
        size,
        entries: entries.len() as u64,
        prefix_len: dir.prefix,
        zip64: end.zip64.is_some(),
        class: None,
        bytes_read: 0,
        reads: 0,
    };
    let Some(class) = class else {
        report.bytes_read = m.bytes;
        report.reads = m.reads;
        return Ok(report);
    };

    // 4. The class entry: local header and data in one read when the header is ordinary.
    let entry_name = class.entry_name();
    let Some(entry) = entries.iter().find(|e| e.name == entry_name) else {
        return Err(JarCheckError::ClassNotFound {
            uri: uri.to_owned(),
            class: class.dotted(),
            entry: entry_name,
            entries: entries.len() as u64,
            suggestions: suggest(&class, entries.iter().map(|e| e.name.as_str())),
        });
    };
    if entry.is_encrypted() {
        return Err(corrupt(format!("entry {entry_name} is encrypted; the check reads only unencrypted jars")));
    }
    if let Compression::Other(method) = entry.compression {
        return Err(corrupt(format!(
            "entry {entry_name} uses compression method {method}; only stored and deflated entries are read"
        )));
    }
    if entry.compressed_size > MAX_CLASS_BYTES as u64 || entry.uncompressed_size > MAX_CLASS_BYTES as u64 {
        return Err(corrupt(format!(
            "entry {entry_name} says it is {} bytes ({} compressed), more than the {MAX_CLASS_BYTES} bytes a class file may have here",
            entry.uncompressed_size, entry.compressed_size
        )));
    }
    let header_pos = dir
        .prefix
        .checked_add(entry.local_header_offset)
        .filter(|&p| p < size)
        .ok_or_else(|| corrupt(format!("entry {entry_name} points past the end of the file")))?;
    let guess_end = header_pos
        .saturating_add(zip::LOCAL_HEADER_LEN + entry_name.len() as u64 + LOCAL_HEADER_SLACK)
        .saturating_add(entry.compressed_size)
        .min(size);
    let first = m.read(header_pos, guess_end).await?;
    let header = zip::parse_local_header(&first).map_err(zip_err)?;
    let data_start = header.data_offset();
    let data_end = data_start + entry.compressed_size;
    let data = if data_end <= first.len() as u64 {
        first.slice(data_start as usize..data_end as usize)
    } else {
        let abs_start = header_pos + data_start;
        let abs_end = abs_start + entry.compressed_size;
        if abs_end > size {
            return Err(corrupt(format!("entry {entry_name} runs past the end of the file")));
        }
        m.read(abs_start, abs_end).await?
    };
    let bytes = zip::decompress(entry, &data, MAX_CLASS_BYTES).map_err(zip_err)?;

    // 5. The class file's method table.
    let bad_class =
        |reason: String| JarCheckError::BadClassFile { uri: uri.to_owned(), entry: entry_name.clone(), reason };
    let info = class::parse_class(&bytes).map_err(|e| bad_class(e.0))?;
    if info.this_class != class.internal() {
        return Err(bad_class(format!("it declares class {} instead of {}", info.this_class, class.internal())));
    }
    if info.java_main().is_none() {
        return Err(JarCheckError::NoMainMethod {
            uri: uri.to_owned(),
            class: class.dotted(),
            other_mains: info.other_mains().map(describe_method).collect(),
        });
    }
    report.class = Some(MainClass {
        name: class.dotted(),
        entry: entry_name,
        compression: entry.compression,
        class_size: entry.uncompressed_size,
        major_version: info.major_version,
    });
    report.bytes_read = m.bytes;
    report.reads = m.reads;
    Ok(report)
}

fn describe_method(m: &Method) -> String {
    let mut flags = Vec::new();
    if m.access & class::ACC_PUBLIC != 0 {
        flags.push("public");
    }
    if m.access & class::ACC_STATIC != 0 {
        flags.push("static");
    }
    if flags.is_empty() {
        flags.push("non-public");
    }
    format!("{} main{}", flags.join(" "), m.descriptor)
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
