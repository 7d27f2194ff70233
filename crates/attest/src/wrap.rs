//! Answers encrypted to the attested runner's one-off key with HPKE (RFC 9180).
//!
//! Suite (fixed): mode_base (0x00), KEM DHKEM(X25519, HKDF-SHA256) (0x0020),
//! KDF HKDF-SHA256 (0x0001), AEAD AES-256-GCM (0x0002). Single-shot: one message
//! per encapsulation, empty AAD; `info` is chosen by the caller and binds the
//! answer to its context (see [`release_info`]). Any RFC 9180 implementation
//! (e.g. Python's `pyhpke` or `cryptography`'s HPKE) can unwrap it.

use hpke::aead::AesGcm256;
use hpke::kdf::HkdfSha256;
use hpke::kem::X25519HkdfSha256;
use hpke::{Deserializable, Kem as _, OpModeR, OpModeS, Serializable};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::AttestError;
use crate::seal::Secret;

/// The RFC 9180 KEM id: DHKEM(X25519, HKDF-SHA256).
pub const KEM_ID: u16 = 0x0020;
/// The RFC 9180 KDF id: HKDF-SHA256.
pub const KDF_ID: u16 = 0x0001;
/// The RFC 9180 AEAD id: AES-256-GCM.
pub const AEAD_ID: u16 = 0x0002;
/// Length of an X25519 public key and of `enc`.
pub const PUBLIC_KEY_LEN: usize = 32;

/// An HPKE-encrypted answer: the encapsulated key and the ciphertext (with its tag).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WrappedAnswer {
    /// The sender's encapsulated X25519 public key (32 bytes; standard base64 in JSON).
    #[serde(with = "crate::b64")]
    pub enc: Vec<u8>,
    /// AES-256-GCM ciphertext followed by its 16-byte tag (standard base64 in JSON).
    #[serde(with = "crate::b64")]
    pub ciphertext: Vec<u8>,
}

/// A one-off X25519 key pair for the receiving runner. Debug shows only the public key.
pub struct OneOffKeyPair {
    private_key: Zeroizing<Vec<u8>>,
    public_key: [u8; PUBLIC_KEY_LEN],
}

impl std::fmt::Debug for OneOffKeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OneOffKeyPair").field("public_key", &hex::encode(self.public_key)).finish_non_exhaustive()
    }
}

impl OneOffKeyPair {
    /// A fresh key pair from the operating system's random source.
    pub fn generate() -> Self {
        let (private_key, public_key) = X25519HkdfSha256::gen_keypair();
        let mut public = [0u8; PUBLIC_KEY_LEN];
        public.copy_from_slice(&public_key.to_bytes());
        Self { private_key: Zeroizing::new(private_key.to_bytes().to_vec()), public_key: public }
    }

    /// The 32-byte public key to bind in `report_data` and send with the request.
    pub fn public_key(&self) -> [u8; PUBLIC_KEY_LEN] {
        self.public_key
    }

    /// The 32-byte private key (to hand to another process of the same TEE); keep it secret.
    pub fn private_key(&self) -> &[u8] {
        &self.private_key
    }
}

/// The `info` string for releasing a secret: `consort-attest/v1 secret` and the clean
/// room, run and secret name, each preceded by its length as 4 big-endian bytes, so
/// an answer for one run or name cannot be opened as another's.
pub fn release_info(clean_room: &str, run_id: &str, secret_name: &str) -> Vec<u8> {
    length_prefixed(b"consort-attest/v1 secret", &[clean_room, run_id, secret_name])
}

/// The `info` string for a runner's session token: `consort-run/v1 session` and the clean
/// room and run, each preceded by its length as 4 big-endian bytes.
pub fn session_info(clean_room: &str, run_id: &str) -> Vec<u8> {
    length_prefixed(b"consort-run/v1 session", &[clean_room, run_id])
}

pub(crate) fn length_prefixed(label: &[u8], parts: &[&str]) -> Vec<u8> {
    let mut out = label.to_vec();
    for part in parts {
        // Names longer than 4 GiB are not names; saturate rather than panic.
        let len = u32::try_from(part.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(part.as_bytes());
    }
    out
}

/// Encrypts `plaintext` to the X25519 public key `recipient_public_key` (32 bytes) with `info`.
pub fn wrap_to(recipient_public_key: &[u8], info: &[u8], plaintext: &[u8]) -> Result<WrappedAnswer, AttestError> {
    let public_key = <X25519HkdfSha256 as hpke::Kem>::PublicKey::from_bytes(recipient_public_key).map_err(|_| {
        AttestError::InvalidKey {
            what: "one-off public key",
            problem: format!(
                "{} bytes that are not an X25519 public key; send the runner's 32-byte X25519 public key",
                recipient_public_key.len()
            ),
        }
    })?;
    let (enc, ciphertext) = hpke::single_shot_seal::<AesGcm256, HkdfSha256, X25519HkdfSha256>(
        &OpModeS::Base,
        &public_key,
        info,
        plaintext,
        &[],
    )
    .map_err(|error| AttestError::Wrap { problem: format!("encryption failed ({error})") })?;
    Ok(WrappedAnswer { enc: enc.to_bytes().to_vec(), ciphertext })
}

/// Decrypts an answer with the one-off private key (32 bytes) and the same `info`.
pub fn unwrap_with(private_key: &[u8], info: &[u8], answer: &WrappedAnswer) -> Result<Secret, AttestError> {
    let private_key = <X25519HkdfSha256 as hpke::Kem>::PrivateKey::from_bytes(private_key).map_err(|_| {
        AttestError::InvalidKey { what: "one-off private key", problem: "not a 32-byte X25519 private key".into() }
    })?;
    let enc = <X25519HkdfSha256 as hpke::Kem>::EncappedKey::from_bytes(&answer.enc).map_err(|_| AttestError::Wrap {
        problem: format!("enc is {} bytes, not a 32-byte X25519 public key", answer.enc.len()),
    })?;
    let plaintext = hpke::single_shot_open::<AesGcm256, HkdfSha256, X25519HkdfSha256>(
        &OpModeR::Base,
        &private_key,
        &enc,
        info,
        &answer.ciphertext,
        &[],
    )
    .map_err(|_| AttestError::Wrap {
        problem: "the answer does not decrypt: another key, another info string, or altered in transit".into(),
    })?;
    Ok(Secret::new(plaintext))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_with_the_same_info() {
        let pair = OneOffKeyPair::generate();
        let info = release_info("room", "run-1", "db-password");
        let answer = wrap_to(&pair.public_key(), &info, b"hunter2").unwrap();
        assert_eq!(answer.enc.len(), 32);
        assert_eq!(answer.ciphertext.len(), 7 + 16);
        assert_eq!(unwrap_with(pair.private_key(), &info, &answer).unwrap().expose(), b"hunter2");
    }

    #[test]
    fn another_key_info_or_altered_ciphertext_fails() {
        let pair = OneOffKeyPair::generate();
        let info = release_info("room", "run-1", "db-password");
        let answer = wrap_to(&pair.public_key(), &info, b"hunter2").unwrap();
        let other = OneOffKeyPair::generate();
        assert!(matches!(unwrap_with(other.private_key(), &info, &answer), Err(AttestError::Wrap { .. })));
        let other_run = release_info("room", "run-2", "db-password");
        assert!(matches!(unwrap_with(pair.private_key(), &other_run, &answer), Err(AttestError::Wrap { .. })));
        let mut altered = answer.clone();
        altered.ciphertext[0] ^= 1;
        assert!(matches!(unwrap_with(pair.private_key(), &info, &altered), Err(AttestError::Wrap { .. })));
    }

    #[test]
    fn answer_json_is_base64() {
        let answer = WrappedAnswer { enc: vec![0xFF; 2], ciphertext: vec![0xFB] };
        let json = serde_json::to_value(&answer).unwrap();
        assert_eq!(json, serde_json::json!({"enc": "//8=", "ciphertext": "+w=="}));
        assert_eq!(serde_json::from_value::<WrappedAnswer>(json).unwrap(), answer);
    }

    #[test]
    fn bad_public_key_is_named() {
        let error = wrap_to(&[1u8; 31], b"", b"x").unwrap_err();
        assert!(matches!(error, AttestError::InvalidKey { what: "one-off public key", .. }));
    }

    #[test]
    fn info_is_unambiguous() {
        assert_ne!(release_info("ab", "c", "d"), release_info("a", "bc", "d"));
    }

    #[test]
    fn debug_hides_the_private_key() {
        let pair = OneOffKeyPair::generate();
        let debug = format!("{pair:?}");
        assert!(!debug.contains(&hex::encode(pair.private_key())));
        assert!(debug.contains(&hex::encode(pair.public_key())));
    }
}
