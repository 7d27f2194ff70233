//! SEV-SNP verification against a genuine Milan report, its VCEK and AMD's Milan
//! ARK/ASK (public sources: see tests/data/README.md).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use consort_attest::snp::{GENOA_ARK_SPKI_SHA256, REPORT_LEN};
use consort_attest::{AttestError, AttestationVerifier, Policy, SnpEvidence, SnpReport, SnpVerifier, Tcb};

/// 2025-06-15: inside every certificate's validity (the VCEK's ends 2030-04-03).
const NOW: i64 = 1_750_000_000;
const MEASUREMENT: &str =
    "7a1e5c266c0108dbc9bb94fa926951320940915d0aafb42464bd88b579ea158d3e1a0dc39b2c60bd95b9c480cd81841f";

fn report() -> Vec<u8> {
    hex::decode(include_str!("data/report_milan.hex").trim()).unwrap()
}

fn pem_to_der(pem: &str) -> Vec<u8> {
    let body: String = pem.lines().filter(|line| !line.starts_with("-----")).collect();
    STANDARD.decode(body).unwrap()
}

fn evidence() -> SnpEvidence {
    SnpEvidence {
        report: report(),
        vcek: include_bytes!("data/vcek_milan.der").to_vec(),
        ask: pem_to_der(include_str!("data/milan_ask.pem")),
        ark: pem_to_der(include_str!("data/milan_ark.pem")),
        crl: Vec::new(),
    }
}

fn verify(evidence: &SnpEvidence) -> Result<consort_attest::Claims, AttestError> {
    SnpVerifier::new().verify(&evidence.to_bytes(), NOW)
}

#[test]
fn genuine_report_verifies() {
    let claims = verify(&evidence()).unwrap();
    assert_eq!(claims.platform, "sev-snp");
    assert_eq!(claims.measurement, MEASUREMENT);
    assert_eq!(claims.host_data, "00".repeat(32));
    assert_eq!(hex::encode(&claims.report_data[..8]), "d447b55d197491bf");
    assert!(!claims.debuggable);
    let snp = claims.snp.unwrap();
    // AMD certifies this TCB in the VCEK (blSPL 3, teeSPL 0, snpSPL 8, ucodeSPL 115): the report's must equal it.
    assert_eq!(snp.reported_tcb, Tcb { bootloader: 3, tee: 0, snp: 8, microcode: 115, fmc: None });
    assert_eq!(snp.generation, "Milan");
    assert_eq!((snp.guest_svn, snp.vmpl), (0, 0));
    assert!(snp.smt_enabled, "platform info bit 0");
    assert!(!snp.migration_agent_allowed);
}

const REAL_TCB: Tcb = Tcb { bootloader: 3, tee: 0, snp: 8, microcode: 115, fmc: None };

fn policy() -> Policy {
    Policy { measurements: vec![MEASUREMENT.into()], ..Policy::default() }
}

#[test]
fn the_genuine_report_meets_a_policy_at_its_real_tcb_and_no_higher() {
    let claims = verify(&evidence()).unwrap();
    let at_real = Policy { min_tcb: Some(REAL_TCB), max_vmpl: Some(0), allow_migration_agent: false, ..policy() };
    assert_eq!(at_real.check(&claims), Ok(()));
    for (minimum, field, seen) in [
        (Tcb { snp: 9, ..REAL_TCB }, "min_tcb.snp", "8"),
        (Tcb { microcode: 116, ..REAL_TCB }, "min_tcb.microcode", "115"),
        (Tcb { bootloader: 4, ..Tcb::default() }, "min_tcb.bootloader", "3"),
        (Tcb { tee: 1, ..Tcb::default() }, "min_tcb.tee", "0"),
    ] {
        let error = Policy { min_tcb: Some(minimum), ..policy() }.check(&claims).unwrap_err();
        assert!(
            matches!(&error, AttestError::PolicyNotMet { field: f, seen: s, .. } if *f == field && s == seen),
            "{error}"
        );
        assert!(error.to_string().contains(&format!("{field} is {seen}")), "{error}");
    }
    let error = Policy { min_guest_svn: 1, ..policy() }.check(&claims).unwrap_err();
    assert_eq!(
        error,
        AttestError::PolicyNotMet { field: "min_guest_svn", seen: "0".into(), required: "at least 1".into() }
    );
    // SMT is enabled on the host that produced it.
    let error = Policy { allow_smt: false, ..policy() }.check(&claims).unwrap_err();
    assert!(matches!(error, AttestError::PolicyNotMet { field: "allow_smt", .. }), "{error}");
}

#[test]
fn editing_the_reported_tcb_breaks_the_signature() {
    // The TCB comparison itself is tested as pure logic (snp_tcb) and end to end with a VCEK
    // certifying another TCB (tests/snp_revocation_tcb.rs); an edited report fails first.
    for offset in [0x180, 0x186, 0x187] {
        let mut evidence = evidence();
        evidence.report[offset] = evidence.report[offset].wrapping_add(1);
        assert_eq!(verify(&evidence), Err(AttestError::BadSignature { what: "SEV-SNP report" }), "{offset:#x}");
    }
}

#[test]
fn parsed_fields_match_the_structure() {
    let report = SnpReport::parse(&report()).unwrap();
    assert_eq!(report.version, 2);
    assert_eq!(report.signature_algo, 1);
    assert_eq!(report.policy, 0x30000);
    assert_eq!(report.guest_svn, 0);
    assert_eq!(report.reported_tcb, 0x7308_0000_0000_0003);
    assert_eq!(report.cpuid, None, "version 2 has no CPUID fields");
    assert!(report.smt_enabled());
    assert_eq!(hex::encode(report.measurement), MEASUREMENT);
    assert_eq!(&hex::encode(report.chip_id)[..16], "d49554ec717f4e5b");
    assert!(!format!("{report:?}").is_empty());
}

#[test]
fn every_flipped_bit_in_the_signed_part_breaks_the_signature() {
    // One bit in each field region of the signed bytes (0x000..0x2A0), plus the signature.
    for offset in [0x04, 0x08, 0x50, 0x90, 0xC0, 0x1A0, 0x29F, 0x2A0, 0x2F0] {
        let mut evidence = evidence();
        evidence.report[offset] ^= 0x01;
        let result = verify(&evidence);
        assert!(
            matches!(result, Err(AttestError::BadSignature { what: "SEV-SNP report" })),
            "offset {offset:#x}: {result:?}"
        );
    }
}

#[test]
fn flipping_the_debug_bit_does_not_pass_as_a_debuggable_report() {
    let mut evidence = evidence();
    evidence.report[0x0A] ^= 0x08; // policy bit 19
    assert!(matches!(verify(&evidence), Err(AttestError::BadSignature { .. })));
}

#[test]
fn truncated_or_padded_reports_are_parse_errors() {
    for len in [0, 1, REPORT_LEN - 1, REPORT_LEN + 1] {
        let mut evidence = evidence();
        evidence.report.resize(len, 0);
        assert!(
            matches!(verify(&evidence), Err(AttestError::MalformedEvidence { format: "SEV-SNP report", .. })),
            "length {len}"
        );
    }
}

#[test]
fn genoa_chain_does_not_vouch_for_a_milan_vcek() {
    let mut evidence = evidence();
    evidence.ask = pem_to_der(include_str!("data/genoa_ask.pem"));
    evidence.ark = pem_to_der(include_str!("data/genoa_ark.pem"));
    assert!(matches!(verify(&evidence), Err(AttestError::UntrustedChain { .. })));
}

#[test]
fn unpinned_ark_is_refused() {
    let mut genoa_only = [0u8; 32];
    hex::decode_to_slice(GENOA_ARK_SPKI_SHA256, &mut genoa_only).unwrap();
    let verifier = SnpVerifier::with_pinned_arks(vec![genoa_only]);
    let error = verifier.verify(&evidence().to_bytes(), NOW).unwrap_err();
    assert!(matches!(error, AttestError::UntrustedChain { .. }), "{error}");
    assert!(error.to_string().contains("9f056bee"), "{error}");
}

#[test]
fn ask_in_place_of_the_ark_is_refused() {
    let mut evidence = evidence();
    evidence.ark = evidence.ask.clone();
    assert!(matches!(verify(&evidence), Err(AttestError::UntrustedChain { .. })));
}

#[test]
fn altered_vcek_is_refused() {
    let mut evidence = evidence();
    let last = evidence.vcek.len() - 1;
    evidence.vcek[last] ^= 0x01; // in the ASK's signature over the VCEK
    let result = verify(&evidence);
    assert!(matches!(result, Err(AttestError::BadSignature { what: "VCEK certificate" })), "{result:?}");
}

#[test]
fn expired_vcek_is_refused() {
    let after_2030 = 1_950_000_000; // 2031-10-16
    let error = SnpVerifier::new().verify(&evidence().to_bytes(), after_2030).unwrap_err();
    assert!(matches!(error, AttestError::UntrustedChain { .. }), "{error}");
    assert!(error.to_string().contains("VCEK"), "{error}");
}

#[test]
fn evidence_envelope_errors_are_named() {
    let verifier = SnpVerifier::new();
    assert_eq!(verifier.verify(b"", NOW), Err(AttestError::MissingEvidence));
    assert!(matches!(verifier.verify(b"{}", NOW), Err(AttestError::MalformedEvidence { .. })));
    assert!(matches!(verifier.verify(&report(), NOW), Err(AttestError::MalformedEvidence { .. })));
    let mut no_vcek = evidence();
    no_vcek.vcek.clear();
    assert!(matches!(verify(&no_vcek), Err(AttestError::MalformedEvidence { .. })));
    assert!(!format!("{:?}", evidence()).contains("report: ["));
}
