//! Service keys derived from one master secret: each clean room's Ed25519 key is
//! HKDF-SHA256(master, salt "consort-ledger-service-key/1", info = the clean room's name).
//!
//! Why derived rather than generated and stored: every instance sharing the master secret (the
//! server's key file) signs with the same key without a key ever being written to the database,
//! and a clean room's key cannot be swapped by someone who can only write the database.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use ring::hkdf;

use crate::signing::ServiceKey;

/// The HKDF salt; a new version of the derivation changes it.
const SALT: &[u8] = b"consort-ledger-service-key/1";

/// The fixed DER prefix of a PKCS#8 v1 Ed25519 private key; the 32-byte seed follows.
const PKCS8_V1_PREFIX: [u8; 16] =
    [0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20];

/// The clean rooms' service keys, derived from a master secret and kept once derived.
pub struct DerivedServiceKeys {
    prk: hkdf::Prk,
    cache: Mutex<HashMap<String, Arc<ServiceKey>>>,
}

impl std::fmt::Debug for DerivedServiceKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DerivedServiceKeys").field("master", &"<redacted>").finish_non_exhaustive()
    }
}

struct Seed;

impl hkdf::KeyType for Seed {
    fn len(&self) -> usize {
        32
    }
}

impl DerivedServiceKeys {
    /// Keys derived from `master` (32 random bytes kept secret, the same on every instance).
    pub fn new(master: [u8; 32]) -> Self {
        DerivedServiceKeys { prk: hkdf::Salt::new(hkdf::HKDF_SHA256, SALT).extract(&master), cache: Mutex::default() }
    }

    /// The clean room's service key.
    pub fn key(&self, cleanroom: &str) -> Arc<ServiceKey> {
        let mut cache = self.cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(key) = cache.get(cleanroom) {
            return key.clone();
        }
        let info = [cleanroom.as_bytes()];
        let mut pkcs8 = PKCS8_V1_PREFIX.to_vec();
        pkcs8.resize(PKCS8_V1_PREFIX.len() + 32, 0);
        self.prk
            .expand(&info, Seed)
            .and_then(|okm| okm.fill(&mut pkcs8[PKCS8_V1_PREFIX.len()..]))
            .expect("32 bytes is a valid HKDF-SHA256 output length");
        let key = Arc::new(ServiceKey::from_pkcs8(&pkcs8).expect("a PKCS#8 v1 document of a 32-byte seed is valid"));
        cache.insert(cleanroom.to_string(), key.clone());
        key
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_key_per_clean_room_the_same_from_the_same_master() {
        let a = DerivedServiceKeys::new([1; 32]);
        let b = DerivedServiceKeys::new([1; 32]);
        let other = DerivedServiceKeys::new([2; 32]);
        assert_eq!(a.key("x").public_key(), b.key("x").public_key());
        assert_ne!(a.key("x").public_key(), a.key("y").public_key());
        assert_ne!(a.key("x").public_key(), other.key("x").public_key());
        let msg = b"root";
        assert!(a.key("x").public_key().verify(msg, &b.key("x").sign_bytes(msg)));
        assert!(!format!("{a:?}").contains("1, 1"), "the master never shows");
    }
}
