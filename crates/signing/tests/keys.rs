//! Member keys: generation, PEM forms, certificates, key ids, and keys made by OpenSSL.

use consort_signing::{KeyAlgorithm, KeyError, MemberKeyPair, MemberPublicKey, self_signed_certificate};

const NOW: i64 = 1_790_000_000;

fn openssl(name: &str) -> String {
    let path = format!("{}/tests/data/openssl/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn generated_keys_round_trip_through_pem_and_sign() {
    for algorithm in KeyAlgorithm::ALL {
        let key = MemberKeyPair::generate(algorithm).expect("generate");
        assert_eq!(key.algorithm(), algorithm);
        let pem = key.to_pkcs8_pem();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"), "{pem}");
        let reread = MemberKeyPair::from_pem(&pem).expect("our own PEM reads back");
        assert_eq!(reread.algorithm(), algorithm);
        assert_eq!(reread.key_id(), key.key_id());

        let signature = reread.sign(b"message").expect("sign");
        assert_eq!(signature.len(), algorithm.signature_len());
        key.public_key().verify(algorithm, b"message", &signature).expect("verifies with the original's public key");
        assert!(matches!(
            key.public_key().verify(algorithm, b"messagE", &signature),
            Err(KeyError::BadSignature { .. })
        ));

        let public_pem = key.public_key().to_pem();
        assert!(public_pem.starts_with("-----BEGIN PUBLIC KEY-----"), "{public_pem}");
        assert_eq!(&MemberPublicKey::from_pem(&public_pem).expect("public PEM reads back"), key.public_key());
    }
}

#[test]
fn two_generated_keys_differ() {
    let a = MemberKeyPair::generate(KeyAlgorithm::Ed25519).expect("generate");
    let b = MemberKeyPair::generate(KeyAlgorithm::Ed25519).expect("generate");
    assert_ne!(a.key_id(), b.key_id());
}

#[test]
fn key_id_is_the_sha256_hex_of_the_spki() {
    let key = MemberKeyPair::generate(KeyAlgorithm::EcdsaP256).expect("generate");
    let expected = ring::digest::digest(&ring::digest::SHA256, key.public_key().spki_der());
    assert_eq!(key.key_id(), hex::encode(expected));
    assert_eq!(key.key_id().len(), 64);
    assert!(key.key_id().bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
}

#[test]
fn certificates_carry_the_same_key_and_key_id() {
    for algorithm in KeyAlgorithm::ALL {
        let key = MemberKeyPair::generate(algorithm).expect("generate");
        let certificate = self_signed_certificate(&key, "member m-1", NOW, 365).expect("certificate");
        assert!(certificate.starts_with("-----BEGIN CERTIFICATE-----"), "{certificate}");
        let public = MemberPublicKey::from_pem(&certificate).expect("the certificate's key reads");
        assert_eq!(public.algorithm(), algorithm);
        assert_eq!(public.key_id(), key.key_id(), "{algorithm}: one key, one id, bare or in a certificate");
    }
}

#[test]
fn certificate_times_out_of_range_are_errors_not_panics() {
    let key = MemberKeyPair::generate(KeyAlgorithm::Ed25519).expect("generate");
    assert!(matches!(self_signed_certificate(&key, "m", i64::MAX, 1), Err(KeyError::Certificate { .. })));
    assert!(matches!(self_signed_certificate(&key, "m", 253_402_300_000, u32::MAX), Err(KeyError::Certificate { .. })));
}

#[test]
fn openssl_sec1_ec_keys_read_and_match_their_public_halves() {
    for (private, public, algorithm) in [
        ("p256-sec1.pem", "p256-sec1.pub.pem", KeyAlgorithm::EcdsaP256),
        ("p384-sec1.pem", "p384-sec1.pub.pem", KeyAlgorithm::EcdsaP384),
    ] {
        let text = openssl(private);
        assert!(text.starts_with("-----BEGIN EC PRIVATE KEY-----"));
        let key = MemberKeyPair::from_pem(&text).expect("SEC1 key reads");
        assert_eq!(key.algorithm(), algorithm);
        let registered = MemberPublicKey::from_pem(&openssl(public)).expect("openssl public key reads");
        assert_eq!(&registered, key.public_key());
        let signature = key.sign(b"m").expect("sign");
        registered.verify(algorithm, b"m", &signature).expect("verifies");
        // Exported as PKCS#8, it reads back as the same key.
        assert_eq!(MemberKeyPair::from_pem(&key.to_pkcs8_pem()).expect("reread").key_id(), key.key_id());
    }
}

#[test]
fn openssl_ed25519_pkcs8_v1_key_reads() {
    let key = MemberKeyPair::from_pem(&openssl("ed25519-openssl.pem")).expect("PKCS#8 v1 Ed25519 reads");
    assert_eq!(key.algorithm(), KeyAlgorithm::Ed25519);
    let registered = MemberPublicKey::from_pem(&openssl("ed25519-openssl.pub.pem")).expect("public");
    assert_eq!(&registered, key.public_key());
}

#[test]
fn openssl_certificate_yields_its_key() {
    let key = MemberKeyPair::from_pem(&openssl("p384-sec1.pem")).expect("key");
    let from_certificate = MemberPublicKey::from_pem(&openssl("p384-openssl-cert.pem")).expect("certificate");
    assert_eq!(&from_certificate, key.public_key());
}

#[test]
fn unsupported_public_keys_are_refused_by_name() {
    for name in ["rsa.pub.pem", "secp256k1.pub.pem"] {
        let err = MemberPublicKey::from_pem(&openssl(name)).expect_err(name);
        assert!(matches!(err, KeyError::UnsupportedPublicKey { .. }), "{name}: {err:?}");
        assert!(err.to_string().contains("must be ECDSA P-256 or P-384"), "{err}");
    }
}

#[test]
fn wrong_pem_kinds_say_what_to_give() {
    let key = MemberKeyPair::generate(KeyAlgorithm::EcdsaP256).expect("generate");
    let err = MemberPublicKey::from_pem(&key.to_pkcs8_pem()).expect_err("a private key is not a public key");
    assert!(err.to_string().contains("never register a private key"), "{err}");
    let err = MemberKeyPair::from_pem(&key.public_key().to_pem()).expect_err("a public key cannot sign");
    assert!(err.to_string().contains("\"PRIVATE KEY\""), "{err}");
    let err = MemberKeyPair::from_pem("not a pem").expect_err("not PEM");
    assert!(matches!(err, KeyError::Pem { what: "private key", .. }), "{err:?}");
    let err =
        MemberPublicKey::from_pem("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n").expect_err("junk");
    assert!(matches!(err, KeyError::MalformedPublicKey { .. }), "{err:?}");
    let err =
        MemberPublicKey::from_pem("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n").expect_err("junk");
    assert!(matches!(err, KeyError::MalformedCertificate { .. }), "{err:?}");
    let err =
        MemberKeyPair::from_pem("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n").expect_err("junk");
    assert!(matches!(err, KeyError::PrivateKeyRejected { .. }), "{err:?}");
    let err = MemberKeyPair::from_pem("-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n")
        .expect_err("junk");
    assert!(matches!(err, KeyError::PrivateKeyRejected { .. }), "{err:?}");
}

#[test]
fn debug_and_errors_never_show_private_key_material() {
    for algorithm in KeyAlgorithm::ALL {
        let key = MemberKeyPair::generate(algorithm).expect("generate");
        let pem = key.to_pkcs8_pem();
        let body: Vec<&str> = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        let debug = format!("{key:?}");
        assert!(debug.contains("<redacted>"), "{debug}");
        assert!(debug.contains(&key.key_id()), "{debug}");
        for line in &body {
            // Any 16-character run of the base64 body would betray key bytes.
            for chunk in line.as_bytes().chunks(16).filter(|c| c.len() == 16) {
                let chunk = std::str::from_utf8(chunk).expect("base64 is ASCII");
                assert!(!debug.contains(chunk), "{debug}");
            }
        }
        // An error from a damaged copy of the key does not echo it either.
        let damaged = pem.replace(body[0], &body[0].replace('A', "B"));
        if let Err(err) = MemberKeyPair::from_pem(&damaged) {
            let text = format!("{err} {err:?}");
            assert!(!text.contains(body[0]), "{text}");
        }
    }
}

#[test]
fn algorithm_names_parse() {
    assert_eq!("p256".parse::<KeyAlgorithm>(), Ok(KeyAlgorithm::EcdsaP256));
    assert_eq!("ES384".parse::<KeyAlgorithm>(), Ok(KeyAlgorithm::EcdsaP384));
    assert_eq!("Ed25519".parse::<KeyAlgorithm>(), Ok(KeyAlgorithm::Ed25519));
    let err = "rsa".parse::<KeyAlgorithm>().expect_err("rsa");
    assert!(err.to_string().contains("use one of p256, p384 or ed25519"), "{err}");
    for algorithm in KeyAlgorithm::ALL {
        assert_eq!(algorithm.name().parse::<KeyAlgorithm>(), Ok(algorithm));
        assert_eq!(algorithm.cose_name().parse::<KeyAlgorithm>(), Ok(algorithm));
    }
}

#[test]
fn verify_refuses_another_algorithm_and_wrong_lengths() {
    let key = MemberKeyPair::generate(KeyAlgorithm::EcdsaP256).expect("generate");
    let signature = key.sign(b"m").expect("sign");
    assert_eq!(
        key.public_key().verify(KeyAlgorithm::Ed25519, b"m", &signature),
        Err(KeyError::AlgorithmMismatch { claimed: KeyAlgorithm::Ed25519, key: KeyAlgorithm::EcdsaP256 })
    );
    assert!(key.public_key().verify(KeyAlgorithm::EcdsaP256, b"m", &signature[..63]).is_err());
    assert!(key.public_key().verify(KeyAlgorithm::EcdsaP256, b"m", &[]).is_err());
    assert!(MemberPublicKey::from_raw(KeyAlgorithm::EcdsaP256, &[0x02; 33]).is_err(), "compressed points are refused");
}
