//! SEV-SNP revocation (AMD CRLs) and the TCB binding, end to end through `SnpVerifier`.
//!
//! No genuine AMD CRL is published in a public repository and only AMD's ARK key can sign
//! one, so these use the *test* chain of tests/data/test_chain (a locally generated RSA-PSS
//! "ARK" under ARK-Milan's name, pinned here; see make_test_chain.py and the README): the
//! genuine Milan report's bytes re-signed by a test VCEK that carries AMD's extensions. The
//! genuine chain still meets a CRL at the end: one not signed by the genuine ARK is refused.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use consort_attest::{AttestError, AttestationVerifier, SnpEvidence, SnpVerifier, Tcb};
use ring::digest::{SHA256, digest};

/// 2025-06-15, inside the test CRLs' window (2025-06-14 to 2025-06-22) and every certificate's.
const NOW: i64 = 1_750_000_000;
const DAY: i64 = 86_400;

fn data(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/tests/data/test_chain/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn test_evidence() -> SnpEvidence {
    SnpEvidence {
        report: hex::decode(String::from_utf8(data("report.hex")).unwrap().trim()).unwrap(),
        vcek: data("vcek.der"),
        ask: data("ask.der"),
        ark: data("ark.der"),
        crl: Vec::new(),
    }
}

/// A verifier pinning only the test ARK (by the SHA-256 of its SubjectPublicKeyInfo).
fn test_verifier() -> SnpVerifier {
    use x509_cert::der::{Decode, Encode};
    let ark = x509_cert::Certificate::from_der(&data("ark.der")).unwrap();
    let spki = ark.tbs_certificate.subject_public_key_info.to_der().unwrap();
    SnpVerifier::with_pinned_arks(vec![digest(&SHA256, &spki).as_ref().try_into().unwrap()])
}

fn with_crl(name: &str) -> SnpVerifier {
    test_verifier().with_crls([data(name).as_slice()]).unwrap()
}

#[test]
fn the_test_chain_verifies_with_and_without_a_current_crl() {
    let evidence = test_evidence().to_bytes();
    let claims = test_verifier().verify(&evidence, NOW).unwrap();
    let snp = claims.snp.unwrap();
    assert_eq!(snp.reported_tcb, Tcb { bootloader: 3, tee: 0, snp: 8, microcode: 115, fmc: None });
    assert_eq!(snp.generation, "Milan");
    // The current CRL lists another serial only.
    assert!(with_crl("crl_current.der").verify(&evidence, NOW).is_ok());
    // The genuine Milan ARK is not pinned by this verifier, nor the test ARK by the default one.
    assert!(matches!(SnpVerifier::new().verify(&evidence, NOW), Err(AttestError::UntrustedChain { .. })));
}

#[test]
fn revoked_ask_and_vcek_are_refused_with_their_serials() {
    let evidence = test_evidence().to_bytes();
    let error = with_crl("crl_ask_revoked.der").verify(&evidence, NOW).unwrap_err();
    assert_eq!(error, AttestError::Revoked { what: "ASK", serial: "010001".into() });
    assert!(error.to_string().contains("the ASK (serial 010001) is revoked"), "{error}");
    let error = with_crl("crl_vcek_revoked.der").verify(&evidence, NOW).unwrap_err();
    assert_eq!(error, AttestError::Revoked { what: "VCEK", serial: "2a".into() });
}

#[test]
fn stale_or_not_yet_valid_crls_are_refused() {
    let evidence = test_evidence().to_bytes();
    let error = with_crl("crl_stale.der").verify(&evidence, NOW).unwrap_err();
    assert!(matches!(error, AttestError::CrlStale { now_s: NOW, .. }), "{error}");
    assert!(error.to_string().contains("stale") && error.to_string().contains("fetch a current CRL"), "{error}");
    // The current CRL goes stale after its nextUpdate (NOW + 7 days) while the chain stays valid.
    let later = NOW + 8 * DAY;
    assert!(test_verifier().verify(&evidence, later).is_ok());
    assert!(matches!(with_crl("crl_current.der").verify(&evidence, later), Err(AttestError::CrlStale { .. })));
    // Before its thisUpdate (NOW - 1 day): a clock problem, named.
    let error = with_crl("crl_current.der").verify(&evidence, NOW - 2 * DAY).unwrap_err();
    assert!(matches!(&error, AttestError::CrlUnusable { problem } if problem.contains("check the clock")), "{error}");
}

#[test]
fn crls_with_bad_signatures_or_of_another_ark_are_refused() {
    let evidence = test_evidence().to_bytes();
    let error = with_crl("crl_other_signer.der").verify(&evidence, NOW).unwrap_err();
    assert_eq!(error, AttestError::BadSignature { what: "AMD CRL" });
    let mut altered = data("crl_current.der");
    let last = altered.len() - 1;
    altered[last] ^= 0x01; // in the signature
    let verifier = test_verifier().with_crls([altered.as_slice()]).unwrap();
    assert_eq!(verifier.verify(&evidence, NOW), Err(AttestError::BadSignature { what: "AMD CRL" }));
    // Once a CRL is configured, a chain whose ARK has none is refused (fail closed).
    let error = with_crl("crl_genoa_named.der").verify(&evidence, NOW).unwrap_err();
    assert!(
        matches!(&error, AttestError::CrlUnusable { problem } if problem.contains("none of the 1 configured CRLs")),
        "{error}"
    );
}

#[test]
fn the_genuine_chain_refuses_a_crl_its_ark_did_not_sign() {
    let genuine = SnpEvidence {
        report: hex::decode(include_str!("data/report_milan.hex").trim()).unwrap(),
        vcek: include_bytes!("data/vcek_milan.der").to_vec(),
        ask: pem_to_der(include_str!("data/milan_ask.pem")),
        ark: pem_to_der(include_str!("data/milan_ark.pem")),
        crl: Vec::new(),
    };
    let verifier = SnpVerifier::new().with_crls([data("crl_current.der").as_slice()]).unwrap();
    // Same issuer name as AMD's ARK-Milan, another key.
    assert_eq!(verifier.verify(&genuine.to_bytes(), NOW), Err(AttestError::BadSignature { what: "AMD CRL" }));
    let presented = SnpEvidence { crl: data("crl_current.der"), ..genuine.clone() };
    assert_eq!(
        SnpVerifier::new().verify(&presented.to_bytes(), NOW),
        Err(AttestError::BadSignature { what: "AMD CRL" })
    );
    assert!(SnpVerifier::new().verify(&genuine.to_bytes(), NOW).is_ok());
}

#[test]
fn a_crl_the_runner_presents_is_checked_too() {
    let presented = |name: &str| SnpEvidence { crl: data(name), ..test_evidence() }.to_bytes();
    assert!(test_verifier().verify(&presented("crl_current.der"), NOW).is_ok());
    assert!(matches!(
        test_verifier().verify(&presented("crl_ask_revoked.der"), NOW),
        Err(AttestError::Revoked { what: "ASK", .. })
    ));
    assert!(matches!(test_verifier().verify(&presented("crl_stale.der"), NOW), Err(AttestError::CrlStale { .. })));
    let garbage = SnpEvidence { crl: b"not a CRL".to_vec(), ..test_evidence() }.to_bytes();
    assert!(matches!(test_verifier().verify(&garbage, NOW), Err(AttestError::CrlUnusable { .. })));
    // A configured CRL is not replaced by a presented one: both are checked.
    let verifier = with_crl("crl_vcek_revoked.der");
    assert!(matches!(verifier.verify(&presented("crl_current.der"), NOW), Err(AttestError::Revoked { .. })));
}

#[test]
fn malformed_crls_are_refused_when_configured() {
    for bad in [&b""[..], b"\x30\x03\x02\x01\x01", &data("ark.der")] {
        let error = test_verifier().with_crls([bad]).unwrap_err();
        assert!(matches!(error, AttestError::CrlUnusable { .. }), "{error}");
    }
}

#[test]
fn a_vcek_for_another_tcb_is_refused_though_every_signature_verifies() {
    // The report (signed by the test VCEK's key) says snpSPL 8; this VCEK, same key, certifies 7.
    let evidence = SnpEvidence { vcek: data("vcek_snp7.der"), ..test_evidence() };
    let error = test_verifier().verify(&evidence.to_bytes(), NOW).unwrap_err();
    assert_eq!(error, AttestError::TcbMismatch { component: "snp", report: Some(8), vcek: Some(7) });
    assert!(error.to_string().contains("REPORTED_TCB snp is 8, but the VCEK certifies 7"), "{error}");
}

fn pem_to_der(pem: &str) -> Vec<u8> {
    let body: String = pem.lines().filter(|line| !line.starts_with("-----")).collect();
    STANDARD.decode(body).unwrap()
}
