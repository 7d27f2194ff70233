//! Fuzzes the class file parser: any bytes must parse or return an error, never panic.
#![no_main]

use consort_storage::jar::class;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    if let Ok(info) = class::parse_class(bytes) {
        let _ = info.java_main();
        let _ = info.other_mains().count();
    }
});
