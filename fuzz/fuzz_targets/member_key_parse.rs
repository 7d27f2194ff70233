//! Any bytes, as DER or as PEM text, must be read as a member key or certificate or
//! be refused without a panic; a public key that reads must survive its PEM round trip.
#![no_main]

use consort_signing::{MemberKeyPair, MemberPublicKey};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut publics = vec![MemberPublicKey::from_spki_der(data), MemberPublicKey::from_certificate_der(data)];
    let _ = MemberKeyPair::from_pkcs8_der(data).map(|k| k.key_id());
    if let Ok(text) = std::str::from_utf8(data) {
        publics.push(MemberPublicKey::from_pem(text));
        let _ = MemberKeyPair::from_pem(text).map(|k| k.key_id());
    }
    for public in publics {
        match public {
            Ok(key) => assert_eq!(MemberPublicKey::from_pem(&key.to_pem()).as_ref(), Ok(&key)),
            Err(err) => {
                let _ = err.to_string();
            }
        }
    }
});
