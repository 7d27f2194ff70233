//! Fuzzes the zip parsers as the jar check drives them: the input is a whole file; the end
//! record, the zip64 record, the central directory, every local header and every entry's
//! decompression must return errors, never panic.
#![no_main]

use consort_storage::jar::zip;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|file: &[u8]| {
    let len = file.len() as u64;
    let tail_start = len.saturating_sub(zip::MAX_TAIL) as usize;
    let Ok(end) = zip::parse_end_record(&file[tail_start..], len) else { return };
    let dir = match &end.zip64 {
        None => zip::directory(&end),
        Some(locator) => {
            let mut found = Err(zip::ZipError::Corrupt("none".into()));
            for pos in zip::zip64_record_candidates(locator) {
                let Some(record) = file.get(pos as usize..).map(|r| &r[..r.len().min(zip::ZIP64_EOCD_LEN as usize)])
                else {
                    continue;
                };
                if zip::is_zip64_record(record) {
                    found = zip::zip64_directory(record, pos);
                    break;
                }
            }
            found
        }
    };
    let Ok(dir) = dir else { return };
    let Some(end_pos) = dir.start.checked_add(dir.size) else { return };
    let Some(cd) = file.get(dir.start as usize..end_pos.min(len) as usize) else { return };
    let Ok(entries) = zip::parse_central_directory(cd) else { return };
    for entry in entries.iter().take(64) {
        let Some(pos) = dir.prefix.checked_add(entry.local_header_offset) else { continue };
        let Some(at) = file.get(pos as usize..) else { continue };
        let Ok(header) = zip::parse_local_header(at) else { continue };
        let start = header.data_offset() as usize;
        let Some(data) = at.get(start..).map(|d| &d[..d.len().min(entry.compressed_size as usize)]) else {
            continue;
        };
        let _ = zip::decompress(entry, data, 1 << 20);
    }
});
