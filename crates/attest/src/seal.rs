//! Secrets sealed at rest: AES-256-GCM with a 32-byte key from a pluggable
//! [`KeyProvider`] and a random 96-bit nonce. The associated data
//! ([`secret_binding`]) binds the clean room and the secret's name, so a sealed
//! value moved to another name or clean room does not open.
//!
//! The default provider is [`crate::keyfile::LocalKeyFile`]; a cloud KMS (Azure Key
//! Vault, AWS KMS, …) implements the same [`KeyProvider`] trait by unwrapping a
//! data key per id.

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::AttestError;
use crate::wrap::length_prefixed;

/// The only sealed-secret format version.
pub const SEALED_VERSION: u32 = 1;

/// A plaintext secret: zeroed on drop, never shown by Debug.
#[derive(Clone)]
pub struct Secret(Zeroizing<Vec<u8>>);

impl Secret {
    /// Takes ownership of the bytes (they are zeroed when the secret is dropped).
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// The plaintext. Do not log it.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// A 32-byte AES-256-GCM key and its id: zeroed on drop, never shown by Debug.
#[derive(Clone)]
pub struct SealingKey {
    key_id: String,
    bytes: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealingKey").field("key_id", &self.key_id).finish_non_exhaustive()
    }
}

impl SealingKey {
    /// A key `bytes` (exactly 32) known by `key_id`.
    pub fn new(key_id: impl Into<String>, bytes: &[u8]) -> Result<Self, AttestError> {
        let key: [u8; 32] = bytes.try_into().map_err(|_| AttestError::InvalidKey {
            what: "sealing key",
            problem: format!("{} bytes, not 32; use a random 256-bit key", bytes.len()),
        })?;
        Ok(Self { key_id: key_id.into(), bytes: Zeroizing::new(key) })
    }

    /// The id recorded with everything sealed under this key.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    fn aead(&self) -> Result<LessSafeKey, AttestError> {
        UnboundKey::new(&AES_256_GCM, self.bytes.as_ref())
            .map(LessSafeKey::new)
            .map_err(|_| AttestError::Crypto { what: "AES-256-GCM key setup" })
    }
}

/// Where sealing keys come from. Synchronous: a remote KMS implementation caches
/// unwrapped data keys or is called off the async runtime.
pub trait KeyProvider: Send + Sync + std::fmt::Debug {
    /// The key to seal new secrets with.
    fn current_key(&self) -> Result<SealingKey, AttestError>;
    /// The key of id `key_id` (for opening secrets sealed earlier).
    fn key(&self, key_id: &str) -> Result<SealingKey, AttestError>;
}

/// A provider holding fixed keys in memory (for tests and for keys unwrapped elsewhere).
#[derive(Debug, Clone)]
pub struct StaticKeyProvider {
    keys: Vec<SealingKey>,
}

impl StaticKeyProvider {
    /// A provider whose current key is the first; fails if `keys` is empty.
    pub fn new(keys: Vec<SealingKey>) -> Result<Self, AttestError> {
        if keys.is_empty() {
            return Err(AttestError::KeyProvider {
                provider: "static".into(),
                problem: "no keys given; give at least the current sealing key".into(),
            });
        }
        Ok(Self { keys })
    }
}

impl KeyProvider for StaticKeyProvider {
    fn current_key(&self) -> Result<SealingKey, AttestError> {
        self.keys
            .first()
            .cloned()
            .ok_or_else(|| AttestError::KeyProvider { provider: "static".into(), problem: "no keys".into() })
    }

    fn key(&self, key_id: &str) -> Result<SealingKey, AttestError> {
        self.keys
            .iter()
            .find(|key| key.key_id == key_id)
            .cloned()
            .ok_or_else(|| AttestError::UnknownKey { provider: "static".into(), key_id: key_id.into() })
    }
}

/// A sealed secret as stored: JSON `{"version":1,"key_id":…,"nonce":base64,"ciphertext":base64}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SealedSecret {
    /// Format version ([`SEALED_VERSION`]).
    pub version: u32,
    /// The sealing key's id.
    pub key_id: String,
    /// The 12-byte AES-GCM nonce (standard base64 in JSON).
    #[serde(with = "crate::b64")]
    pub nonce: Vec<u8>,
    /// Ciphertext followed by the 16-byte tag (standard base64 in JSON).
    #[serde(with = "crate::b64")]
    pub ciphertext: Vec<u8>,
}

/// The associated data binding a sealed secret to its clean room and name:
/// `consort-attest/v1 sealed` then each part preceded by its 4-byte big-endian length.
pub fn secret_binding(clean_room: &str, secret_name: &str) -> Vec<u8> {
    length_prefixed(b"consort-attest/v1 sealed", &[clean_room, secret_name])
}

/// Seals `plaintext` under `key` with a fresh random nonce; `associated_data` (see
/// [`secret_binding`]) must be given again to open it.
pub fn seal(key: &SealingKey, associated_data: &[u8], plaintext: &[u8]) -> Result<SealedSecret, AttestError> {
    let mut nonce = [0u8; NONCE_LEN];
    SystemRandom::new().fill(&mut nonce).map_err(|_| AttestError::Crypto { what: "nonce generation" })?;
    let mut in_out = plaintext.to_vec();
    key.aead()?
        .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(associated_data), &mut in_out)
        .map_err(|_| AttestError::Crypto { what: "AES-256-GCM sealing" })?;
    Ok(SealedSecret { version: SEALED_VERSION, key_id: key.key_id.clone(), nonce: nonce.to_vec(), ciphertext: in_out })
}

/// Opens `sealed` with `key` and the same `associated_data` it was sealed with.
pub fn open(key: &SealingKey, associated_data: &[u8], sealed: &SealedSecret) -> Result<Secret, AttestError> {
    if sealed.version != SEALED_VERSION {
        return Err(AttestError::MalformedSealedSecret {
            problem: format!("version {} is not supported (only {SEALED_VERSION})", sealed.version),
        });
    }
    let nonce: [u8; NONCE_LEN] =
        sealed.nonce.as_slice().try_into().map_err(|_| AttestError::MalformedSealedSecret {
            problem: format!("nonce is {} bytes, not {NONCE_LEN}", sealed.nonce.len()),
        })?;
    if key.key_id != sealed.key_id {
        return Err(AttestError::SealedSecretRejected { key_id: sealed.key_id.clone() });
    }
    let mut in_out = Zeroizing::new(sealed.ciphertext.clone());
    let plaintext = key
        .aead()?
        .open_in_place(Nonce::assume_unique_for_key(nonce), Aad::from(associated_data), &mut in_out)
        .map_err(|_| AttestError::SealedSecretRejected { key_id: sealed.key_id.clone() })?;
    Ok(Secret::new(plaintext.to_vec()))
}

/// Opens `sealed` with the provider's key of its `key_id`.
pub fn open_with(
    provider: &dyn KeyProvider,
    associated_data: &[u8],
    sealed: &SealedSecret,
) -> Result<Secret, AttestError> {
    open(&provider.key(&sealed.key_id)?, associated_data, sealed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: &str, byte: u8) -> SealingKey {
        SealingKey::new(id, &[byte; 32]).unwrap()
    }

    #[test]
    fn seal_then_open_round_trips_through_json() {
        let key = key("k1", 7);
        let binding = secret_binding("room", "db-password");
        let sealed = seal(&key, &binding, b"hunter2").unwrap();
        assert_eq!(sealed.key_id, "k1");
        assert_eq!(sealed.nonce.len(), 12);
        assert_eq!(sealed.ciphertext.len(), 7 + 16);
        let stored = serde_json::to_string(&sealed).unwrap();
        assert!(!stored.contains("hunter2"));
        let restored: SealedSecret = serde_json::from_str(&stored).unwrap();
        assert_eq!(open(&key, &binding, &restored).unwrap().expose(), b"hunter2");
    }

    #[test]
    fn nonces_differ_between_seals() {
        let key = key("k1", 7);
        let first = seal(&key, b"ad", b"same").unwrap();
        let second = seal(&key, b"ad", b"same").unwrap();
        assert_ne!(first.nonce, second.nonce);
        assert_ne!(first.ciphertext, second.ciphertext);
    }

    #[test]
    fn another_name_room_key_or_altered_bytes_do_not_open() {
        let key = key("k1", 7);
        let sealed = seal(&key, &secret_binding("room", "a"), b"hunter2").unwrap();
        let rejected = Some(AttestError::SealedSecretRejected { key_id: "k1".into() });
        assert_eq!(open(&key, &secret_binding("room", "b"), &sealed).err(), rejected);
        assert_eq!(open(&key, &secret_binding("other room", "a"), &sealed).err(), rejected);
        assert_eq!(
            open(&SealingKey::new("k1", &[8; 32]).unwrap(), &secret_binding("room", "a"), &sealed).err(),
            rejected
        );
        let mut altered = sealed.clone();
        altered.ciphertext[3] ^= 0x80;
        assert_eq!(open(&key, &secret_binding("room", "a"), &altered).err(), rejected);
    }

    #[test]
    fn malformed_sealed_secrets_are_named() {
        let key = key("k1", 7);
        let mut sealed = seal(&key, b"", b"x").unwrap();
        sealed.nonce.pop();
        assert!(matches!(open(&key, b"", &sealed), Err(AttestError::MalformedSealedSecret { .. })));
        sealed.version = 2;
        assert!(matches!(open(&key, b"", &sealed), Err(AttestError::MalformedSealedSecret { .. })));
    }

    #[test]
    fn static_provider_finds_keys_by_id() {
        let provider = StaticKeyProvider::new(vec![key("new", 1), key("old", 2)]).unwrap();
        let sealed_old = seal(&key("old", 2), b"ad", b"v").unwrap();
        assert_eq!(open_with(&provider, b"ad", &sealed_old).unwrap().expose(), b"v");
        assert_eq!(provider.current_key().unwrap().key_id(), "new");
        assert!(matches!(provider.key("gone"), Err(AttestError::UnknownKey { .. })));
        assert!(StaticKeyProvider::new(vec![]).is_err());
    }

    #[test]
    fn debug_redacts_keys_and_secrets() {
        let key = key("k1", 0xAB);
        assert_eq!(format!("{:?}", Secret::new(b"hunter2".to_vec())), "Secret(<redacted>)");
        let debug = format!("{key:?}");
        assert!(debug.contains("k1") && !debug.contains("171") && !debug.to_lowercase().contains("abab"));
        assert!(matches!(SealingKey::new("k", &[0; 16]), Err(AttestError::InvalidKey { .. })));
    }
}
