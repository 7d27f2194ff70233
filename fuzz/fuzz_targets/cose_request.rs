//! Any bytes must parse as a governance request or be refused without a panic; a
//! parsed request must verify or be refused without a panic against fixed keys of
//! every algorithm; and whatever verifies must keep the digest it parsed with and
//! be admitted at its own creation time.
//!
//! The keys are the crate's OpenSSL test keys. `seeds/cose_request/` holds requests
//! signed with them, so the fuzzer starts past the key id and signature checks.
#![no_main]

use consort_signing::{MemberPublicKey, ReplayGuard, parse_request};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn keys() -> &'static [MemberPublicKey] {
    static KEYS: OnceLock<Vec<MemberPublicKey>> = OnceLock::new();
    KEYS.get_or_init(|| {
        [
            include_str!("../../crates/signing/tests/data/openssl/p256-sec1.pub.pem"),
            include_str!("../../crates/signing/tests/data/openssl/p384-sec1.pub.pem"),
            include_str!("../../crates/signing/tests/data/openssl/ed25519-openssl.pub.pem"),
        ]
        .iter()
        .map(|pem| MemberPublicKey::from_pem(pem).expect("test key"))
        .collect()
    })
}

fuzz_target!(|data: &[u8]| {
    let request = match parse_request(data) {
        Ok(request) => request,
        Err(err) => {
            let _ = err.to_string();
            return;
        }
    };
    let _ = format!("{request:?}");
    for key in keys() {
        match request.verify(key) {
            Ok(verified) => {
                assert_eq!(&verified.digest, request.digest());
                assert_eq!(&verified.header, request.header());
                let guard = ReplayGuard::default();
                assert!(guard.admit(&verified, verified.header.created_at, |_| false).is_ok());
            }
            Err(err) => {
                let _ = err.to_string();
            }
        }
    }
});
