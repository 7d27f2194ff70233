//! Governance requests as COSE_Sign1 (RFC 9052 §4.2) messages.
//!
//! A request is a tagged COSE_Sign1 whose payload is the request body (JSON) and
//! whose *protected* header names who sent it, what it is, for which clean room
//! and when: see [`RequestHeader`] and the `LABEL_*` constants. The protected header
//! is covered by the signature, so none of it can be changed in transit; the
//! unprotected header is ignored.
//!
//! The server's path is: [`parse_request`] (read the claimed member without
//! trusting it) → look the member's key up → [`UnverifiedRequest::verify`] →
//! [`crate::replay::ReplayGuard::admit`] (staleness and replay).

use std::fmt;

use coset::cbor::Value;
use coset::iana::{self, EnumI64 as _};
use coset::{
    CborSerializable as _, CoseSign1, Header, HeaderBuilder, Label, ProtectedHeader, RegisteredLabelWithPrivate,
    TaggedCborSerializable as _,
};

use crate::keys::{KeyAlgorithm, KeyError, MemberKeyPair, MemberPublicKey};
use crate::replay::RequestDigest;

/// Protected-header label of the sending member's id (text).
pub const LABEL_MEMBER_ID: &str = "consort.member_id";
/// Protected-header label of the message type (text), e.g. `proposal`, `ballot`.
pub const LABEL_MSG_TYPE: &str = "consort.msg.type";
/// Protected-header label of the clean room the request is for (text).
pub const LABEL_CLEANROOM: &str = "consort.cleanroom";
/// Protected-header label of the creation time (integer seconds since the Unix epoch).
pub const LABEL_CREATED_AT: &str = "consort.created_at";
/// Protected-header label of the proposal a ballot or withdrawal is about (text, optional).
pub const LABEL_PROPOSAL_ID: &str = "consort.proposal_id";
/// Protected-header label of what a request acts on when its route names it, as the route's
/// path below the clean room (`contracts/c1`, `consent/document/d1/execution`; text,
/// optional), so a signed request cannot be replayed against another thing.
pub const LABEL_SUBJECT: &str = "consort.subject";

/// The CBOR tag of a COSE_Sign1 (18), whose one-byte encoding starts a tagged message.
const COSE_SIGN1_TAG_BYTE: u8 = 0xd2;
/// How much of a caller-supplied string an error message repeats.
const SHOWN_CHARS: usize = 64;

/// What a governance request's protected header says, beyond `alg` and `kid`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RequestHeader {
    /// The member who signed the request.
    pub member_id: String,
    /// The message type (`proposal`, `ballot`, `withdrawal`, `document`, `consent`,
    /// `secret`, `cleanroom.init`, ...). A free string: the caller decides which it accepts.
    pub msg_type: String,
    /// The clean room the request is for.
    pub cleanroom: String,
    /// When the member made the request, in seconds since the Unix epoch.
    pub created_at: i64,
    /// The proposal a ballot or withdrawal is about.
    pub proposal_id: Option<String>,
    /// What the request acts on when its route names it ([`LABEL_SUBJECT`]).
    pub subject: Option<String>,
}

/// Why a governance request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CoseError {
    /// The bytes are not a COSE_Sign1 message.
    #[error(
        "the request is not a COSE_Sign1 message ({detail}); send the output of `consort member sign` \
         (a tagged COSE_Sign1, CBOR tag 18), not the bare request body"
    )]
    NotCoseSign1 {
        /// What the decoder found.
        detail: String,
    },
    /// The message has no payload (nil: a detached payload).
    #[error("the request has no payload (it is detached); sign the request body into the message itself")]
    MissingPayload,
    /// The message's signature is empty.
    #[error("the request is unsigned (its signature is empty); sign it with the member's key")]
    Unsigned,
    /// A required protected header is absent.
    #[error(
        "the request's protected header has no {label}{elsewhere}; sign it with `consort member sign`, which \
         puts {label} in the protected header"
    )]
    MissingHeader {
        /// The header's label (`alg`, `kid`, `consort.member_id`, ...).
        label: &'static str,
        /// " (it is in the unprotected header, which is not signed)" when it is there instead.
        elsewhere: &'static str,
    },
    /// A protected header has the wrong type or an empty value.
    #[error("the request's protected header {label} is malformed: it must be {expected}, it is {found}")]
    MalformedHeader {
        /// The header's label.
        label: &'static str,
        /// What it must be.
        expected: &'static str,
        /// What it is.
        found: String,
    },
    /// The `alg` header names an algorithm we do not accept.
    #[error("the request's algorithm {alg} is not supported; sign with an ES256, ES384 or EdDSA (Ed25519) key")]
    UnsupportedAlgorithm {
        /// The algorithm found.
        alg: String,
    },
    /// The `crit` header lists a header this implementation does not understand (RFC 9052 §3.1).
    #[error("the request marks the header {label} as critical, which this server does not understand; remove it")]
    UnknownCriticalHeader {
        /// The label listed.
        label: String,
    },
    /// The `alg` header does not match the algorithm of the member's registered key.
    #[error(
        "the request says it is signed with {header_alg} but member {member}'s key is {key_alg}; sign it with \
         {member}'s key file"
    )]
    AlgorithmMismatch {
        /// The member id (shortened).
        member: String,
        /// The COSE algorithm in the header.
        header_alg: &'static str,
        /// The COSE algorithm of the registered key.
        key_alg: &'static str,
    },
    /// The `kid` header is not the key id of the member's registered key.
    #[error(
        "the request's key id {header_kid} is not member {member}'s registered key {key_id}; sign it with the \
         key registered for {member}, or register the new key first"
    )]
    KeyIdMismatch {
        /// The member id (shortened).
        member: String,
        /// The key id in the header (shortened).
        header_kid: String,
        /// The registered key's id.
        key_id: String,
    },
    /// The signature does not verify with the member's key.
    #[error(
        "the request's signature does not verify with member {member}'s key: it was signed by another key or \
         changed after signing; sign it again with {member}'s key file"
    )]
    BadSignature {
        /// The member id (shortened).
        member: String,
    },
    /// The request is older than the freshness window.
    #[error(
        "the request was created at {created_at}, {age_s} s before the server's time {now}, more than the \
         {max_age_s} s allowed; sign it again now (and check the signer's clock)"
    )]
    Stale {
        /// The request's `consort.created_at`.
        created_at: i64,
        /// The server's time.
        now: i64,
        /// How old it is, in seconds.
        age_s: i128,
        /// The most allowed.
        max_age_s: u64,
    },
    /// The request claims a creation time too far ahead of the server's clock.
    #[error(
        "the request was created at {created_at}, {ahead_s} s after the server's time {now}, more than the \
         {max_skew_s} s of clock skew allowed; fix the signer's clock and sign it again"
    )]
    FromTheFuture {
        /// The request's `consort.created_at`.
        created_at: i64,
        /// The server's time.
        now: i64,
        /// How far ahead, in seconds.
        ahead_s: i128,
        /// The most allowed.
        max_skew_s: u64,
    },
    /// A request with the same signed content was already accepted.
    #[error(
        "the request {digest} was already received (a replay); to send the same request again, sign it again \
         (it gets a new consort.created_at)"
    )]
    Replayed {
        /// The request's digest.
        digest: RequestDigest,
    },
    /// The header to sign is unusable (an empty id, or a value that does not encode).
    #[error("cannot sign the request: {detail}")]
    CannotSign {
        /// What is wrong.
        detail: String,
    },
    /// The signing key failed (the random source, for ECDSA).
    #[error("cannot sign the request: {0}")]
    Key(#[from] KeyError),
}

/// A parsed request whose signature has not been checked: read the member id from
/// [`UnverifiedRequest::header`], look up that member's key, then [`UnverifiedRequest::verify`].
/// Nothing in it is to be trusted before that.
#[derive(Clone)]
pub struct UnverifiedRequest {
    header: RequestHeader,
    algorithm: KeyAlgorithm,
    key_id: String,
    payload: Vec<u8>,
    signature: Vec<u8>,
    /// The Sig_structure (RFC 9052 §4.4): what the signature covers.
    to_be_signed: Vec<u8>,
    digest: RequestDigest,
}

impl fmt::Debug for UnverifiedRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnverifiedRequest")
            .field("header", &self.header)
            .field("algorithm", &self.algorithm)
            .field("key_id", &self.key_id)
            .field("payload_len", &self.payload.len())
            .field("digest", &self.digest)
            .finish()
    }
}

/// A request whose signature verified with its member's key. Still to check:
/// freshness and replay ([`crate::replay::ReplayGuard::admit`]).
///
/// `Debug` shows the payload's length only: a `secret` request carries a secret.
#[derive(Clone, PartialEq, Eq)]
pub struct VerifiedRequest {
    /// The protected header's fields.
    pub header: RequestHeader,
    /// The request body.
    pub payload: Vec<u8>,
    /// The replay key: SHA-256 of what the signature covers (see [`RequestDigest`]).
    pub digest: RequestDigest,
    /// The key id of the key that verified it.
    pub key_id: String,
}

impl fmt::Debug for VerifiedRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifiedRequest")
            .field("header", &self.header)
            .field("payload_len", &self.payload.len())
            .field("digest", &self.digest)
            .field("key_id", &self.key_id)
            .finish()
    }
}

/// Signs a governance request: a tagged COSE_Sign1 with `alg`, `kid` (the key id, as
/// the UTF-8 bytes of its hex text) and the [`RequestHeader`] fields in the protected
/// header, and `payload` attached.
pub fn sign_request(key: &MemberKeyPair, header: &RequestHeader, payload: &[u8]) -> Result<Vec<u8>, CoseError> {
    for (label, value) in
        [(LABEL_MEMBER_ID, &header.member_id), (LABEL_MSG_TYPE, &header.msg_type), (LABEL_CLEANROOM, &header.cleanroom)]
    {
        if value.is_empty() {
            return Err(CoseError::CannotSign { detail: format!("{label} is empty; give a value") });
        }
    }
    if header.proposal_id.as_deref() == Some("") {
        return Err(CoseError::CannotSign { detail: format!("{LABEL_PROPOSAL_ID} is empty; give one or none") });
    }
    if header.subject.as_deref() == Some("") {
        return Err(CoseError::CannotSign { detail: format!("{LABEL_SUBJECT} is empty; give one or none") });
    }
    let mut builder = HeaderBuilder::new()
        .algorithm(cose_algorithm(key.algorithm()))
        .key_id(key.key_id().into_bytes())
        .text_value(LABEL_MEMBER_ID.to_owned(), Value::Text(header.member_id.clone()))
        .text_value(LABEL_MSG_TYPE.to_owned(), Value::Text(header.msg_type.clone()))
        .text_value(LABEL_CLEANROOM.to_owned(), Value::Text(header.cleanroom.clone()))
        .text_value(LABEL_CREATED_AT.to_owned(), Value::Integer(header.created_at.into()));
    if let Some(proposal_id) = &header.proposal_id {
        builder = builder.text_value(LABEL_PROPOSAL_ID.to_owned(), Value::Text(proposal_id.clone()));
    }
    if let Some(subject) = &header.subject {
        builder = builder.text_value(LABEL_SUBJECT.to_owned(), Value::Text(subject.clone()));
    }
    // Encoded here, not by coset's Sig_structure code, which would panic on an encoding failure.
    let protected_bytes = builder
        .build()
        .to_vec()
        .map_err(|e| CoseError::CannotSign { detail: format!("the protected header does not encode ({e})") })?;
    let protected = ProtectedHeader::from_cbor_bstr(Value::Bytes(protected_bytes))
        .map_err(|e| CoseError::CannotSign { detail: format!("the protected header does not decode ({e})") })?;
    let mut message = CoseSign1 { protected, payload: Some(payload.to_vec()), ..CoseSign1::default() };
    message.signature = key.sign(&message.tbs_data(&[]))?;
    message.to_tagged_vec().map_err(|e| CoseError::CannotSign { detail: format!("the message does not encode ({e})") })
}

/// Parses a governance request without trusting it: the COSE_Sign1 structure (tagged,
/// or untagged as some libraries write it), the protected header's fields, the payload.
pub fn parse_request(bytes: &[u8]) -> Result<UnverifiedRequest, CoseError> {
    let parsed = if bytes.first() == Some(&COSE_SIGN1_TAG_BYTE) {
        CoseSign1::from_tagged_slice(bytes)
    } else {
        CoseSign1::from_slice(bytes)
    };
    let message = parsed.map_err(|e| CoseError::NotCoseSign1 { detail: e.to_string() })?;
    let protected = &message.protected.header;
    let unprotected = &message.unprotected;

    check_critical(protected)?;
    let algorithm = match &protected.alg {
        None => return Err(missing("alg", unprotected.alg.is_some())),
        Some(RegisteredLabelWithPrivate::Assigned(iana::Algorithm::ES256)) => KeyAlgorithm::EcdsaP256,
        Some(RegisteredLabelWithPrivate::Assigned(iana::Algorithm::ES384)) => KeyAlgorithm::EcdsaP384,
        Some(RegisteredLabelWithPrivate::Assigned(iana::Algorithm::EdDSA)) => KeyAlgorithm::Ed25519,
        Some(RegisteredLabelWithPrivate::Assigned(other)) => {
            return Err(CoseError::UnsupportedAlgorithm { alg: format!("{other:?} ({})", other.to_i64()) });
        }
        Some(RegisteredLabelWithPrivate::PrivateUse(n)) => {
            return Err(CoseError::UnsupportedAlgorithm { alg: n.to_string() });
        }
        Some(RegisteredLabelWithPrivate::Text(t)) => return Err(CoseError::UnsupportedAlgorithm { alg: shorten(t) }),
    };
    let key_id = parse_key_id(&protected.key_id, !unprotected.key_id.is_empty())?;
    let header = RequestHeader {
        member_id: required_text(protected, unprotected, LABEL_MEMBER_ID)?,
        msg_type: required_text(protected, unprotected, LABEL_MSG_TYPE)?,
        cleanroom: required_text(protected, unprotected, LABEL_CLEANROOM)?,
        created_at: created_at(protected, unprotected)?,
        proposal_id: match find(protected, LABEL_PROPOSAL_ID) {
            None => None,
            Some(value) => Some(text_value(LABEL_PROPOSAL_ID, value)?),
        },
        subject: match find(protected, LABEL_SUBJECT) {
            None => None,
            Some(value) => Some(text_value(LABEL_SUBJECT, value)?),
        },
    };
    if message.payload.is_none() {
        return Err(CoseError::MissingPayload);
    }
    if message.signature.is_empty() {
        return Err(CoseError::Unsigned);
    }
    let to_be_signed = message.tbs_data(&[]);
    let digest = RequestDigest::of_signed_content(&to_be_signed);
    let payload = message.payload.unwrap_or_default();
    Ok(UnverifiedRequest { header, algorithm, key_id, payload, signature: message.signature, to_be_signed, digest })
}

impl UnverifiedRequest {
    /// The protected header's fields, as claimed (not yet verified).
    pub fn header(&self) -> &RequestHeader {
        &self.header
    }

    /// The algorithm named by `alg`.
    pub fn algorithm(&self) -> KeyAlgorithm {
        self.algorithm
    }

    /// The key id named by `kid` (lowercase hex).
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The request body, as claimed.
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }

    /// The replay digest. It may be looked up before verification (a digest already
    /// accepted is a replay whatever the signature), but only a verified one may be stored.
    pub fn digest(&self) -> &RequestDigest {
        &self.digest
    }

    /// Checks the request against `key`, the key registered for the member it names:
    /// the algorithm, then the key id, then the signature.
    pub fn verify(&self, key: &MemberPublicKey) -> Result<VerifiedRequest, CoseError> {
        let member = shorten(&self.header.member_id);
        if self.algorithm != key.algorithm() {
            return Err(CoseError::AlgorithmMismatch {
                member,
                header_alg: self.algorithm.cose_name(),
                key_alg: key.algorithm().cose_name(),
            });
        }
        let registered = key.key_id();
        if self.key_id != registered {
            return Err(CoseError::KeyIdMismatch { member, header_kid: shorten(&self.key_id), key_id: registered });
        }
        verify_signature(key, self.algorithm, &self.to_be_signed, &self.signature)
            .map_err(|_| CoseError::BadSignature { member })?;
        Ok(VerifiedRequest {
            header: self.header.clone(),
            payload: self.payload.clone(),
            digest: self.digest,
            key_id: registered,
        })
    }
}

/// The signature check alone, shared with the known-answer tests of other COSE implementations.
fn verify_signature(
    key: &MemberPublicKey,
    algorithm: KeyAlgorithm,
    to_be_signed: &[u8],
    signature: &[u8],
) -> Result<(), KeyError> {
    key.verify(algorithm, to_be_signed, signature)
}

fn cose_algorithm(algorithm: KeyAlgorithm) -> iana::Algorithm {
    match algorithm {
        KeyAlgorithm::EcdsaP256 => iana::Algorithm::ES256,
        KeyAlgorithm::EcdsaP384 => iana::Algorithm::ES384,
        KeyAlgorithm::Ed25519 => iana::Algorithm::EdDSA,
    }
}

/// Refuses `crit` entries other than the headers read here (RFC 9052 §3.1: a recipient
/// must reject a message with a critical header it does not understand).
fn check_critical(protected: &Header) -> Result<(), CoseError> {
    for label in &protected.crit {
        let understood = match label {
            RegisteredLabelWithPrivate::Assigned(p) => {
                matches!(p, iana::HeaderParameter::Alg | iana::HeaderParameter::Kid)
            }
            RegisteredLabelWithPrivate::Text(t) => {
                [LABEL_MEMBER_ID, LABEL_MSG_TYPE, LABEL_CLEANROOM, LABEL_CREATED_AT, LABEL_PROPOSAL_ID]
                    .contains(&t.as_str())
            }
            RegisteredLabelWithPrivate::PrivateUse(_) => false,
        };
        if !understood {
            let label = match label {
                RegisteredLabelWithPrivate::Assigned(p) => format!("{p:?}"),
                RegisteredLabelWithPrivate::Text(t) => shorten(t),
                RegisteredLabelWithPrivate::PrivateUse(n) => n.to_string(),
            };
            return Err(CoseError::UnknownCriticalHeader { label });
        }
    }
    Ok(())
}

/// `kid` holds the key id's hex text as bytes (as CCF does); 32 raw digest bytes are accepted too.
fn parse_key_id(kid: &[u8], in_unprotected: bool) -> Result<String, CoseError> {
    if kid.is_empty() {
        return Err(missing("kid", in_unprotected));
    }
    if kid.len() == 32 {
        return Ok(hex::encode(kid));
    }
    match std::str::from_utf8(kid) {
        Ok(text) if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) => Ok(text.to_ascii_lowercase()),
        _ => Err(CoseError::MalformedHeader {
            label: "kid",
            expected: "the key id: 64 hex characters (SHA-256 of the key's SubjectPublicKeyInfo) as bytes",
            found: format!("{} bytes", kid.len()),
        }),
    }
}

fn missing(label: &'static str, in_unprotected: bool) -> CoseError {
    CoseError::MissingHeader {
        label,
        elsewhere: if in_unprotected { " (it is in the unprotected header, which is not signed)" } else { "" },
    }
}

fn find<'a>(header: &'a Header, label: &str) -> Option<&'a Value> {
    header.rest.iter().find_map(|(l, v)| match l {
        Label::Text(t) if t == label => Some(v),
        _ => None,
    })
}

fn required<'a>(protected: &'a Header, unprotected: &Header, label: &'static str) -> Result<&'a Value, CoseError> {
    find(protected, label).ok_or_else(|| missing(label, find(unprotected, label).is_some()))
}

fn required_text(protected: &Header, unprotected: &Header, label: &'static str) -> Result<String, CoseError> {
    text_value(label, required(protected, unprotected, label)?)
}

fn text_value(label: &'static str, value: &Value) -> Result<String, CoseError> {
    match value {
        Value::Text(t) if !t.is_empty() => Ok(t.clone()),
        other => Err(CoseError::MalformedHeader { label, expected: "a non-empty text string", found: describe(other) }),
    }
}

fn created_at(protected: &Header, unprotected: &Header) -> Result<i64, CoseError> {
    let value = required(protected, unprotected, LABEL_CREATED_AT)?;
    let malformed = |found: String| CoseError::MalformedHeader {
        label: LABEL_CREATED_AT,
        expected: "an integer number of seconds since the Unix epoch",
        found,
    };
    match value {
        Value::Integer(i) => i64::try_from(*i).map_err(|_| malformed("an integer out of range".to_owned())),
        other => Err(malformed(describe(other))),
    }
}

/// Names a CBOR value's type (and a short text's content) for error messages.
fn describe(value: &Value) -> String {
    match value {
        Value::Text(t) if t.is_empty() => "an empty text string".to_owned(),
        Value::Text(t) => format!("the text {:?}", shorten(t)),
        Value::Integer(_) => "an integer".to_owned(),
        Value::Bytes(_) => "a byte string".to_owned(),
        Value::Float(_) => "a float".to_owned(),
        Value::Bool(_) => "a boolean".to_owned(),
        Value::Null => "null".to_owned(),
        Value::Tag(..) => "a tagged value".to_owned(),
        Value::Array(_) => "an array".to_owned(),
        Value::Map(_) => "a map".to_owned(),
        _ => "an unknown CBOR value".to_owned(),
    }
}

/// At most [`SHOWN_CHARS`] characters of a caller's string, for messages.
fn shorten(text: &str) -> String {
    if text.chars().count() <= SHOWN_CHARS {
        text.to_owned()
    } else {
        let mut short: String = text.chars().take(SHOWN_CHARS).collect();
        short.push('…');
        short
    }
}

#[cfg(test)]
mod tests {
    //! Known answers from the COSE working group's examples (github.com/cose-wg/Examples,
    //! `ecdsa-examples/ecdsa-sig-01.json` and `ecdsa-sig-02.json`): COSE_Sign1 messages made
    //! by another implementation, checked with this module's signature path.

    use base64::Engine as _;

    use super::*;

    fn hex_bytes(text: &str) -> Vec<u8> {
        hex::decode(text).expect("hex in the test vector")
    }

    fn b64url(text: &str) -> Vec<u8> {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(text).expect("base64url in the test vector")
    }

    /// Checks a cose-wg example: its key (JWK x, y), its message (hex) and its to-be-signed bytes (hex).
    fn check_vector(file: &str, algorithm: KeyAlgorithm) {
        let vector: serde_json::Value = serde_json::from_str(file).expect("JSON test vector");
        let key = &vector["input"]["sign0"]["key"];
        let mut point = vec![0x04];
        point.extend(b64url(key["x"].as_str().expect("x")));
        point.extend(b64url(key["y"].as_str().expect("y")));
        let public = MemberPublicKey::from_raw(algorithm, &point).expect("the vector's public key");
        let bytes = hex_bytes(vector["output"]["cbor"].as_str().expect("cbor"));
        let message = CoseSign1::from_tagged_slice(&bytes).expect("the vector parses as a tagged COSE_Sign1");
        let to_be_signed = message.tbs_data(&[]);
        assert_eq!(
            to_be_signed,
            hex_bytes(vector["intermediates"]["ToBeSign_hex"].as_str().expect("ToBeSign_hex")),
            "our Sig_structure is the vector's"
        );
        verify_signature(&public, algorithm, &to_be_signed, &message.signature).expect("the vector verifies");

        let mut tampered = message.signature.clone();
        tampered[10] ^= 1;
        assert!(verify_signature(&public, algorithm, &to_be_signed, &tampered).is_err());
        // Our parser refuses it (no consort headers) with a message naming the first missing header.
        assert_eq!(
            parse_request(&bytes).unwrap_err(),
            CoseError::MissingHeader {
                label: "kid",
                elsewhere: " (it is in the unprotected header, which is not signed)"
            }
        );
    }

    #[test]
    fn cose_wg_es256_example_verifies() {
        check_vector(include_str!("../tests/data/cose-wg-ecdsa-sig-01.json"), KeyAlgorithm::EcdsaP256);
    }

    #[test]
    fn cose_wg_es384_example_verifies() {
        check_vector(include_str!("../tests/data/cose-wg-ecdsa-sig-02.json"), KeyAlgorithm::EcdsaP384);
    }

    #[test]
    fn shorten_keeps_short_text_and_cuts_long_text() {
        assert_eq!(shorten("m-1"), "m-1");
        let long = "x".repeat(100);
        assert_eq!(shorten(&long).chars().count(), SHOWN_CHARS + 1);
    }
}
