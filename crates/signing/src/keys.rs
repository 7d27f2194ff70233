//! Member keys: generation, PEM import and export, key ids, signatures.
//!
//! A clean-room member signs governance requests with a private key that never
//! leaves their machine; the clean room keeps only the public half, as a bare
//! SubjectPublicKeyInfo ("PUBLIC KEY" PEM) or inside an X.509 certificate.
//! Three algorithms, all through `ring`: ECDSA P-256 with SHA-256, ECDSA P-384
//! with SHA-384, and Ed25519.
//!
//! Private keys are PKCS#8 documents. [`MemberKeyPair`]'s `Debug` prints the
//! algorithm and key id only, and no error of this module carries key bytes.

use std::fmt;

use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, UnparsedPublicKey};
use x509_cert::der::Decode as _;
use x509_cert::der::Encode as _;
use x509_cert::spki::{ObjectIdentifier, SubjectPublicKeyInfoRef};

/// id-ecPublicKey (RFC 5480).
const OID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
/// secp256r1 (RFC 5480).
const OID_P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
/// secp384r1 (RFC 5480).
const OID_P384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
/// id-Ed25519 (RFC 8410).
const OID_ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");

/// The DER of a SubjectPublicKeyInfo up to the key bytes, per algorithm. DER is
/// canonical, so every valid SPKI of these algorithms starts with exactly these
/// bytes: building it by concatenation needs no encoder.
const SPKI_PREFIX_P256: &[u8] = &[
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce,
    0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];
const SPKI_PREFIX_P384: &[u8] = &[
    0x30, 0x76, 0x30, 0x10, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x05, 0x2b, 0x81, 0x04, 0x00,
    0x22, 0x03, 0x62, 0x00,
];
const SPKI_PREFIX_ED25519: &[u8] = &[0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00];

/// The AlgorithmIdentifier DER of an EC key on each curve, used to wrap a SEC1
/// "EC PRIVATE KEY" into PKCS#8 (ring reads only PKCS#8).
const PKCS8_ALG_P256: &[u8] = &[
    0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03,
    0x01, 0x07,
];
const PKCS8_ALG_P384: &[u8] =
    &[0x30, 0x10, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22];

/// The signature algorithm of a member key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyAlgorithm {
    /// ECDSA on P-256 with SHA-256 (COSE `ES256`, -7).
    EcdsaP256,
    /// ECDSA on P-384 with SHA-384 (COSE `ES384`, -35).
    EcdsaP384,
    /// Ed25519 (COSE `EdDSA`, -8).
    Ed25519,
}

impl KeyAlgorithm {
    /// Every supported algorithm, in the order a CLI lists them.
    pub const ALL: [KeyAlgorithm; 3] = [KeyAlgorithm::EcdsaP256, KeyAlgorithm::EcdsaP384, KeyAlgorithm::Ed25519];

    /// The name used on the command line and in messages: `p256`, `p384` or `ed25519`.
    pub fn name(self) -> &'static str {
        match self {
            KeyAlgorithm::EcdsaP256 => "p256",
            KeyAlgorithm::EcdsaP384 => "p384",
            KeyAlgorithm::Ed25519 => "ed25519",
        }
    }

    /// The COSE algorithm name (IANA "COSE Algorithms"): `ES256`, `ES384` or `EdDSA`.
    pub fn cose_name(self) -> &'static str {
        match self {
            KeyAlgorithm::EcdsaP256 => "ES256",
            KeyAlgorithm::EcdsaP384 => "ES384",
            KeyAlgorithm::Ed25519 => "EdDSA",
        }
    }

    /// The length of a signature in COSE form (raw `r‖s` for ECDSA).
    pub fn signature_len(self) -> usize {
        match self {
            KeyAlgorithm::EcdsaP256 | KeyAlgorithm::Ed25519 => 64,
            KeyAlgorithm::EcdsaP384 => 96,
        }
    }

    fn spki_prefix(self) -> &'static [u8] {
        match self {
            KeyAlgorithm::EcdsaP256 => SPKI_PREFIX_P256,
            KeyAlgorithm::EcdsaP384 => SPKI_PREFIX_P384,
            KeyAlgorithm::Ed25519 => SPKI_PREFIX_ED25519,
        }
    }

    /// The public key's length in bytes (an uncompressed point for ECDSA).
    fn public_key_len(self) -> usize {
        match self {
            KeyAlgorithm::EcdsaP256 => 65,
            KeyAlgorithm::EcdsaP384 => 97,
            KeyAlgorithm::Ed25519 => 32,
        }
    }

    fn verification(self) -> &'static dyn signature::VerificationAlgorithm {
        match self {
            // COSE carries ECDSA signatures as fixed-length r‖s (RFC 9053 §2.1), which is ring's FIXED form.
            KeyAlgorithm::EcdsaP256 => &signature::ECDSA_P256_SHA256_FIXED,
            KeyAlgorithm::EcdsaP384 => &signature::ECDSA_P384_SHA384_FIXED,
            KeyAlgorithm::Ed25519 => &signature::ED25519,
        }
    }

    fn ecdsa_signing(self) -> Option<&'static signature::EcdsaSigningAlgorithm> {
        match self {
            KeyAlgorithm::EcdsaP256 => Some(&signature::ECDSA_P256_SHA256_FIXED_SIGNING),
            KeyAlgorithm::EcdsaP384 => Some(&signature::ECDSA_P384_SHA384_FIXED_SIGNING),
            KeyAlgorithm::Ed25519 => None,
        }
    }
}

impl fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for KeyAlgorithm {
    type Err = KeyError;

    /// Accepts `p256`/`es256`/`ecdsa-p256`, `p384`/`es384`/`ecdsa-p384` and `ed25519`/`eddsa`, in any case.
    fn from_str(s: &str) -> Result<Self, KeyError> {
        match s.to_ascii_lowercase().as_str() {
            "p256" | "p-256" | "es256" | "ecdsa-p256" => Ok(KeyAlgorithm::EcdsaP256),
            "p384" | "p-384" | "es384" | "ecdsa-p384" => Ok(KeyAlgorithm::EcdsaP384),
            "ed25519" | "eddsa" => Ok(KeyAlgorithm::Ed25519),
            _ => Err(KeyError::UnknownAlgorithmName { name: s.chars().take(64).collect() }),
        }
    }
}

/// A problem with a key, a certificate or a signature.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// An algorithm name that is not one of ours.
    #[error("the key algorithm {name:?} is not supported; use one of p256, p384 or ed25519")]
    UnknownAlgorithmName {
        /// The name given (at most 64 characters of it).
        name: String,
    },
    /// The text is not PEM, or holds no block of a kind we read.
    #[error("the {what} is not a PEM file we can read: {detail}; {fix}")]
    Pem {
        /// What was being read ("private key", "public key").
        what: &'static str,
        /// What is wrong with it.
        detail: String,
        /// What to give instead.
        fix: &'static str,
    },
    /// A private key that ring refuses (wrong format, wrong curve, inconsistent).
    #[error(
        "the private key is not a usable {expected} key: {detail}; give a PKCS#8 \"PRIVATE KEY\" PEM \
         (or a SEC1 \"EC PRIVATE KEY\" for ECDSA) as written by `consort member keygen` or openssl"
    )]
    PrivateKeyRejected {
        /// The key kinds that were tried.
        expected: &'static str,
        /// ring's reason.
        detail: String,
    },
    /// A SubjectPublicKeyInfo that is not DER, or whose key bytes do not fit the algorithm.
    #[error(
        "the public key is malformed: {detail}; give a \"PUBLIC KEY\" PEM (SubjectPublicKeyInfo) or a \
         \"CERTIFICATE\" PEM"
    )]
    MalformedPublicKey {
        /// What is wrong with it.
        detail: String,
    },
    /// A public key of an algorithm we do not support (RSA, another curve, compressed points).
    #[error(
        "the public key's algorithm {algorithm} is not supported; member keys must be ECDSA P-256 or P-384 \
         (uncompressed points) or Ed25519: make one with `consort member keygen`"
    )]
    UnsupportedPublicKey {
        /// The algorithm (and curve) OIDs found.
        algorithm: String,
    },
    /// An X.509 certificate that does not parse.
    #[error("the certificate is not a DER X.509 certificate: {detail}; give the member's certificate PEM unchanged")]
    MalformedCertificate {
        /// The parser's reason.
        detail: String,
    },
    /// The system's random source failed (key generation or ECDSA signing).
    #[error("the system random source failed while {doing}; retry, and check the OS entropy source")]
    RandomSourceFailed {
        /// What needed randomness.
        doing: &'static str,
    },
    /// A signature made by another algorithm than the key's.
    #[error(
        "the signature algorithm {claimed} does not match the key's algorithm {key}; sign with the member's \
         own key, whose algorithm is {key}"
    )]
    AlgorithmMismatch {
        /// The algorithm the signed message names.
        claimed: KeyAlgorithm,
        /// The key's algorithm.
        key: KeyAlgorithm,
    },
    /// The signature does not verify.
    #[error("the signature does not verify with the key {key_id}: it was made by another key or the data changed")]
    BadSignature {
        /// The key id of the key tried.
        key_id: String,
    },
    /// Building a certificate failed.
    #[error("could not build the certificate: {detail}; check the subject name and validity period")]
    Certificate {
        /// rcgen's reason.
        detail: String,
    },
}

/// The private half of a member key, ready to sign.
///
/// Holds the PKCS#8 document (for export) and ring's parsed key pair.
pub struct MemberKeyPair {
    algorithm: KeyAlgorithm,
    pkcs8: Vec<u8>,
    signer: Signer,
    public: MemberPublicKey,
    rng: SystemRandom,
}

enum Signer {
    Ecdsa(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
}

impl fmt::Debug for MemberKeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // By hand: the PKCS#8 document is the secret.
        f.debug_struct("MemberKeyPair")
            .field("algorithm", &self.algorithm)
            .field("key_id", &self.public.key_id())
            .field("private_key", &"<redacted>")
            .finish()
    }
}

impl MemberKeyPair {
    /// Makes a new key pair from the operating system's random source.
    pub fn generate(algorithm: KeyAlgorithm) -> Result<Self, KeyError> {
        let rng = SystemRandom::new();
        let failed = KeyError::RandomSourceFailed { doing: "generating a key pair" };
        let document = match algorithm.ecdsa_signing() {
            Some(alg) => EcdsaKeyPair::generate_pkcs8(alg, &rng).map_err(|_| failed)?,
            None => Ed25519KeyPair::generate_pkcs8(&rng).map_err(|_| failed)?,
        };
        Self::from_pkcs8_der_as(algorithm, document.as_ref())
    }

    /// Reads a PKCS#8 DER private key of any supported algorithm.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, KeyError> {
        let mut reasons = Vec::new();
        for algorithm in KeyAlgorithm::ALL {
            match Self::from_pkcs8_der_as(algorithm, der) {
                Ok(key) => return Ok(key),
                Err(KeyError::PrivateKeyRejected { detail, .. }) => reasons.push(format!("{algorithm}: {detail}")),
                Err(other) => return Err(other),
            }
        }
        Err(KeyError::PrivateKeyRejected { expected: "p256, p384 or ed25519", detail: reasons.join(", ") })
    }

    fn from_pkcs8_der_as(algorithm: KeyAlgorithm, der: &[u8]) -> Result<Self, KeyError> {
        let rng = SystemRandom::new();
        let rejected = |e: ring::error::KeyRejected| KeyError::PrivateKeyRejected {
            expected: algorithm.name(),
            detail: e.to_string(),
        };
        let signer = match algorithm.ecdsa_signing() {
            Some(alg) => Signer::Ecdsa(EcdsaKeyPair::from_pkcs8(alg, der, &rng).map_err(rejected)?),
            // maybe_unchecked: accepts PKCS#8 v1 (no public key inside), as openssl writes it.
            None => Signer::Ed25519(Ed25519KeyPair::from_pkcs8_maybe_unchecked(der).map_err(rejected)?),
        };
        let raw_public = match &signer {
            Signer::Ecdsa(k) => k.public_key().as_ref(),
            Signer::Ed25519(k) => k.public_key().as_ref(),
        };
        let public = MemberPublicKey::from_raw(algorithm, raw_public)?;
        Ok(MemberKeyPair { algorithm, pkcs8: der.to_vec(), signer, public, rng })
    }

    /// Reads a private key PEM: PKCS#8 ("PRIVATE KEY") of any supported algorithm, or
    /// SEC1 ("EC PRIVATE KEY", as `openssl ecparam -genkey` writes) for ECDSA.
    pub fn from_pem(text: &str) -> Result<Self, KeyError> {
        let block = pem::parse(text).map_err(|e| KeyError::Pem {
            what: "private key",
            detail: e.to_string(),
            fix: "give the key file written by `consort member keygen` (\"PRIVATE KEY\")",
        })?;
        match block.tag() {
            "PRIVATE KEY" => Self::from_pkcs8_der(block.contents()),
            "EC PRIVATE KEY" => Self::from_sec1_der(block.contents()),
            other => Err(KeyError::Pem {
                what: "private key",
                detail: format!("its block is {:?}", other.chars().take(64).collect::<String>()),
                fix: "give a \"PRIVATE KEY\" (PKCS#8) or \"EC PRIVATE KEY\" (SEC1) PEM; encrypted keys must be \
                      decrypted first (openssl pkcs8 -nocrypt)",
            }),
        }
    }

    /// Reads a SEC1 ECPrivateKey (DER) by wrapping it in PKCS#8 for each curve in turn:
    /// ring checks the curve, so the wrong guess is refused.
    fn from_sec1_der(sec1: &[u8]) -> Result<Self, KeyError> {
        let mut reasons = Vec::new();
        for (algorithm, alg_id) in
            [(KeyAlgorithm::EcdsaP256, PKCS8_ALG_P256), (KeyAlgorithm::EcdsaP384, PKCS8_ALG_P384)]
        {
            let Some(pkcs8) = wrap_sec1_in_pkcs8(alg_id, sec1) else {
                break;
            };
            match Self::from_pkcs8_der_as(algorithm, &pkcs8) {
                Ok(key) => return Ok(key),
                Err(KeyError::PrivateKeyRejected { detail, .. }) => reasons.push(format!("{algorithm}: {detail}")),
                Err(other) => return Err(other),
            }
        }
        if reasons.is_empty() {
            reasons.push("it is too long to be an EC key".to_owned());
        }
        Err(KeyError::PrivateKeyRejected { expected: "SEC1 p256 or p384", detail: reasons.join(", ") })
    }

    /// The key's algorithm.
    pub fn algorithm(&self) -> KeyAlgorithm {
        self.algorithm
    }

    /// The public half.
    pub fn public_key(&self) -> &MemberPublicKey {
        &self.public
    }

    /// The key id of the public half (see [`MemberPublicKey::key_id`]).
    pub fn key_id(&self) -> String {
        self.public.key_id()
    }

    /// The private key as a PKCS#8 PEM ("PRIVATE KEY"). This is the secret: write it
    /// to a file only the member can read, and never log it.
    pub fn to_pkcs8_pem(&self) -> String {
        pem::encode(&pem::Pem::new("PRIVATE KEY", self.pkcs8.clone()))
    }

    /// Signs `message`; ECDSA signatures come out as fixed-length `r‖s`, the COSE form.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        match &self.signer {
            Signer::Ecdsa(k) => k
                .sign(&self.rng, message)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| KeyError::RandomSourceFailed { doing: "making an ECDSA signature" }),
            Signer::Ed25519(k) => Ok(k.sign(message).as_ref().to_vec()),
        }
    }

    /// The PKCS#8 DER, for certificate generation only.
    fn pkcs8_der(&self) -> &[u8] {
        &self.pkcs8
    }
}

/// Wraps a SEC1 ECPrivateKey as PrivateKeyInfo { version 0, alg_id, OCTET STRING sec1 } (RFC 5208, RFC 5915 §3).
fn wrap_sec1_in_pkcs8(alg_id: &[u8], sec1: &[u8]) -> Option<Vec<u8>> {
    let mut octets = vec![0x04];
    octets.extend(der_length(sec1.len())?);
    octets.extend_from_slice(sec1);
    let mut body = vec![0x02, 0x01, 0x00];
    body.extend_from_slice(alg_id);
    body.extend(octets);
    let mut out = vec![0x30];
    out.extend(der_length(body.len())?);
    out.extend(body);
    Some(out)
}

/// A DER definite length; `None` past 65535 bytes, far beyond any EC key.
fn der_length(len: usize) -> Option<Vec<u8>> {
    match len {
        0..=0x7f => Some(vec![len as u8]),
        0x80..=0xff => Some(vec![0x81, len as u8]),
        0x100..=0xffff => Some(vec![0x82, (len >> 8) as u8, len as u8]),
        _ => None,
    }
}

/// The public half of a member key, as the clean room registers it.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct MemberPublicKey {
    algorithm: KeyAlgorithm,
    /// The canonical DER SubjectPublicKeyInfo.
    spki: Vec<u8>,
}

impl fmt::Debug for MemberPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemberPublicKey").field("algorithm", &self.algorithm).field("key_id", &self.key_id()).finish()
    }
}

impl MemberPublicKey {
    /// From a raw public key: an uncompressed SEC1 point (`04‖x‖y`) for ECDSA, 32 bytes for Ed25519.
    pub fn from_raw(algorithm: KeyAlgorithm, raw: &[u8]) -> Result<Self, KeyError> {
        if raw.len() != algorithm.public_key_len() || (algorithm != KeyAlgorithm::Ed25519 && raw.first() != Some(&0x04))
        {
            return Err(KeyError::MalformedPublicKey {
                detail: format!(
                    "a {algorithm} public key is {} bytes{}, this one has {}",
                    algorithm.public_key_len(),
                    if algorithm == KeyAlgorithm::Ed25519 { "" } else { " starting with 04 (uncompressed)" },
                    raw.len()
                ),
            });
        }
        let mut spki = algorithm.spki_prefix().to_vec();
        spki.extend_from_slice(raw);
        Ok(MemberPublicKey { algorithm, spki })
    }

    /// From a DER SubjectPublicKeyInfo.
    pub fn from_spki_der(der: &[u8]) -> Result<Self, KeyError> {
        let info = SubjectPublicKeyInfoRef::from_der(der)
            .map_err(|e| KeyError::MalformedPublicKey { detail: format!("not a DER SubjectPublicKeyInfo ({e})") })?;
        let (oid, parameter) = info.algorithm.oids().map_err(|e| KeyError::MalformedPublicKey {
            detail: format!("the algorithm parameters are not an OID ({e})"),
        })?;
        let algorithm = match (oid, parameter) {
            (OID_EC_PUBLIC_KEY, Some(OID_P256)) => KeyAlgorithm::EcdsaP256,
            (OID_EC_PUBLIC_KEY, Some(OID_P384)) => KeyAlgorithm::EcdsaP384,
            (OID_ED25519, None) => KeyAlgorithm::Ed25519,
            (oid, None) => return Err(KeyError::UnsupportedPublicKey { algorithm: oid.to_string() }),
            (oid, Some(p)) => return Err(KeyError::UnsupportedPublicKey { algorithm: format!("{oid} ({p})") }),
        };
        let raw = info
            .subject_public_key
            .as_bytes()
            .ok_or_else(|| KeyError::MalformedPublicKey { detail: "the key bit string has unused bits".to_owned() })?;
        // Re-encoded from the parts, so the key id never depends on how the input was encoded.
        Self::from_raw(algorithm, raw)
    }

    /// From a DER X.509 certificate: its SubjectPublicKeyInfo. The certificate's own
    /// signature and validity are not checked here (the clean room registers the
    /// member's key, not a chain of trust).
    pub fn from_certificate_der(der: &[u8]) -> Result<Self, KeyError> {
        let certificate = x509_cert::Certificate::from_der(der)
            .map_err(|e| KeyError::MalformedCertificate { detail: e.to_string() })?;
        let spki = certificate
            .tbs_certificate
            .subject_public_key_info
            .to_der()
            .map_err(|e| KeyError::MalformedCertificate { detail: e.to_string() })?;
        Self::from_spki_der(&spki)
    }

    /// From PEM text: the first block, a "PUBLIC KEY" (SubjectPublicKeyInfo) or a
    /// "CERTIFICATE" (its public key is used).
    pub fn from_pem(text: &str) -> Result<Self, KeyError> {
        let block = pem::parse(text).map_err(|e| KeyError::Pem {
            what: "public key",
            detail: e.to_string(),
            fix: "give the member's \"PUBLIC KEY\" or \"CERTIFICATE\" PEM",
        })?;
        match block.tag() {
            "PUBLIC KEY" => Self::from_spki_der(block.contents()),
            "CERTIFICATE" => Self::from_certificate_der(block.contents()),
            other => Err(KeyError::Pem {
                what: "public key",
                detail: format!("its block is {:?}", other.chars().take(64).collect::<String>()),
                fix: "give a \"PUBLIC KEY\" or \"CERTIFICATE\" PEM; never register a private key",
            }),
        }
    }

    /// The key as a "PUBLIC KEY" PEM (SubjectPublicKeyInfo).
    pub fn to_pem(&self) -> String {
        pem::encode(&pem::Pem::new("PUBLIC KEY", self.spki.clone()))
    }

    /// The DER SubjectPublicKeyInfo.
    pub fn spki_der(&self) -> &[u8] {
        &self.spki
    }

    /// The key's algorithm.
    pub fn algorithm(&self) -> KeyAlgorithm {
        self.algorithm
    }

    /// The key id: the lowercase hex SHA-256 of the DER SubjectPublicKeyInfo (64 characters).
    ///
    /// CCF's `kid` is the SHA-256 of the member's certificate. Ours hashes the public
    /// key instead because bare keys must work too, and because re-issuing a
    /// certificate for the same key (a new expiry) then keeps the same id. The same
    /// key registered as a bare key or as a certificate has one id.
    pub fn key_id(&self) -> String {
        hex::encode(ring::digest::digest(&ring::digest::SHA256, &self.spki))
    }

    /// Checks `signature` over `message`, made with `algorithm` (which must be the key's).
    /// ECDSA signatures are in the COSE form, fixed-length `r‖s`.
    pub fn verify(&self, algorithm: KeyAlgorithm, message: &[u8], signature: &[u8]) -> Result<(), KeyError> {
        if algorithm != self.algorithm {
            return Err(KeyError::AlgorithmMismatch { claimed: algorithm, key: self.algorithm });
        }
        let raw = &self.spki[self.algorithm.spki_prefix().len()..];
        UnparsedPublicKey::new(self.algorithm.verification(), raw)
            .verify(message, signature)
            .map_err(|_| KeyError::BadSignature { key_id: self.key_id() })
    }
}

/// A self-signed X.509 certificate (PEM) for `key`, for members who register a
/// certificate rather than a bare key. Valid from `not_before_unix_s` (seconds since
/// the epoch; the caller reads the clock) for `days` days. The subject is `CN=subject_cn`.
pub fn self_signed_certificate(
    key: &MemberKeyPair,
    subject_cn: &str,
    not_before_unix_s: i64,
    days: u32,
) -> Result<String, KeyError> {
    let failed = |detail: String| KeyError::Certificate { detail };
    let sign_algorithm = match key.algorithm {
        KeyAlgorithm::EcdsaP256 => &rcgen::PKCS_ECDSA_P256_SHA256,
        KeyAlgorithm::EcdsaP384 => &rcgen::PKCS_ECDSA_P384_SHA384,
        KeyAlgorithm::Ed25519 => &rcgen::PKCS_ED25519,
    };
    let private_pem = pem::encode(&pem::Pem::new("PRIVATE KEY", key.pkcs8_der().to_vec()));
    let signing_key = rcgen::KeyPair::from_pkcs8_pem_and_sign_algo(&private_pem, sign_algorithm)
        .map_err(|e| failed(format!("the key was refused: {e}")))?;
    let not_before = time::OffsetDateTime::from_unix_timestamp(not_before_unix_s)
        .map_err(|e| failed(format!("the start time {not_before_unix_s} is out of range: {e}")))?;
    let not_after = not_before
        .checked_add(time::Duration::days(i64::from(days)))
        .ok_or_else(|| failed(format!("{days} days after {not_before_unix_s} is out of range")))?;
    let mut params = rcgen::CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(rcgen::DnType::CommonName, subject_cn);
    params.not_before = not_before;
    params.not_after = not_after;
    let certificate = params.self_signed(&signing_key).map_err(|e| failed(e.to_string()))?;
    Ok(certificate.pem())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_length_covers_short_long_and_too_long_forms() {
        assert_eq!(der_length(5), Some(vec![5]));
        assert_eq!(der_length(0x80), Some(vec![0x81, 0x80]));
        assert_eq!(der_length(0x1234), Some(vec![0x82, 0x12, 0x34]));
        assert_eq!(der_length(0x10000), None);
    }

    #[test]
    fn spki_prefixes_parse_back_to_their_algorithm() {
        for algorithm in KeyAlgorithm::ALL {
            let key = MemberKeyPair::generate(algorithm).expect("generate");
            let parsed = MemberPublicKey::from_spki_der(key.public_key().spki_der()).expect("our SPKI parses");
            assert_eq!(parsed.algorithm(), algorithm);
            assert_eq!(&parsed, key.public_key());
        }
    }
}
