//! Governance requests: sign → parse → verify → admit, and every way a request is refused.
//!
//! Messages that must be built differently from `sign_request` (headers missing,
//! misplaced or of the wrong type; another implementation's encoding) are made here
//! with coset's `CoseSign1Builder` and ring directly, not through this crate.

use consort_signing::cose::{LABEL_CLEANROOM, LABEL_CREATED_AT, LABEL_MEMBER_ID, LABEL_MSG_TYPE, LABEL_PROPOSAL_ID};
use consort_signing::{
    CoseError, Freshness, KeyAlgorithm, MemberKeyPair, MemberPublicKey, ReplayGuard, RequestHeader, SeenDigests,
    parse_request, self_signed_certificate, sign_request,
};
use coset::cbor::Value;
use coset::iana;
use coset::{CborSerializable as _, CoseSign1, CoseSign1Builder, HeaderBuilder, TaggedCborSerializable as _};
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair};

const NOW: i64 = 1_790_000_000;
const BODY: &[u8] = br#"{"actions":[{"name":"set_member_data","args":{"member_id":"m-2"}}]}"#;

fn header() -> RequestHeader {
    RequestHeader {
        member_id: "m-1".to_owned(),
        msg_type: "proposal".to_owned(),
        cleanroom: "room-a".to_owned(),
        created_at: NOW,
        proposal_id: None,
        subject: None,
    }
}

fn signed(key: &MemberKeyPair) -> Vec<u8> {
    sign_request(key, &header(), BODY).expect("sign")
}

fn key(algorithm: KeyAlgorithm) -> MemberKeyPair {
    MemberKeyPair::generate(algorithm).expect("generate")
}

/// Signs `to_be_signed` with ring straight from the key's PKCS#8 PEM: not this crate's signing code.
fn ring_sign(key: &MemberKeyPair, to_be_signed: &[u8]) -> Vec<u8> {
    let der = pem::parse(key.to_pkcs8_pem()).expect("pem").into_contents();
    let rng = ring::rand::SystemRandom::new();
    match key.algorithm() {
        KeyAlgorithm::EcdsaP256 => EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &der, &rng)
            .expect("p256")
            .sign(&rng, to_be_signed)
            .expect("sign")
            .as_ref()
            .to_vec(),
        KeyAlgorithm::EcdsaP384 => EcdsaKeyPair::from_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, &der, &rng)
            .expect("p384")
            .sign(&rng, to_be_signed)
            .expect("sign")
            .as_ref()
            .to_vec(),
        KeyAlgorithm::Ed25519 => {
            Ed25519KeyPair::from_pkcs8_maybe_unchecked(&der).expect("ed25519").sign(to_be_signed).as_ref().to_vec()
        }
    }
}

fn cose_alg(algorithm: KeyAlgorithm) -> iana::Algorithm {
    match algorithm {
        KeyAlgorithm::EcdsaP256 => iana::Algorithm::ES256,
        KeyAlgorithm::EcdsaP384 => iana::Algorithm::ES384,
        KeyAlgorithm::Ed25519 => iana::Algorithm::EdDSA,
    }
}

/// The standard headers as (label, value) pairs, for building variants.
fn standard_fields() -> Vec<(&'static str, Value)> {
    vec![
        (LABEL_MEMBER_ID, Value::Text("m-1".into())),
        (LABEL_MSG_TYPE, Value::Text("proposal".into())),
        (LABEL_CLEANROOM, Value::Text("room-a".into())),
        (LABEL_CREATED_AT, Value::Integer(NOW.into())),
    ]
}

/// What to put where in a hand-built message.
struct Build<'a> {
    key: &'a MemberKeyPair,
    alg: Option<iana::Algorithm>,
    kid: Option<Vec<u8>>,
    protected: Vec<(&'static str, Value)>,
    unprotected: Vec<(&'static str, Value)>,
    payload: Option<&'a [u8]>,
    tagged: bool,
}

impl<'a> Build<'a> {
    fn new(key: &'a MemberKeyPair) -> Self {
        Build {
            key,
            alg: Some(cose_alg(key.algorithm())),
            kid: Some(key.key_id().into_bytes()),
            protected: standard_fields(),
            unprotected: Vec::new(),
            payload: Some(BODY),
            tagged: true,
        }
    }

    fn without(mut self, label: &str) -> Self {
        self.protected.retain(|(l, _)| *l != label);
        self
    }

    fn set(mut self, label: &'static str, value: Value) -> Self {
        self.protected.retain(|(l, _)| *l != label);
        self.protected.push((label, value));
        self
    }

    fn bytes(self) -> Vec<u8> {
        let mut protected = HeaderBuilder::new();
        if let Some(alg) = self.alg {
            protected = protected.algorithm(alg);
        }
        if let Some(kid) = self.kid {
            protected = protected.key_id(kid);
        }
        for (label, value) in self.protected {
            protected = protected.text_value(label.to_owned(), value);
        }
        let mut unprotected = HeaderBuilder::new();
        for (label, value) in self.unprotected {
            unprotected = unprotected.text_value(label.to_owned(), value);
        }
        let mut builder = CoseSign1Builder::new().protected(protected.build()).unprotected(unprotected.build());
        let key = self.key;
        builder = match self.payload {
            Some(p) => builder.payload(p.to_vec()).create_signature(b"", |tbs| ring_sign(key, tbs)),
            None => builder.create_detached_signature(BODY, b"", |tbs| ring_sign(key, tbs)),
        };
        let message = builder.build();
        if self.tagged { message.to_tagged_vec() } else { message.to_vec() }.expect("encode")
    }
}

#[test]
fn every_algorithm_round_trips_with_bare_keys_and_certificates() {
    for algorithm in KeyAlgorithm::ALL {
        let key = key(algorithm);
        let certificate = self_signed_certificate(&key, "m-1", NOW, 30).expect("certificate");
        for registered in [key.public_key().to_pem(), certificate] {
            let registered = MemberPublicKey::from_pem(&registered).expect("registered key");
            let bytes = signed(&key);
            assert_eq!(bytes.first(), Some(&0xd2), "tagged COSE_Sign1");
            let request = parse_request(&bytes).expect("parse");
            assert_eq!(request.header(), &header());
            assert_eq!(request.algorithm(), algorithm);
            assert_eq!(request.key_id(), key.key_id());
            let verified = request.verify(&registered).expect("verify");
            assert_eq!(verified.header, header());
            assert_eq!(verified.payload, BODY);
            assert_eq!(&verified.digest, request.digest());
            assert_eq!(verified.key_id, key.key_id());
        }
    }
}

#[test]
fn proposal_id_and_an_empty_body_round_trip() {
    let key = key(KeyAlgorithm::Ed25519);
    let ballot =
        RequestHeader { msg_type: "ballot".into(), proposal_id: Some("p-42".into()), created_at: -5, ..header() };
    let bytes = sign_request(&key, &ballot, b"").expect("sign");
    let verified = parse_request(&bytes).expect("parse").verify(key.public_key()).expect("verify");
    assert_eq!(verified.header, ballot);
    assert!(verified.payload.is_empty());
}

#[test]
fn a_subject_round_trips_and_is_signed() {
    let key = key(KeyAlgorithm::EcdsaP256);
    let consent =
        RequestHeader { msg_type: "consent".into(), subject: Some("consent/contract/c1/execution".into()), ..header() };
    let bytes = sign_request(&key, &consent, br#"{"enabled":true}"#).expect("sign");
    let verified = parse_request(&bytes).expect("parse").verify(key.public_key()).expect("verify");
    assert_eq!(verified.header, consent);
    // The subject is part of what is signed: the same request about another subject is
    // another request, with another digest.
    let other = RequestHeader { subject: Some("consent/contract/c1/logging".into()), ..consent.clone() };
    let moved = sign_request(&key, &other, br#"{"enabled":true}"#).expect("sign");
    assert_ne!(parse_request(&moved).unwrap().digest(), parse_request(&bytes).unwrap().digest());
}

#[test]
fn a_request_built_by_coset_and_ring_directly_verifies_tagged_or_not() {
    for algorithm in KeyAlgorithm::ALL {
        let key = key(algorithm);
        for tagged in [true, false] {
            let mut build = Build::new(&key).set(LABEL_PROPOSAL_ID, Value::Text("p-1".into()));
            build.tagged = tagged;
            let verified = parse_request(&build.bytes()).expect("parse").verify(key.public_key()).expect("verify");
            assert_eq!(verified.header, RequestHeader { proposal_id: Some("p-1".into()), ..header() });
            assert_eq!(verified.payload, BODY);
        }
    }
}

#[test]
fn a_body_that_is_not_cose_is_refused() {
    for body in [&b""[..], BODY, &[0xd2], &[0xd2, 0x80], &[0xd3, 0x84, 0x40, 0xa0, 0x40, 0x40], &[0x84, 0x40, 0xa0]] {
        let err = parse_request(body).expect_err("not COSE");
        assert!(matches!(err, CoseError::NotCoseSign1 { .. }), "{body:?}: {err:?}");
        assert!(err.to_string().contains("send the output of `consort member sign`"), "{err}");
    }
}

#[test]
fn an_unsigned_request_is_refused() {
    let key = key(KeyAlgorithm::EcdsaP256);
    let mut message = CoseSign1::from_tagged_slice(&signed(&key)).expect("parse");
    message.signature.clear();
    let bytes = message.to_tagged_vec().expect("encode");
    let err = parse_request(&bytes).expect_err("unsigned");
    assert_eq!(err, CoseError::Unsigned);
    assert!(err.to_string().contains("unsigned"));
}

#[test]
fn a_detached_payload_is_refused() {
    let key = key(KeyAlgorithm::Ed25519);
    let mut build = Build::new(&key);
    build.payload = None;
    assert_eq!(parse_request(&build.bytes()).expect_err("detached"), CoseError::MissingPayload);
}

#[test]
fn another_members_key_is_refused() {
    let signer = key(KeyAlgorithm::EcdsaP256);
    let other = key(KeyAlgorithm::EcdsaP256);
    let request = parse_request(&signed(&signer)).expect("parse");
    let err = request.verify(other.public_key()).expect_err("wrong key");
    assert!(matches!(err, CoseError::KeyIdMismatch { .. }), "{err:?}");
    assert!(err.to_string().contains("register the new key first"), "{err}");

    // A forger who puts the victim's kid on a message signed with their own key.
    let mut forged = Build::new(&other);
    forged.kid = Some(signer.key_id().into_bytes());
    let err = parse_request(&forged.bytes()).expect("parse").verify(signer.public_key()).expect_err("forged");
    assert_eq!(err, CoseError::BadSignature { member: "m-1".into() });
    assert_eq!(
        err.to_string(),
        "the request's signature does not verify with member m-1's key: it was signed by another key or changed \
         after signing; sign it again with m-1's key file"
    );
}

/// Replaces the first occurrence of `from` with `to` (same length) in `bytes`.
fn replace(bytes: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    assert_eq!(from.len(), to.len());
    let at = bytes.windows(from.len()).position(|w| w == from).expect("the bytes to tamper with are there");
    let mut out = bytes.to_vec();
    out[at..at + to.len()].copy_from_slice(to);
    out
}

#[test]
fn a_changed_payload_or_protected_header_is_refused() {
    for algorithm in KeyAlgorithm::ALL {
        let key = key(algorithm);
        let bytes = signed(&key);
        for tampered in [
            replace(&bytes, b"m-2", b"m-3"),           // the payload
            replace(&bytes, b"room-a", b"room-b"),     // the clean room, in the protected header
            replace(&bytes, b"proposal", b"proposa1"), // the message type
        ] {
            let request = parse_request(&tampered).expect("still well-formed");
            let err = request.verify(key.public_key()).expect_err("tampered");
            assert!(matches!(err, CoseError::BadSignature { .. }), "{algorithm}: {err:?}");
        }
    }
}

#[test]
fn an_algorithm_that_is_not_the_keys_is_refused() {
    let p256 = key(KeyAlgorithm::EcdsaP256);
    let ed25519 = key(KeyAlgorithm::Ed25519);
    let err = parse_request(&signed(&p256)).expect("parse").verify(ed25519.public_key()).expect_err("mismatch");
    assert_eq!(err, CoseError::AlgorithmMismatch { member: "m-1".into(), header_alg: "ES256", key_alg: "EdDSA" });
    // An Ed25519 signature labelled ES256, with the right kid: still the algorithm check.
    let mut lying = Build::new(&ed25519);
    lying.alg = Some(iana::Algorithm::ES256);
    let err = parse_request(&lying.bytes()).expect("parse").verify(ed25519.public_key()).expect_err("mismatch");
    assert!(matches!(err, CoseError::AlgorithmMismatch { header_alg: "ES256", key_alg: "EdDSA", .. }), "{err:?}");
}

#[test]
fn each_missing_required_header_is_named() {
    let key = key(KeyAlgorithm::EcdsaP384);
    for label in [LABEL_MEMBER_ID, LABEL_MSG_TYPE, LABEL_CLEANROOM, LABEL_CREATED_AT] {
        let err = parse_request(&Build::new(&key).without(label).bytes()).expect_err(label);
        assert_eq!(err, CoseError::MissingHeader { label, elsewhere: "" });
        assert!(err.to_string().contains(&format!("has no {label}")), "{err}");
    }
    let mut no_alg = Build::new(&key);
    no_alg.alg = None;
    assert_eq!(
        parse_request(&no_alg.bytes()).expect_err("alg"),
        CoseError::MissingHeader { label: "alg", elsewhere: "" }
    );
    let mut no_kid = Build::new(&key);
    no_kid.kid = None;
    assert_eq!(
        parse_request(&no_kid.bytes()).expect_err("kid"),
        CoseError::MissingHeader { label: "kid", elsewhere: "" }
    );

    // In the unprotected header, where the signature does not cover it: still missing, and said so.
    let mut moved = Build::new(&key).without(LABEL_CLEANROOM);
    moved.unprotected.push((LABEL_CLEANROOM, Value::Text("room-a".into())));
    let err = parse_request(&moved.bytes()).expect_err("unprotected");
    assert!(err.to_string().contains("it is in the unprotected header, which is not signed"), "{err}");
}

#[test]
fn malformed_headers_are_named_with_what_they_must_be() {
    let key = key(KeyAlgorithm::Ed25519);
    let cases: Vec<(&str, Value, &str)> = vec![
        (LABEL_CREATED_AT, Value::Text("2026-11-30".into()), "an integer number of seconds"),
        (LABEL_CREATED_AT, Value::Integer(u64::MAX.into()), "an integer out of range"),
        (LABEL_CREATED_AT, Value::Float(1.5), "a float"),
        (LABEL_MEMBER_ID, Value::Integer(1.into()), "a non-empty text string"),
        (LABEL_MSG_TYPE, Value::Text(String::new()), "an empty text string"),
        (LABEL_CLEANROOM, Value::Bytes(b"room-a".to_vec()), "a byte string"),
        (LABEL_PROPOSAL_ID, Value::Null, "null"),
    ];
    for (label, value, says) in cases {
        let err = parse_request(&Build::new(&key).set(label, value).bytes()).expect_err(label);
        assert!(matches!(err, CoseError::MalformedHeader { label: l, .. } if l == label), "{err:?}");
        assert!(err.to_string().contains(says), "{label}: {err}");
    }
    let mut short_kid = Build::new(&key);
    short_kid.kid = Some(b"11".to_vec());
    let err = parse_request(&short_kid.bytes()).expect_err("kid");
    assert!(matches!(err, CoseError::MalformedHeader { label: "kid", .. }), "{err:?}");
    // 32 raw bytes are the digest itself: accepted as that key id.
    let mut raw_kid = Build::new(&key);
    raw_kid.kid = Some(hex::decode(key.key_id()).expect("hex"));
    parse_request(&raw_kid.bytes()).expect("parse").verify(key.public_key()).expect("raw kid verifies");
}

#[test]
fn other_algorithms_and_unknown_critical_headers_are_refused() {
    let key = key(KeyAlgorithm::EcdsaP256);
    let mut ps256 = Build::new(&key);
    ps256.alg = Some(iana::Algorithm::PS256);
    let err = parse_request(&ps256.bytes()).expect_err("PS256");
    assert!(matches!(err, CoseError::UnsupportedAlgorithm { .. }), "{err:?}");
    assert!(err.to_string().contains("PS256"), "{err}");

    let protected = HeaderBuilder::new()
        .algorithm(iana::Algorithm::ES256)
        .key_id(key.key_id().into_bytes())
        .add_critical_label(coset::RegisteredLabelWithPrivate::Text("consort.unknown".into()))
        .text_value("consort.unknown".into(), Value::Bool(true));
    let mut protected = protected;
    for (label, value) in standard_fields() {
        protected = protected.text_value(label.to_owned(), value);
    }
    let bytes = CoseSign1Builder::new()
        .protected(protected.build())
        .payload(BODY.to_vec())
        .create_signature(b"", |tbs| ring_sign(&key, tbs))
        .build()
        .to_tagged_vec()
        .expect("encode");
    let err = parse_request(&bytes).expect_err("crit");
    assert_eq!(err, CoseError::UnknownCriticalHeader { label: "consort.unknown".into() });

    // Marking our own headers critical is fine.
    let protected = HeaderBuilder::new()
        .algorithm(iana::Algorithm::ES256)
        .key_id(key.key_id().into_bytes())
        .add_critical(iana::HeaderParameter::Alg)
        .add_critical_label(coset::RegisteredLabelWithPrivate::Text(LABEL_CREATED_AT.into()));
    let mut protected = protected;
    for (label, value) in standard_fields() {
        protected = protected.text_value(label.to_owned(), value);
    }
    let bytes = CoseSign1Builder::new()
        .protected(protected.build())
        .payload(BODY.to_vec())
        .create_signature(b"", |tbs| ring_sign(&key, tbs))
        .build()
        .to_tagged_vec()
        .expect("encode");
    parse_request(&bytes).expect("parse").verify(key.public_key()).expect("understood crit");
}

#[test]
fn stale_future_and_replayed_requests_are_refused() {
    let key = key(KeyAlgorithm::EcdsaP256);
    let guard = ReplayGuard::new(Freshness::default());
    let mut seen = SeenDigests::new();
    let verified = parse_request(&signed(&key)).expect("parse").verify(key.public_key()).expect("verify");

    let err = seen.admit(&guard, &verified, NOW + 301).expect_err("stale");
    assert!(matches!(err, CoseError::Stale { age_s: 301, max_age_s: 300, .. }), "{err:?}");
    assert!(err.to_string().contains("sign it again now"), "{err}");
    let err = seen.admit(&guard, &verified, NOW - 31).expect_err("future");
    assert!(matches!(err, CoseError::FromTheFuture { ahead_s: 31, max_skew_s: 30, .. }), "{err:?}");
    assert!(seen.is_empty(), "refused requests are not recorded");

    let admission = seen.admit(&guard, &verified, NOW + 10).expect("first time");
    assert_eq!(admission.digest, verified.digest);
    assert_eq!(admission.created_at, NOW);
    let err = seen.admit(&guard, &verified, NOW + 20).expect_err("replay");
    assert_eq!(err, CoseError::Replayed { digest: verified.digest });
    assert!(err.to_string().contains("a replay"), "{err}");

    // Signing the same thing again at another second is a new request.
    let again = sign_request(&key, &RequestHeader { created_at: NOW + 1, ..header() }, BODY).expect("sign");
    let again = parse_request(&again).expect("parse").verify(key.public_key()).expect("verify");
    seen.admit(&guard, &again, NOW + 20).expect("a new request");
    assert_eq!(seen.len(), 2);

    // Pruning keeps what could still be replayed, drops what is refused as stale anyway.
    assert_eq!(seen.prune(&guard, NOW + 300), 0);
    assert_eq!(seen.prune(&guard, NOW + 301), 1);
    assert!(!seen.contains(&verified.digest));
    assert!(seen.admit(&guard, &verified, NOW + 301).is_err(), "forgotten, but stale");
}

#[test]
fn the_store_is_asked_only_about_fresh_requests() {
    let key = key(KeyAlgorithm::Ed25519);
    let verified = parse_request(&signed(&key)).expect("parse").verify(key.public_key()).expect("verify");
    let guard = ReplayGuard::default();
    let mut asked = false;
    assert!(
        guard
            .admit(&verified, NOW + 1_000, |_| {
                asked = true;
                false
            })
            .is_err()
    );
    assert!(!asked);
    assert!(
        guard
            .admit(&verified, NOW, |d| {
                asked = true;
                *d == verified.digest
            })
            .is_err()
    );
    assert!(asked);
}

/// The group order of P-256, to make the twin `(r, n - s)` of an ECDSA signature.
const P256_ORDER: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xbc, 0xe6, 0xfa,
    0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
];

fn order_minus(s: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; 32];
    let mut borrow = 0i16;
    for i in (0..32).rev() {
        let mut d = i16::from(P256_ORDER[i]) - i16::from(s[i]) - borrow;
        borrow = i16::from(d < 0);
        if d < 0 {
            d += 256;
        }
        out[i] = d as u8;
    }
    out
}

#[test]
fn changing_unsigned_bytes_does_not_make_a_new_request() {
    let key = key(KeyAlgorithm::EcdsaP256);
    let original = signed(&key);
    let verified = parse_request(&original).expect("parse").verify(key.public_key()).expect("verify");

    // 1. Something added to the unprotected header.
    let mut message = CoseSign1::from_tagged_slice(&original).expect("parse");
    message.unprotected.rest.push((coset::Label::Text("note".into()), Value::Text("again".into())));
    let padded = message.to_tagged_vec().expect("encode");
    // 2. The ECDSA twin signature (r, n - s), which verifies too.
    let mut message = CoseSign1::from_tagged_slice(&original).expect("parse");
    let twin_s = order_minus(&message.signature[32..]);
    message.signature[32..].copy_from_slice(&twin_s);
    let twin = message.to_tagged_vec().expect("encode");

    let guard = ReplayGuard::default();
    let mut seen = SeenDigests::new();
    seen.admit(&guard, &verified, NOW).expect("first");
    for copy in [padded, twin] {
        assert_ne!(copy, original, "the bytes differ");
        let copy = parse_request(&copy).expect("parse").verify(key.public_key()).expect("still a valid signature");
        assert_eq!(copy.digest, verified.digest, "but the digest covers only the signed content");
        assert!(matches!(seen.admit(&guard, &copy, NOW), Err(CoseError::Replayed { .. })));
    }
}

#[test]
fn no_truncation_or_bit_flip_panics_or_passes_as_other_content() {
    for algorithm in KeyAlgorithm::ALL {
        let key = key(algorithm);
        let original = signed(&key);
        for len in 0..original.len() {
            assert!(parse_request(&original[..len]).is_err(), "{algorithm}: a {len}-byte prefix parsed");
        }
        // Every bit for P-256, the lowest and highest bit of each byte for the others (test time).
        let bits: &[u8] = if algorithm == KeyAlgorithm::EcdsaP256 { &[0, 1, 2, 3, 4, 5, 6, 7] } else { &[0, 7] };
        for at in 0..original.len() {
            for &bit in bits {
                let mut bytes = original.clone();
                bytes[at] ^= 1 << bit;
                let Ok(request) = parse_request(&bytes) else { continue };
                if let Ok(verified) = request.verify(key.public_key()) {
                    // Only an unsigned part can change and still verify; the content must be the same.
                    assert_eq!(
                        (verified.header, verified.payload),
                        (header(), BODY.to_vec()),
                        "{algorithm} {at}:{bit}"
                    );
                }
            }
        }
    }
}

#[test]
fn signing_refuses_empty_fields() {
    let key = key(KeyAlgorithm::Ed25519);
    for bad in [
        RequestHeader { member_id: String::new(), ..header() },
        RequestHeader { msg_type: String::new(), ..header() },
        RequestHeader { cleanroom: String::new(), ..header() },
        RequestHeader { proposal_id: Some(String::new()), ..header() },
        RequestHeader { subject: Some(String::new()), ..header() },
    ] {
        let err = sign_request(&key, &bad, BODY).expect_err("empty field");
        assert!(matches!(err, CoseError::CannotSign { .. }), "{err:?}");
        assert!(err.to_string().contains("is empty"), "{err}");
    }
}

#[test]
fn long_member_ids_are_shortened_in_messages() {
    let signer = key(KeyAlgorithm::Ed25519);
    let other = key(KeyAlgorithm::Ed25519);
    let long = "m".repeat(10_000);
    let bytes = sign_request(&signer, &RequestHeader { member_id: long.clone(), ..header() }, BODY).expect("sign");
    let err = parse_request(&bytes).expect("parse").verify(other.public_key()).expect_err("wrong key");
    assert!(err.to_string().len() < 600, "{}", err.to_string().len());
}

fn test_data(path: &str) -> Vec<u8> {
    let path = format!("{}/tests/data/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn another_implementations_requests_verify() {
    let ballot = RequestHeader {
        member_id: "m-1".into(),
        msg_type: "ballot".into(),
        cleanroom: "room-a".into(),
        created_at: 1_790_000_000,
        proposal_id: Some("p-1".into()),
        subject: None,
    };
    for (message, public) in [
        ("pycose/pycose-es256-ballot.cbor", "openssl/p256-sec1.pub.pem"),
        ("pycose/pycose-eddsa-ballot.cbor", "openssl/ed25519-openssl.pub.pem"),
    ] {
        let key = MemberPublicKey::from_pem(std::str::from_utf8(&test_data(public)).expect("PEM")).expect("key");
        let bytes = test_data(message);
        let verified = parse_request(&bytes).expect(message).verify(&key).expect(message);
        assert_eq!(verified.header, ballot, "{message}");
        assert_eq!(verified.payload, br#"{"ballot":"approve"}"#, "{message}");
        let mut tampered = bytes.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert!(parse_request(&tampered).expect("parse").verify(&key).is_err(), "{message}");
    }
}

#[test]
fn debug_shows_no_payload() {
    let key = key(KeyAlgorithm::Ed25519);
    let secret = RequestHeader { msg_type: "secret".into(), ..header() };
    let bytes = sign_request(&key, &secret, b"s3cr3t-value").expect("sign");
    let request = parse_request(&bytes).expect("parse");
    let verified = request.verify(key.public_key()).expect("verify");
    for debug in [format!("{request:?}"), format!("{verified:?}")] {
        // Neither as text nor as the derived `[115, 51, 99, ...]` of its bytes.
        assert!(!debug.contains("s3cr3t"), "{debug}");
        assert!(!debug.contains("115, 51, 99"), "{debug}");
        assert!(debug.contains("payload_len: 12"), "{debug}");
    }
}
