//! Signed roots (pure): the service key (Ed25519), the exact bytes a root's signature covers,
//! and their verification with only the public key.
//!
//! Signed bytes of a root, all integers big-endian:
//!
//! ```text
//! "consort-ledger-root-v1" 0x00          23 bytes, the domain separator
//! len(cleanroom) u32 ‖ cleanroom UTF-8   the clean room's name, length-prefixed
//! size u64                               entries covered (0..size)
//! root [32]                              the RFC 6962 tree hash of those entries
//! at_ms i64                              when it was signed, ms since the epoch
//! ```

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};

use crate::{Hash, SignedRoot};

/// The domain separator that starts every root's signed bytes.
pub const ROOT_DOMAIN: &[u8] = b"consort-ledger-root-v1\0";

/// The DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410): the 32 key bytes follow.
const SPKI_PREFIX: [u8; 12] = [0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00];

/// The bytes a root's signature covers (see the module docs).
pub fn root_signed_bytes(cleanroom: &str, size: u64, root: &Hash, at_ms: i64) -> Vec<u8> {
    let mut b = Vec::with_capacity(ROOT_DOMAIN.len() + 4 + cleanroom.len() + 8 + 32 + 8);
    b.extend_from_slice(ROOT_DOMAIN);
    b.extend_from_slice(&(cleanroom.len() as u32).to_be_bytes());
    b.extend_from_slice(cleanroom.as_bytes());
    b.extend_from_slice(&size.to_be_bytes());
    b.extend_from_slice(root);
    b.extend_from_slice(&at_ms.to_be_bytes());
    b
}

/// A problem with a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// Not an Ed25519 PKCS#8 document.
    #[error("the service key is not an Ed25519 PKCS#8 (v1 or v2) document: {0}")]
    Pkcs8(String),
    /// The system's random source failed.
    #[error("could not generate a service key: the system random source failed")]
    Random,
    /// A public key that cannot be read.
    #[error(
        "cannot read the public key: {0}; give the PEM file `consort` wrote (BEGIN PUBLIC KEY), or the 32-byte raw key in base64 or hex"
    )]
    Public(String),
}

/// The clean room's service key: an Ed25519 key pair. Its `Debug` shows only the key id.
pub struct ServiceKey {
    pair: Ed25519KeyPair,
    public: PublicKey,
}

impl std::fmt::Debug for ServiceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceKey").field("key_id", &self.public.key_id()).field("private", &"<redacted>").finish()
    }
}

impl ServiceKey {
    /// Reads a key pair from its PKCS#8 document (DER), as [`ServiceKey::generate`] returns it.
    pub fn from_pkcs8(pkcs8: &[u8]) -> Result<Self, KeyError> {
        let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8).map_err(|e| KeyError::Pkcs8(e.to_string()))?;
        let raw: [u8; 32] =
            pair.public_key().as_ref().try_into().map_err(|_| KeyError::Pkcs8("public key length".into()))?;
        Ok(Self { pair, public: PublicKey(raw) })
    }

    /// A new random key and its PKCS#8 document (DER) to keep sealed.
    pub fn generate() -> Result<(Self, Vec<u8>), KeyError> {
        let rng = ring::rand::SystemRandom::new();
        let doc = Ed25519KeyPair::generate_pkcs8(&rng).map_err(|_| KeyError::Random)?;
        let key = Self::from_pkcs8(doc.as_ref())?;
        Ok((key, doc.as_ref().to_vec()))
    }

    /// The public half.
    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }

    /// Signs arbitrary bytes (64-byte Ed25519 signature).
    pub fn sign_bytes(&self, msg: &[u8]) -> [u8; 64] {
        self.pair.sign(msg).as_ref().try_into().expect("Ed25519 signatures are 64 bytes")
    }
}

/// An Ed25519 public key (32 raw bytes).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKey(pub [u8; 32]);

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PublicKey({})", self.to_base64())
    }
}

impl PublicKey {
    /// The raw 32 bytes.
    pub fn raw(&self) -> &[u8; 32] {
        &self.0
    }

    /// The key id: hex SHA-256 of the raw 32 bytes.
    pub fn key_id(&self) -> String {
        use sha2::{Digest, Sha256};
        hex::encode(Sha256::digest(self.0))
    }

    /// Standard base64 (with padding) of the raw bytes.
    pub fn to_base64(&self) -> String {
        B64.encode(self.0)
    }

    /// A PEM `PUBLIC KEY` (SubjectPublicKeyInfo, RFC 8410), as `openssl pkey -pubin` reads it.
    pub fn to_pem(&self) -> String {
        let mut der = SPKI_PREFIX.to_vec();
        der.extend_from_slice(&self.0);
        format!("-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n", B64.encode(der))
    }

    /// Reads a public key from a PEM `PUBLIC KEY`, or raw 32 bytes in base64 or hex (white space
    /// around it ignored).
    pub fn parse(text: &str) -> Result<Self, KeyError> {
        let t = text.trim();
        if let Some(rest) = t.strip_prefix("-----BEGIN PUBLIC KEY-----") {
            let body = rest
                .split("-----END PUBLIC KEY-----")
                .next()
                .ok_or_else(|| KeyError::Public("no END PUBLIC KEY line".into()))?;
            let b64: String = body.chars().filter(|c| !c.is_whitespace()).collect();
            let der = B64.decode(b64).map_err(|e| KeyError::Public(format!("PEM body is not base64: {e}")))?;
            let raw = der
                .strip_prefix(&SPKI_PREFIX[..])
                .ok_or_else(|| KeyError::Public("the PEM key is not an Ed25519 SubjectPublicKeyInfo".into()))?;
            return Self::from_raw(raw);
        }
        if t.len() == 64
            && let Ok(raw) = hex::decode(t)
        {
            return Self::from_raw(&raw);
        }
        let raw = B64.decode(t).map_err(|e| KeyError::Public(format!("neither PEM, hex nor base64 ({e})")))?;
        Self::from_raw(&raw)
    }

    /// From the raw 32 bytes.
    pub fn from_raw(raw: &[u8]) -> Result<Self, KeyError> {
        let a: [u8; 32] = raw
            .try_into()
            .map_err(|_| KeyError::Public(format!("an Ed25519 public key has 32 bytes, this one {}", raw.len())))?;
        Ok(Self(a))
    }

    /// Checks an Ed25519 signature.
    pub fn verify(&self, msg: &[u8], signature: &[u8]) -> bool {
        UnparsedPublicKey::new(&ED25519, &self.0).verify(msg, signature).is_ok()
    }
}

/// Why a signed root is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RootError {
    /// Signed by another key.
    #[error(
        "the root of size {size} was signed by key {got}, not by the given key {want}: verify with the clean room's service key"
    )]
    WrongKey {
        /// The root's size.
        size: u64,
        /// The key id the root names.
        got: String,
        /// The key id of the key given.
        want: String,
    },
    /// The root hash is not 64 hex digits.
    #[error("the root of size {size} has a malformed hash {root:?}: it must be 64 hex digits")]
    BadHash {
        /// The root's size.
        size: u64,
        /// What it holds.
        root: String,
    },
    /// The signature is not base64 of 64 bytes.
    #[error("the root of size {size} has a malformed signature: it must be base64 of 64 bytes")]
    BadSignatureEncoding {
        /// The root's size.
        size: u64,
    },
    /// The signature does not match.
    #[error(
        "the signature of the root of size {size} does not match its content: the root (clean room, size, hash or time) was changed or forged"
    )]
    BadSignature {
        /// The root's size.
        size: u64,
    },
}

/// Parses 64 hex digits.
pub fn parse_hash(s: &str) -> Option<Hash> {
    if s.len() != 64 {
        return None;
    }
    let v = hex::decode(s).ok()?;
    v.try_into().ok()
}

impl SignedRoot {
    /// Signs the root of `size` entries of `cleanroom`'s ledger.
    pub fn sign(key: &ServiceKey, cleanroom: &str, size: u64, root: &Hash, at_ms: i64) -> SignedRoot {
        let sig = key.sign_bytes(&root_signed_bytes(cleanroom, size, root, at_ms));
        SignedRoot {
            cleanroom: cleanroom.to_owned(),
            size,
            root: hex::encode(root),
            at_ms,
            key_id: key.public_key().key_id(),
            signature: B64.encode(sig),
        }
    }

    /// The bytes its signature covers, if its hash is well formed.
    pub fn signed_bytes(&self) -> Result<Vec<u8>, RootError> {
        let root = self.root_hash()?;
        Ok(root_signed_bytes(&self.cleanroom, self.size, &root, self.at_ms))
    }

    /// Its tree hash, decoded.
    pub fn root_hash(&self) -> Result<Hash, RootError> {
        parse_hash(&self.root).ok_or_else(|| RootError::BadHash { size: self.size, root: self.root.clone() })
    }

    /// Checks the signature with `key` and returns the decoded tree hash.
    pub fn verify(&self, key: &PublicKey) -> Result<Hash, RootError> {
        let want = key.key_id();
        if !self.key_id.eq_ignore_ascii_case(&want) {
            return Err(RootError::WrongKey { size: self.size, got: self.key_id.clone(), want });
        }
        let root = self.root_hash()?;
        let sig = B64.decode(&self.signature).map_err(|_| RootError::BadSignatureEncoding { size: self.size })?;
        if sig.len() != 64 {
            return Err(RootError::BadSignatureEncoding { size: self.size });
        }
        if !key.verify(&root_signed_bytes(&self.cleanroom, self.size, &root, self.at_ms), &sig) {
            return Err(RootError::BadSignature { size: self.size });
        }
        Ok(root)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_and_verify() {
        let (key, pkcs8) = ServiceKey::generate().unwrap();
        let again = ServiceKey::from_pkcs8(&pkcs8).unwrap();
        assert_eq!(key.public_key(), again.public_key());
        let root = crate::hash_leaf(b"x");
        let sr = SignedRoot::sign(&key, "room", 7, &root, 1_700_000_000_000);
        assert_eq!(sr.verify(key.public_key()).unwrap(), root);
        let mut bad = sr.clone();
        bad.size = 8;
        assert_eq!(bad.verify(key.public_key()), Err(RootError::BadSignature { size: 8 }));
        let mut bad = sr.clone();
        bad.cleanroom = "other".into();
        assert!(matches!(bad.verify(key.public_key()), Err(RootError::BadSignature { .. })));
        let mut bad = sr.clone();
        bad.at_ms += 1;
        assert!(matches!(bad.verify(key.public_key()), Err(RootError::BadSignature { .. })));
        let mut bad = sr.clone();
        bad.root = hex::encode(crate::hash_leaf(b"y"));
        assert!(matches!(bad.verify(key.public_key()), Err(RootError::BadSignature { .. })));
        let mut bad = sr.clone();
        bad.root = "zz".into();
        assert!(matches!(bad.verify(key.public_key()), Err(RootError::BadHash { .. })));
        let mut bad = sr.clone();
        bad.signature = "!!".into();
        assert!(matches!(bad.verify(key.public_key()), Err(RootError::BadSignatureEncoding { .. })));
        let (other, _) = ServiceKey::generate().unwrap();
        assert!(matches!(sr.verify(other.public_key()), Err(RootError::WrongKey { .. })));
        assert!(format!("{key:?}").contains("redacted"));
    }

    #[test]
    fn signed_bytes_layout() {
        let root = [7u8; 32];
        let b = root_signed_bytes("ab", 0x0102, &root, -1);
        let mut want = b"consort-ledger-root-v1\0".to_vec();
        want.extend_from_slice(&[0, 0, 0, 2, b'a', b'b']);
        want.extend_from_slice(&[0, 0, 0, 0, 0, 0, 1, 2]);
        want.extend_from_slice(&root);
        want.extend_from_slice(&[0xff; 8]);
        assert_eq!(b, want);
    }

    #[test]
    fn public_key_formats() {
        let (key, _) = ServiceKey::generate().unwrap();
        let pk = *key.public_key();
        assert_eq!(PublicKey::parse(&pk.to_pem()).unwrap(), pk);
        assert_eq!(PublicKey::parse(&pk.to_base64()).unwrap(), pk);
        assert_eq!(PublicKey::parse(&hex::encode(pk.0)).unwrap(), pk);
        assert!(PublicKey::parse("nonsense").is_err());
        assert!(PublicKey::parse("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----").is_err());
        assert_eq!(pk.key_id().len(), 64);
    }
}
