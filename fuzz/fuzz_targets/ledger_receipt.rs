//! Arbitrary bytes as a ledger receipt: parsing and verifying never panics.
#![no_main]

use std::sync::LazyLock;

use consort_ledger::{PublicKey, Receipt, ServiceKey};
use libfuzzer_sys::fuzz_target;

static KEY: LazyLock<PublicKey> = LazyLock::new(|| *ServiceKey::generate().expect("key").0.public_key());

fuzz_target!(|data: &[u8]| {
    if let Ok(receipt) = Receipt::parse(data) {
        let _ = receipt.verify(&KEY);
        let _ = receipt.to_string();
    }
});
