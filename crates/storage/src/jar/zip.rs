//! Zip structure parsing from byte slices (no I/O): the end-of-central-directory record, its zip64
//! form, central directory entries and local file headers, so a caller can fetch only the ranges it
//! needs from a jar of any size.
//!
//! Offsets in a zip are relative to the start of the archive, which is not the start of the file
//! when a launcher script is prepended (`cat launcher.sh app.jar > app`). Like `java.util.zip`,
//! the parser locates the central directory from the end record's own position and its size, and
//! derives the length of such a prefix from the difference.

use std::fmt;

/// Signature of the end-of-central-directory record.
const EOCD_SIG: u32 = 0x0605_4b50;
/// Signature of the zip64 end-of-central-directory locator.
const ZIP64_LOCATOR_SIG: u32 = 0x0706_4b50;
/// Signature of the zip64 end-of-central-directory record.
const ZIP64_EOCD_SIG: u32 = 0x0606_4b50;
/// Signature of a central directory file header.
const CENTRAL_SIG: u32 = 0x0201_4b50;
/// Signature of a local file header.
const LOCAL_SIG: u32 = 0x0403_4b50;

/// Size of the fixed part of the end-of-central-directory record.
pub const EOCD_LEN: u64 = 22;
/// Size of the zip64 locator that precedes the end record in a zip64 archive.
pub const ZIP64_LOCATOR_LEN: u64 = 20;
/// Size of the fixed part of the zip64 end record.
pub const ZIP64_EOCD_LEN: u64 = 56;
/// Size of the fixed part of a local file header.
pub const LOCAL_HEADER_LEN: u64 = 30;
/// How many bytes at the end of a file can hold the end record: its fixed part plus the longest
/// comment (65,535 bytes).
pub const MAX_TAIL: u64 = EOCD_LEN + 65_535;

/// Why bytes could not be read as a zip archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ZipError {
    /// There is no end-of-central-directory record: the file is not a zip (or is truncated).
    NotAZip(String),
    /// The structures exist but contradict each other or the file's length.
    Corrupt(String),
}

impl fmt::Display for ZipError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ZipError::NotAZip(why) | ZipError::Corrupt(why) => f.write_str(why),
        }
    }
}

/// What the end-of-central-directory record (and, for zip64, its locator) says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndRecord {
    /// Where the end record starts in the file.
    pub eocd_pos: u64,
    /// Number of entries (from the 16-bit field; `u16::MAX` means "see zip64").
    pub entries: u64,
    /// Size of the central directory in bytes.
    pub cd_size: u64,
    /// Offset of the central directory relative to the start of the archive.
    pub cd_offset: u64,
    /// For zip64 archives: the locator's position in the file and the offset it gives for the zip64
    /// end record (relative to the start of the archive).
    pub zip64: Option<Zip64Locator>,
}

/// The zip64 end-of-central-directory locator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Zip64Locator {
    /// Where the locator starts in the file.
    pub pos: u64,
    /// Offset of the zip64 end record, relative to the start of the archive.
    pub record_offset: u64,
}

/// Where the central directory is in the file, and how long a prepended prefix is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Directory {
    /// Number of entries the directory declares.
    pub entries: u64,
    /// Position of the first central directory header in the file.
    pub start: u64,
    /// Size of the central directory in bytes.
    pub size: u64,
    /// Bytes before the archive proper (a launcher script); add it to every offset in the zip.
    pub prefix: u64,
}

/// Compression of one entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Method 0: the bytes are stored as they are.
    Stored,
    /// Method 8: raw deflate.
    Deflated,
    /// Any other method number, which the check does not decode.
    Other(u16),
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Compression::Stored => f.write_str("stored"),
            Compression::Deflated => f.write_str("deflated"),
            Compression::Other(m) => write!(f, "method {m}"),
        }
    }
}

/// One central directory entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CentralEntry {
    /// The entry's name as stored (UTF-8, invalid bytes replaced).
    pub name: String,
    /// General purpose flags (bit 0: encrypted).
    pub flags: u16,
    /// How the data is compressed.
    pub compression: Compression,
    /// Size of the data in the archive.
    pub compressed_size: u64,
    /// Size of the data once decompressed.
    pub uncompressed_size: u64,
    /// CRC-32 of the uncompressed data.
    pub crc32: u32,
    /// Offset of the local header, relative to the start of the archive.
    pub local_header_offset: u64,
}

impl CentralEntry {
    /// Whether the entry is encrypted (general purpose flag bit 0).
    pub fn is_encrypted(&self) -> bool {
        self.flags & 1 != 0
    }
}

/// The variable lengths of a local file header, which decide where the entry's data starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalHeader {
    /// Length of the file name that follows the fixed header.
    pub name_len: u64,
    /// Length of the extra field that follows the name.
    pub extra_len: u64,
}

impl LocalHeader {
    /// Offset of the entry's data from the start of the local header.
    pub fn data_offset(&self) -> u64 {
        LOCAL_HEADER_LEN + self.name_len + self.extra_len
    }
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at.checked_add(2)?)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at.checked_add(4)?)?.try_into().ok()?))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at.checked_add(8)?)?.try_into().ok()?))
}

/// Finds the end record in `tail`, the last bytes of a file of `file_len` bytes (`tail` ends at the
/// end of the file). Pass at least `min(file_len, MAX_TAIL)` bytes.
pub fn parse_end_record(tail: &[u8], file_len: u64) -> Result<EndRecord, ZipError> {
    let tail_len = tail.len() as u64;
    if tail_len > file_len {
        return Err(ZipError::Corrupt(format!("{tail_len} tail bytes given for a file of {file_len} bytes")));
    }
    let tail_start = file_len - tail_len;
    if tail.len() < EOCD_LEN as usize {
        return Err(ZipError::NotAZip(format!(
            "the file is {file_len} bytes long, too short for a zip end record ({EOCD_LEN} bytes)"
        )));
    }
    // Scan backwards: the record is 22 bytes plus a comment whose length it states. The last match
    // whose comment reaches exactly the end of the file wins; failing that, the last signature
    // found (some tools pad the end of the file).
    let mut fallback = None;
    let mut i = tail.len() - EOCD_LEN as usize;
    loop {
        if u32_at(tail, i) == Some(EOCD_SIG) {
            let comment_len = u64::from(u16_at(tail, i + 20).unwrap_or(0));
            let end = i as u64 + EOCD_LEN + comment_len;
            if end == tail_len {
                return end_record_at(tail, tail_start, i);
            }
            if end < tail_len && fallback.is_none() {
                fallback = Some(i);
            }
        }
        if i == 0 {
            break;
        }
        i -= 1;
    }
    match fallback {
        Some(i) => end_record_at(tail, tail_start, i),
        None => Err(ZipError::NotAZip(format!(
            "no zip end-of-central-directory record in the last {tail_len} bytes{}",
            if tail.starts_with(b"PK\x03\x04") || file_len == tail_len && tail.starts_with(b"PK") {
                " (the file starts like a zip, so it is probably truncated)"
            } else {
                ""
            }
        ))),
    }
}

fn end_record_at(tail: &[u8], tail_start: u64, i: usize) -> Result<EndRecord, ZipError> {
    let short = || ZipError::Corrupt("the end-of-central-directory record is cut short".to_owned());
    let entries = u64::from(u16_at(tail, i + 10).ok_or_else(short)?);
    let cd_size = u64::from(u32_at(tail, i + 12).ok_or_else(short)?);
    let cd_offset = u64::from(u32_at(tail, i + 16).ok_or_else(short)?);
    let eocd_pos = tail_start + i as u64;
    let zip64 =
        if i >= ZIP64_LOCATOR_LEN as usize && u32_at(tail, i - ZIP64_LOCATOR_LEN as usize) == Some(ZIP64_LOCATOR_SIG) {
            let l = i - ZIP64_LOCATOR_LEN as usize;
            Some(Zip64Locator { pos: tail_start + l as u64, record_offset: u64_at(tail, l + 8).ok_or_else(short)? })
        } else {
            None
        };
    Ok(EndRecord { eocd_pos, entries, cd_size, cd_offset, zip64 })
}

/// The candidate file positions of the zip64 end record for `locator`: where the locator says (no
/// prefix), and right before the locator (with a prefix, or any layout where it is adjacent).
pub fn zip64_record_candidates(locator: &Zip64Locator) -> [u64; 2] {
    [locator.record_offset, locator.pos.saturating_sub(ZIP64_EOCD_LEN)]
}

/// Resolves the central directory of a classic (non-zip64) archive.
pub fn directory(end: &EndRecord) -> Result<Directory, ZipError> {
    locate(end.eocd_pos, end.entries, end.cd_size, end.cd_offset)
}

/// Resolves the central directory of a zip64 archive from the bytes of its zip64 end record,
/// found at file position `record_pos`.
pub fn zip64_directory(record: &[u8], record_pos: u64) -> Result<Directory, ZipError> {
    if u32_at(record, 0) != Some(ZIP64_EOCD_SIG) {
        return Err(ZipError::Corrupt(format!("no zip64 end-of-central-directory record at byte {record_pos}")));
    }
    let short = || ZipError::Corrupt("the zip64 end-of-central-directory record is cut short".to_owned());
    let entries = u64_at(record, 32).ok_or_else(short)?;
    let cd_size = u64_at(record, 40).ok_or_else(short)?;
    let cd_offset = u64_at(record, 48).ok_or_else(short)?;
    locate(record_pos, entries, cd_size, cd_offset)
}

/// Whether `record` starts with the zip64 end record signature.
pub fn is_zip64_record(record: &[u8]) -> bool {
    u32_at(record, 0) == Some(ZIP64_EOCD_SIG)
}

fn locate(end_pos: u64, entries: u64, cd_size: u64, cd_offset: u64) -> Result<Directory, ZipError> {
    let start = end_pos.checked_sub(cd_size).ok_or_else(|| {
        ZipError::Corrupt(format!(
            "the central directory is said to be {cd_size} bytes long but the end record is at byte {end_pos}"
        ))
    })?;
    let prefix = start.checked_sub(cd_offset).ok_or_else(|| {
        ZipError::Corrupt(format!(
            "the central directory is said to start at byte {cd_offset} of the archive, past where it ends \
             (byte {start})"
        ))
    })?;
    Ok(Directory { entries, start, size: cd_size, prefix })
}

/// Parses every central directory header in `cd`. Stops with an error at the first malformed one.
pub fn parse_central_directory(cd: &[u8]) -> Result<Vec<CentralEntry>, ZipError> {
    let mut out = Vec::new();
    let mut at = 0usize;
    while at < cd.len() {
        match u32_at(cd, at) {
            Some(CENTRAL_SIG) => {}
            // Some writers put a digital signature (0x05054b50) or zip64 records after the headers.
            Some(_) if !out.is_empty() => break,
            _ => {
                return Err(ZipError::Corrupt(format!(
                    "no central directory header at byte {at} of the central directory"
                )));
            }
        }
        let short = || ZipError::Corrupt(format!("central directory header {} is cut short", out.len() + 1));
        let flags = u16_at(cd, at + 8).ok_or_else(short)?;
        let method = u16_at(cd, at + 10).ok_or_else(short)?;
        let crc32 = u32_at(cd, at + 16).ok_or_else(short)?;
        let mut compressed_size = u64::from(u32_at(cd, at + 20).ok_or_else(short)?);
        let mut uncompressed_size = u64::from(u32_at(cd, at + 24).ok_or_else(short)?);
        let name_len = usize::from(u16_at(cd, at + 28).ok_or_else(short)?);
        let extra_len = usize::from(u16_at(cd, at + 30).ok_or_else(short)?);
        let comment_len = usize::from(u16_at(cd, at + 32).ok_or_else(short)?);
        let mut local_header_offset = u64::from(u32_at(cd, at + 42).ok_or_else(short)?);
        let name_start = at + 46;
        let extra_start = name_start + name_len;
        let next = extra_start + extra_len + comment_len;
        let name = cd.get(name_start..extra_start).ok_or_else(short)?;
        let extra = cd.get(extra_start..extra_start + extra_len).ok_or_else(short)?;
        if next > cd.len() {
            return Err(short());
        }
        apply_zip64_extra(extra, &mut uncompressed_size, &mut compressed_size, &mut local_header_offset);
        out.push(CentralEntry {
            name: String::from_utf8_lossy(name).into_owned(),
            flags,
            compression: match method {
                0 => Compression::Stored,
                8 => Compression::Deflated,
                m => Compression::Other(m),
            },
            compressed_size,
            uncompressed_size,
            crc32,
            local_header_offset,
        });
        at = next;
    }
    Ok(out)
}

/// Replaces the 32-bit fields that are saturated (`0xFFFFFFFF`) with the values of the zip64
/// extended information extra field (id 1), in the order the format defines.
fn apply_zip64_extra(extra: &[u8], uncompressed: &mut u64, compressed: &mut u64, offset: &mut u64) {
    let mut at = 0usize;
    while let (Some(id), Some(len)) = (u16_at(extra, at), u16_at(extra, at + 2)) {
        let body_start = at + 4;
        let body_end = body_start + usize::from(len);
        let Some(body) = extra.get(body_start..body_end) else { return };
        if id == 1 {
            let mut field = 0usize;
            for value in [uncompressed, compressed, offset] {
                if *value == u64::from(u32::MAX) {
                    match u64_at(body, field) {
                        Some(v) => *value = v,
                        None => return,
                    }
                    field += 8;
                }
            }
            return;
        }
        at = body_end;
    }
}

/// Parses a local file header at the start of `bytes`.
pub fn parse_local_header(bytes: &[u8]) -> Result<LocalHeader, ZipError> {
    if u32_at(bytes, 0) != Some(LOCAL_SIG) {
        return Err(ZipError::Corrupt(
            "no local file header where the central directory points (the offsets are wrong)".to_owned(),
        ));
    }
    let short = || ZipError::Corrupt("the local file header is cut short".to_owned());
    Ok(LocalHeader {
        name_len: u64::from(u16_at(bytes, 26).ok_or_else(short)?),
        extra_len: u64::from(u16_at(bytes, 28).ok_or_else(short)?),
    })
}

/// Decompresses an entry's data, refusing to produce more than `limit` bytes.
pub fn decompress(entry: &CentralEntry, data: &[u8], limit: usize) -> Result<Vec<u8>, ZipError> {
    if entry.uncompressed_size > limit as u64 {
        return Err(ZipError::Corrupt(format!(
            "entry {} says it holds {} bytes, more than the {limit} bytes a class file may have here",
            entry.name, entry.uncompressed_size
        )));
    }
    let out = match entry.compression {
        Compression::Stored => data.to_vec(),
        Compression::Deflated => miniz_oxide::inflate::decompress_to_vec_with_limit(data, limit)
            .map_err(|e| ZipError::Corrupt(format!("entry {} does not inflate: {:?}", entry.name, e.status)))?,
        Compression::Other(m) => {
            return Err(ZipError::Corrupt(format!(
                "entry {} uses compression method {m}; only stored (0) and deflated (8) are read",
                entry.name
            )));
        }
    };
    if out.len() as u64 != entry.uncompressed_size {
        return Err(ZipError::Corrupt(format!(
            "entry {} decompressed to {} bytes but the central directory says {}",
            entry.name,
            out.len(),
            entry.uncompressed_size
        )));
    }
    if crc32(&out) != entry.crc32 {
        return Err(ZipError::Corrupt(format!("entry {} fails its CRC-32 check", entry.name)));
    }
    Ok(out)
}

/// CRC-32 (IEEE, reflected), as zip uses it.
pub fn crc32(bytes: &[u8]) -> u32 {
    const TABLE: [u32; 256] = {
        let mut table = [0u32; 256];
        let mut n = 0;
        while n < 256 {
            let mut c = n as u32;
            let mut k = 0;
            while k < 8 {
                c = if c & 1 != 0 { 0xEDB8_8320 ^ (c >> 1) } else { c >> 1 };
                k += 1;
            }
            table[n] = c;
            n += 1;
        }
        table
    };
    let mut crc = !0u32;
    for &b in bytes {
        crc = TABLE[((crc ^ u32::from(b)) & 0xFF) as usize] ^ (crc >> 8);
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_matches_the_standard_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn plain_text_is_not_a_zip() {
        let err = parse_end_record(b"hello, this is not a zip at all....", 35).unwrap_err();
        assert!(matches!(err, ZipError::NotAZip(_)), "{err:?}");
    }

    #[test]
    fn empty_zip_has_an_empty_directory() {
        let mut eocd = vec![0x50, 0x4b, 0x05, 0x06];
        eocd.extend([0u8; 18]);
        let end = parse_end_record(&eocd, 22).unwrap();
        let dir = directory(&end).unwrap();
        assert_eq!(dir, Directory { entries: 0, start: 0, size: 0, prefix: 0 });
        assert!(parse_central_directory(&[]).unwrap().is_empty());
    }

    #[test]
    fn directory_offset_past_its_end_is_corrupt() {
        let end = EndRecord { eocd_pos: 100, entries: 1, cd_size: 50, cd_offset: 80, zip64: None };
        assert!(matches!(directory(&end), Err(ZipError::Corrupt(_))));
    }
}
