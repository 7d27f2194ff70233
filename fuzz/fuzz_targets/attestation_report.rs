//! Any bytes, as a simulated report (its envelope, and its payload signed by the
//! trusted key so the payload parser is reached), as an SEV-SNP report (alone and
//! with the genuine Milan chain), as SEV-SNP evidence JSON, as each certificate
//! of the chain, and as an AMD CRL (configured, and presented with the genuine chain):
//! parsed and verified without a panic.
#![no_main]

use std::sync::OnceLock;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use consort_attest::snp::REPORT_LEN;
use consort_attest::{AmdCrl, AttestationVerifier, SimulatedVerifier, SnpReport, SnpVerifier};
use libfuzzer_sys::fuzz_target;
use ring::signature::{Ed25519KeyPair, KeyPair};

const VCEK: &[u8] = include_bytes!("../../crates/attest/tests/data/vcek_milan.der");
const ASK_PEM: &str = include_str!("../../crates/attest/tests/data/milan_ask.pem");
const ARK_PEM: &str = include_str!("../../crates/attest/tests/data/milan_ark.pem");
const REPORT_HEX: &str = include_str!("../../crates/attest/tests/data/report_milan.hex");
const NOW: i64 = 1_750_000_000;

struct Fixtures {
    signer: Ed25519KeyPair,
    simulated: SimulatedVerifier,
    snp: SnpVerifier,
    report: Vec<u8>,
    ask: Vec<u8>,
    ark: Vec<u8>,
}

fn pem_to_der(pem: &str) -> Vec<u8> {
    let body: String = pem.lines().filter(|line| !line.starts_with("-----")).collect();
    STANDARD.decode(body).expect("test data is PEM")
}

fn fixtures() -> &'static Fixtures {
    static FIXTURES: OnceLock<Fixtures> = OnceLock::new();
    FIXTURES.get_or_init(|| {
        let signer = Ed25519KeyPair::from_seed_unchecked(&[7u8; 32]).expect("fixed seed");
        let simulated = SimulatedVerifier::new(signer.public_key().as_ref()).expect("32-byte key");
        Fixtures {
            signer,
            simulated,
            snp: SnpVerifier::new(),
            report: hex::decode(REPORT_HEX.trim()).expect("test data is hex"),
            ask: pem_to_der(ASK_PEM),
            ark: pem_to_der(ARK_PEM),
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let fixtures = fixtures();
    let Some((&mode, rest)) = data.split_first() else { return };
    let now = NOW ^ i64::from(mode >> 4);
    match mode % 10 {
        0 => {
            let _ = fixtures.simulated.verify(rest, now);
        }
        1 => {
            // A validly signed payload of arbitrary bytes reaches the payload parser.
            let envelope = serde_json::json!({
                "payload": STANDARD.encode(rest),
                "signature": STANDARD.encode(fixtures.signer.sign(rest)),
            });
            let _ = fixtures.simulated.verify(envelope.to_string().as_bytes(), now);
        }
        2 => {
            if let Ok(report) = SnpReport::parse(rest) {
                let _ = format!("{report:?}");
                let _ = report.debuggable();
            }
        }
        3 => {
            // The genuine report with the input XORed over it, against the genuine chain.
            let mut report = fixtures.report.clone();
            for (byte, flip) in report.iter_mut().zip(rest) {
                *byte ^= flip;
            }
            if rest.len() > REPORT_LEN {
                report.extend_from_slice(&rest[REPORT_LEN..]);
            }
            let _ = fixtures.snp.verify_parts(&report, VCEK, &fixtures.ask, &fixtures.ark, now);
        }
        4 => {
            let _ = fixtures.snp.verify(rest, now);
        }
        5 => {
            let _ = fixtures.snp.verify_parts(&fixtures.report, rest, &fixtures.ask, &fixtures.ark, now);
        }
        6 => {
            let _ = fixtures.snp.verify_parts(&fixtures.report, VCEK, rest, &fixtures.ark, now);
        }
        7 => {
            let _ = fixtures.snp.verify_parts(&fixtures.report, VCEK, &fixtures.ask, rest, now);
        }
        8 => {
            // A configured CRL: parsed, then checked against the genuine chain.
            if let Ok(crl) = AmdCrl::parse(rest) {
                let _ = crl.validity();
                let _ = crl.revoked_serials().count();
                if let Ok(verifier) = SnpVerifier::new().with_crls([rest]) {
                    let _ = verifier.verify_parts(&fixtures.report, VCEK, &fixtures.ask, &fixtures.ark, now);
                }
            }
        }
        _ => {
            // A CRL the runner presents alongside the genuine chain.
            let _ = fixtures.snp.verify_parts_with_crl(
                &fixtures.report,
                VCEK,
                &fixtures.ask,
                &fixtures.ark,
                Some(rest),
                now,
            );
        }
    }
});
