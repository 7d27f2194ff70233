//! `check_jar`: drives the pure zip and class-file parsers with range reads through `Storage`,
//! counting every byte it reads.

use super::{ClassName, Compression, JarCheckError, JarReport, MainClass, Method, class, suggest, zip};
use crate::error::StorageError;
use crate::storage::Storage;

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
