//! A simulated TEE for development and tests: reports signed by a local
//! Ed25519 attestation key. It proves nothing about hardware; a policy for
//! production accepts only [`crate::snp`].
//!
//! The format (version 1) is kept simple enough for Python's `cryptography`
//! package to produce (see docs/attestation.md): a JSON envelope
//! `{"payload": base64(payload), "signature": base64(Ed25519(payload))}` where
//! `payload` is the UTF-8 JSON object
//! `{"version":1,"platform":"simulated","measurement":hex,"host_data":hex,"report_data":hex(64 bytes),"debuggable":bool,"issued_at":unix_seconds}`.
//! The signature covers the payload's exact bytes, so no canonical JSON is needed.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ring::rand::SystemRandom;
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::AttestError;
use crate::evidence::{AttestationVerifier, Claims, is_hex_of_at_most, platform};

/// The only report format version.
pub const REPORT_VERSION: u32 = 1;
/// Largest accepted envelope (bytes): far above a real report, bounds the parser's work.
pub const MAX_REPORT_BYTES: usize = 16 * 1024;
/// Default oldest accepted report age (seconds).
pub const DEFAULT_MAX_AGE_S: i64 = 300;
/// Default largest accepted clock skew into the future (seconds).
pub const DEFAULT_MAX_SKEW_S: i64 = 60;
/// Longest accepted measurement or host data (bytes), as SEV-SNP's measurement.
const MAX_FIELD_BYTES: usize = 64;
const FORMAT: &str = "simulated report";

/// What a simulated report says (the signed payload).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimulatedReport {
    /// The runner's measurement (hex).
    pub measurement: String,
    /// The host data (hex).
    pub host_data: String,
    /// The 64 bytes bound into the report; see [`crate::report_data_for`].
    pub report_data: [u8; 64],
    /// Whether the (simulated) TEE is debuggable.
    pub debuggable: bool,
    /// When it was issued (Unix seconds).
    pub issued_at: i64,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Envelope {
    payload: String,
    signature: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Payload {
    version: u32,
    platform: String,
    measurement: String,
    host_data: String,
    report_data: String,
    debuggable: bool,
    issued_at: i64,
}

/// The issuing side: holds the local attestation key. Debug shows only the public key.
pub struct SimulatedTee {
    key_pair: Ed25519KeyPair,
}

impl std::fmt::Debug for SimulatedTee {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimulatedTee").field("public_key", &hex::encode(self.public_key())).finish_non_exhaustive()
    }
}

impl SimulatedTee {
    /// A new random attestation key; returns the TEE and the key's PKCS#8 (v2) document to keep.
    pub fn generate() -> Result<(Self, Zeroizing<Vec<u8>>), AttestError> {
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
            .map_err(|_| AttestError::Crypto { what: "Ed25519 key generation" })?;
        let pkcs8 = Zeroizing::new(pkcs8.as_ref().to_vec());
        Ok((Self::new(&pkcs8)?, pkcs8))
    }

    /// The TEE with the attestation key from a PKCS#8 Ed25519 document (as `generate` returns,
    /// or Python's `Ed25519PrivateKey.private_bytes(DER, PKCS8, NoEncryption())`).
    pub fn new(pkcs8: &[u8]) -> Result<Self, AttestError> {
        let key_pair =
            Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8).map_err(|rejected| AttestError::InvalidKey {
                what: "simulated attestation key",
                problem: format!(
                    "not a PKCS#8 Ed25519 private key ({rejected}); generate one with SimulatedTee::generate"
                ),
            })?;
        Ok(Self { key_pair })
    }

    /// The 32-byte Ed25519 public key a [`SimulatedVerifier`] trusts.
    pub fn public_key(&self) -> [u8; 32] {
        let mut public_key = [0u8; 32];
        public_key.copy_from_slice(self.key_pair.public_key().as_ref());
        public_key
    }

    /// A signed report (the JSON envelope's bytes). Fails if measurement or host data is not hex.
    pub fn issue(&self, report: &SimulatedReport) -> Result<Vec<u8>, AttestError> {
        for (field, value) in [("measurement", &report.measurement), ("host_data", &report.host_data)] {
            if !is_hex_of_at_most(value, MAX_FIELD_BYTES) {
                return Err(malformed(format!("{field} must be 1 to {MAX_FIELD_BYTES} bytes of hex")));
            }
        }
        let payload = Payload {
            version: REPORT_VERSION,
            platform: platform::SIMULATED.to_owned(),
            measurement: report.measurement.to_ascii_lowercase(),
            host_data: report.host_data.to_ascii_lowercase(),
            report_data: hex::encode(report.report_data),
            debuggable: report.debuggable,
            issued_at: report.issued_at,
        };
        let payload = serde_json::to_vec(&payload).map_err(|error| malformed(error.to_string()))?;
        let signature = self.key_pair.sign(&payload);
        let envelope = Envelope { payload: STANDARD.encode(&payload), signature: STANDARD.encode(signature) };
        serde_json::to_vec(&envelope).map_err(|error| malformed(error.to_string()))
    }
}

/// Verifies simulated reports against one trusted attestation public key.
#[derive(Debug, Clone)]
pub struct SimulatedVerifier {
    trusted_public_key: [u8; 32],
    max_age_s: i64,
    max_skew_s: i64,
}

impl SimulatedVerifier {
    /// A verifier trusting the 32-byte Ed25519 public key `trusted_public_key`, with the
    /// default freshness window ([`DEFAULT_MAX_AGE_S`] old, [`DEFAULT_MAX_SKEW_S`] ahead).
    pub fn new(trusted_public_key: &[u8]) -> Result<Self, AttestError> {
        let trusted_public_key: [u8; 32] = trusted_public_key.try_into().map_err(|_| AttestError::InvalidKey {
            what: "simulated attestation public key",
            problem: format!("{} bytes, not 32; give the raw Ed25519 public key", trusted_public_key.len()),
        })?;
        Ok(Self { trusted_public_key, max_age_s: DEFAULT_MAX_AGE_S, max_skew_s: DEFAULT_MAX_SKEW_S })
    }

    /// The same verifier with another freshness window (seconds; negative values count as 0).
    pub fn with_window(mut self, max_age_s: i64, max_skew_s: i64) -> Self {
        self.max_age_s = max_age_s.max(0);
        self.max_skew_s = max_skew_s.max(0);
        self
    }

    /// Parses and checks the signature, not the freshness: what [`AttestationVerifier::verify`] builds on.
    pub fn verify_signature(&self, evidence: &[u8]) -> Result<SimulatedReport, AttestError> {
        if evidence.is_empty() {
            return Err(AttestError::MissingEvidence);
        }
        if evidence.len() > MAX_REPORT_BYTES {
            return Err(malformed(format!("{} bytes, more than the {MAX_REPORT_BYTES} allowed", evidence.len())));
        }
        let envelope: Envelope = serde_json::from_slice(evidence)
            .map_err(|error| malformed(format!("not the JSON envelope {{payload, signature}}: {error}")))?;
        let payload = STANDARD.decode(&envelope.payload).map_err(|_| malformed("payload is not base64".into()))?;
        let signature =
            STANDARD.decode(&envelope.signature).map_err(|_| malformed("signature is not base64".into()))?;
        UnparsedPublicKey::new(&ED25519, &self.trusted_public_key)
            .verify(&payload, &signature)
            .map_err(|_| AttestError::BadSignature { what: FORMAT })?;
        let payload: Payload = serde_json::from_slice(&payload)
            .map_err(|error| malformed(format!("payload is not the version 1 JSON object: {error}")))?;
        if payload.version != REPORT_VERSION {
            return Err(malformed(format!("version {} is not supported (only {REPORT_VERSION})", payload.version)));
        }
        if payload.platform != platform::SIMULATED {
            return Err(malformed(format!("platform is {:?}, not \"simulated\"", payload.platform)));
        }
        for (field, value) in [("measurement", &payload.measurement), ("host_data", &payload.host_data)] {
            if !is_hex_of_at_most(value, MAX_FIELD_BYTES) {
                return Err(malformed(format!("{field} is not 1 to {MAX_FIELD_BYTES} bytes of hex")));
            }
        }
        let mut report_data = [0u8; 64];
        hex::decode_to_slice(&payload.report_data, &mut report_data)
            .map_err(|_| malformed("report_data is not 64 bytes of hex".into()))?;
        Ok(SimulatedReport {
            measurement: payload.measurement.to_ascii_lowercase(),
            host_data: payload.host_data.to_ascii_lowercase(),
            report_data,
            debuggable: payload.debuggable,
            issued_at: payload.issued_at,
        })
    }
}

impl AttestationVerifier for SimulatedVerifier {
    fn verify(&self, evidence: &[u8], now_s: i64) -> Result<Claims, AttestError> {
        let report = self.verify_signature(evidence)?;
        let age = now_s.saturating_sub(report.issued_at);
        if age > self.max_age_s || age < -self.max_skew_s {
            return Err(AttestError::Stale {
                issued_at: report.issued_at,
                now_s,
                max_age_s: self.max_age_s,
                max_skew_s: self.max_skew_s,
            });
        }
        Ok(Claims {
            platform: platform::SIMULATED,
            measurement: report.measurement,
            host_data: report.host_data,
            report_data: report.report_data,
            debuggable: report.debuggable,
            snp: None,
        })
    }
}

fn malformed(problem: String) -> AttestError {
    AttestError::MalformedEvidence { format: FORMAT, problem }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report_data_for;

    const NOW: i64 = 1_800_000_000;

    fn report() -> SimulatedReport {
        SimulatedReport {
            measurement: "ABCDEF01".into(),
            host_data: "00ff".into(),
            report_data: report_data_for(b"one-off key"),
            debuggable: false,
            issued_at: NOW - 10,
        }
    }

    fn tee_and_verifier() -> (SimulatedTee, SimulatedVerifier) {
        let (tee, _pkcs8) = SimulatedTee::generate().unwrap();
        let verifier = SimulatedVerifier::new(&tee.public_key()).unwrap();
        (tee, verifier)
    }

    #[test]
    fn issued_report_verifies_into_claims() {
        let (tee, verifier) = tee_and_verifier();
        let claims = verifier.verify(&tee.issue(&report()).unwrap(), NOW).unwrap();
        assert_eq!(claims.platform, "simulated");
        assert_eq!(claims.measurement, "abcdef01");
        assert_eq!(claims.host_data, "00ff");
        assert_eq!(claims.report_data, report_data_for(b"one-off key"));
        assert!(!claims.debuggable);
    }

    #[test]
    fn pkcs8_round_trip_keeps_the_key() {
        let (tee, pkcs8) = SimulatedTee::generate().unwrap();
        assert_eq!(SimulatedTee::new(&pkcs8).unwrap().public_key(), tee.public_key());
        assert!(format!("{tee:?}").contains(&hex::encode(tee.public_key())));
    }

    #[test]
    fn another_key_is_refused() {
        let (tee, _) = tee_and_verifier();
        let (_, other_verifier) = tee_and_verifier();
        let evidence = tee.issue(&report()).unwrap();
        assert_eq!(other_verifier.verify(&evidence, NOW), Err(AttestError::BadSignature { what: FORMAT }));
    }

    #[test]
    fn altered_payload_is_refused() {
        let (tee, verifier) = tee_and_verifier();
        let evidence = tee.issue(&report()).unwrap();
        let mut envelope: serde_json::Value = serde_json::from_slice(&evidence).unwrap();
        let payload = STANDARD.decode(envelope["payload"].as_str().unwrap()).unwrap();
        let altered = String::from_utf8(payload).unwrap().replace("abcdef01", "abcdef02");
        envelope["payload"] = STANDARD.encode(altered).into();
        let altered = serde_json::to_vec(&envelope).unwrap();
        assert_eq!(verifier.verify(&altered, NOW), Err(AttestError::BadSignature { what: FORMAT }));
    }

    #[test]
    fn stale_and_future_reports_are_refused() {
        let (tee, verifier) = tee_and_verifier();
        let evidence = tee.issue(&report()).unwrap();
        assert!(verifier.verify(&evidence, NOW - 10 + DEFAULT_MAX_AGE_S).is_ok());
        assert!(matches!(verifier.verify(&evidence, NOW - 9 + DEFAULT_MAX_AGE_S), Err(AttestError::Stale { .. })));
        assert!(matches!(verifier.verify(&evidence, NOW - 11 - DEFAULT_MAX_SKEW_S), Err(AttestError::Stale { .. })));
        let narrow = verifier.with_window(5, 0);
        assert!(matches!(narrow.verify(&evidence, NOW), Err(AttestError::Stale { .. })));
    }

    #[test]
    fn empty_and_garbage_evidence_are_refused() {
        let (_, verifier) = tee_and_verifier();
        assert_eq!(verifier.verify(b"", NOW), Err(AttestError::MissingEvidence));
        assert!(matches!(verifier.verify(b"{", NOW), Err(AttestError::MalformedEvidence { .. })));
        assert!(matches!(
            verifier.verify(&[b' '; MAX_REPORT_BYTES + 1], NOW),
            Err(AttestError::MalformedEvidence { .. })
        ));
    }

    #[test]
    fn signed_but_wrong_fields_are_refused() {
        // A payload signed by the trusted key but of another version or platform, or with bad hex.
        let (tee, verifier) = tee_and_verifier();
        let sign = |payload: serde_json::Value| {
            let payload = serde_json::to_vec(&payload).unwrap();
            let signature = tee.key_pair.sign(&payload);
            serde_json::to_vec(&serde_json::json!({
                "payload": STANDARD.encode(&payload), "signature": STANDARD.encode(signature)
            }))
            .unwrap()
        };
        let good = serde_json::json!({
            "version": 1, "platform": "simulated", "measurement": "aa", "host_data": "bb",
            "report_data": hex::encode([0u8; 64]), "debuggable": false, "issued_at": NOW
        });
        assert!(verifier.verify(&sign(good.clone()), NOW).is_ok());
        for (field, value) in [
            ("version", serde_json::json!(2)),
            ("platform", serde_json::json!("sev-snp")),
            ("measurement", serde_json::json!("xyz")),
            ("host_data", serde_json::json!("")),
            ("report_data", serde_json::json!("00")),
        ] {
            let mut payload = good.clone();
            payload[field] = value;
            assert!(
                matches!(verifier.verify(&sign(payload), NOW), Err(AttestError::MalformedEvidence { .. })),
                "{field}"
            );
        }
    }

    #[test]
    fn issuing_refuses_non_hex_fields() {
        let (tee, _) = tee_and_verifier();
        let mut bad = report();
        bad.measurement = "not hex".into();
        assert!(matches!(tee.issue(&bad), Err(AttestError::MalformedEvidence { .. })));
    }

    #[test]
    fn verifier_refuses_a_short_public_key() {
        assert!(matches!(SimulatedVerifier::new(&[0u8; 31]), Err(AttestError::InvalidKey { .. })));
    }
}
