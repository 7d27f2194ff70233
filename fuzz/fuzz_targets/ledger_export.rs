//! Arbitrary bytes as a ledger export: parsing and verifying never panics, and whatever
//! verifies has entries 0..covered in order.
#![no_main]

use std::sync::LazyLock;

use consort_ledger::{Export, PublicKey, ServiceKey, verify_export};
use libfuzzer_sys::fuzz_target;

/// A fixed key (the input cannot carry valid signatures by it except by copying a seed's).
static KEY: LazyLock<PublicKey> = LazyLock::new(|| *ServiceKey::generate().expect("key").0.public_key());

fuzz_target!(|data: &[u8]| {
    let Ok(export) = Export::parse(data) else { return };
    if let Ok(report) = verify_export(&export, &KEY) {
        assert!(report.covered <= report.entries);
        for (i, e) in export.entries.iter().take(report.covered as usize).enumerate() {
            assert_eq!(e.entry.seq, i as u64);
        }
    }
});
