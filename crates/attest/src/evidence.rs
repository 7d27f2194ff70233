//! What a verified attestation says ([`Claims`]), the verifier plug-in
//! ([`AttestationVerifier`]), the policy a secret is bound to ([`Policy`]) and
//! the one-off-key binding ([`bind_check`]).

use ring::digest::{SHA256, digest};
use serde::{Deserialize, Serialize};

use crate::AttestError;

/// The platform names [`Claims::platform`] takes.
pub mod platform {
    /// The simulated TEE of [`crate::simulated`] (development and tests only).
    pub const SIMULATED: &str = "simulated";
    /// AMD SEV-SNP ([`crate::snp`]).
    pub const SEV_SNP: &str = "sev-snp";
}

/// What verified evidence attests, the same for every platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    /// [`platform::SIMULATED`] or [`platform::SEV_SNP`].
    pub platform: &'static str,
    /// Lower-case hex: SEV-SNP's launch measurement (48 bytes); the simulated runner's measurement.
    pub measurement: String,
    /// Lower-case hex: SEV-SNP's `host_data` (32 bytes, e.g. the security policy digest); the simulated host data.
    pub host_data: String,
    /// The 64 bytes the guest put in the report; see [`report_data_for`].
    pub report_data: [u8; 64],
    /// Whether the TEE can be debugged (SEV-SNP guest policy bit 19), i.e. its memory is readable by the host.
    pub debuggable: bool,
}

/// A verifier of one platform's evidence. Implementations are pure: `now_s`
/// (Unix seconds) is the caller's clock.
pub trait AttestationVerifier: Send + Sync + std::fmt::Debug {
    /// Checks `evidence` (signature, chain, freshness, format) and returns what it attests.
    /// It does not apply a [`Policy`] nor the key binding: see [`Policy::check`] and [`bind_check`].
    fn verify(&self, evidence: &[u8], now_s: i64) -> Result<Claims, AttestError>;
}

/// Which attested runners may receive a secret or token: bound to a secret for a run.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Allowed measurements (hex, any case). Empty allows none.
    pub measurements: Vec<String>,
    /// Allowed host data (hex, any case). Empty allows any.
    #[serde(default)]
    pub host_data: Vec<String>,
    /// Whether a debuggable TEE is acceptable (never in production: its memory is readable by the host).
    #[serde(default)]
    pub allow_debug: bool,
}

impl Policy {
    /// Accepts `claims` if its measurement is allowed, its host data allowed (or any
    /// allowed), and it is not debuggable unless debug is allowed.
    pub fn check(&self, claims: &Claims) -> Result<(), AttestError> {
        if !self.measurements.iter().any(|allowed| allowed.eq_ignore_ascii_case(&claims.measurement)) {
            return Err(AttestError::MeasurementNotAllowed {
                measurement: claims.measurement.clone(),
                allowed: self.measurements.len(),
            });
        }
        if !self.host_data.is_empty()
            && !self.host_data.iter().any(|allowed| allowed.eq_ignore_ascii_case(&claims.host_data))
        {
            return Err(AttestError::HostDataNotAllowed { host_data: claims.host_data.clone() });
        }
        if claims.debuggable && !self.allow_debug {
            return Err(AttestError::DebugNotAllowed);
        }
        Ok(())
    }
}

/// The `report_data` a runner puts in its report to bind a one-off public key:
/// SHA-256(public key bytes) followed by 32 zero bytes (CCF's convention).
pub fn report_data_for(one_off_public_key: &[u8]) -> [u8; 64] {
    let mut report_data = [0u8; 64];
    report_data[..32].copy_from_slice(digest(&SHA256, one_off_public_key).as_ref());
    report_data
}

/// Accepts `claims` only if its `report_data` binds `one_off_public_key` (see
/// [`report_data_for`]): the answer may then be encrypted to that key, which only
/// the attested TEE holds.
pub fn bind_check(claims: &Claims, one_off_public_key: &[u8]) -> Result<(), AttestError> {
    if claims.report_data == report_data_for(one_off_public_key) {
        Ok(())
    } else {
        Err(AttestError::ReportDataMismatch)
    }
}

/// Whether `text` is non-empty, even-length hex of at most `max_bytes` bytes.
pub(crate) fn is_hex_of_at_most(text: &str, max_bytes: usize) -> bool {
    !text.is_empty()
        && text.len().is_multiple_of(2)
        && text.len() <= max_bytes * 2
        && text.bytes().all(|byte| byte.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims() -> Claims {
        Claims {
            platform: platform::SIMULATED,
            measurement: "aa11".into(),
            host_data: "bb22".into(),
            report_data: report_data_for(b"key"),
            debuggable: false,
        }
    }

    #[test]
    fn policy_accepts_an_allowed_measurement_in_any_case() {
        let policy = Policy { measurements: vec!["AA11".into()], host_data: vec![], allow_debug: false };
        assert_eq!(policy.check(&claims()), Ok(()));
    }

    #[test]
    fn policy_refuses_other_measurements_and_an_empty_list() {
        let policy = Policy { measurements: vec!["aa12".into()], ..Policy::default() };
        assert!(matches!(policy.check(&claims()), Err(AttestError::MeasurementNotAllowed { allowed: 1, .. })));
        assert!(matches!(Policy::default().check(&claims()), Err(AttestError::MeasurementNotAllowed { .. })));
    }

    #[test]
    fn policy_checks_host_data_when_listed() {
        let mut policy = Policy { measurements: vec!["aa11".into()], host_data: vec!["cc".into()], allow_debug: false };
        assert!(matches!(policy.check(&claims()), Err(AttestError::HostDataNotAllowed { .. })));
        policy.host_data.push("BB22".into());
        assert_eq!(policy.check(&claims()), Ok(()));
    }

    #[test]
    fn policy_refuses_debuggable_unless_allowed() {
        let mut debuggable = claims();
        debuggable.debuggable = true;
        let mut policy = Policy { measurements: vec!["aa11".into()], ..Policy::default() };
        assert_eq!(policy.check(&debuggable), Err(AttestError::DebugNotAllowed));
        policy.allow_debug = true;
        assert_eq!(policy.check(&debuggable), Ok(()));
    }

    #[test]
    fn binding_is_sha256_then_zeros() {
        let report_data = report_data_for(b"key");
        assert_eq!(
            hex::encode(&report_data[..32]),
            // SHA-256("key")
            "2c70e12b7a0646f92279f427c7b38e7334d8e5389cff167a1dc30e73f826b683"
        );
        assert_eq!(report_data[32..], [0u8; 32]);
        assert_eq!(bind_check(&claims(), b"key"), Ok(()));
        assert_eq!(bind_check(&claims(), b"other key"), Err(AttestError::ReportDataMismatch));
    }

    #[test]
    fn binding_refuses_nonzero_tail() {
        let mut claims = claims();
        claims.report_data[63] = 1;
        assert_eq!(bind_check(&claims, b"key"), Err(AttestError::ReportDataMismatch));
    }
}

/// Several verifiers as one: evidence is accepted by the first that verifies it (a server may
/// accept SEV-SNP evidence and, in development, simulated reports). When none does, the last
/// verifier's refusal is answered.
#[derive(Debug)]
pub struct FirstThatVerifies(Vec<std::sync::Arc<dyn AttestationVerifier>>);

impl FirstThatVerifies {
    /// `None` for no verifier (every release is refused), the verifier itself for one.
    pub fn of(
        verifiers: Vec<std::sync::Arc<dyn AttestationVerifier>>,
    ) -> Option<std::sync::Arc<dyn AttestationVerifier>> {
        match verifiers.len() {
            0 => None,
            1 => verifiers.into_iter().next(),
            _ => Some(std::sync::Arc::new(FirstThatVerifies(verifiers))),
        }
    }
}

impl AttestationVerifier for FirstThatVerifies {
    fn verify(&self, evidence: &[u8], now_s: i64) -> Result<Claims, AttestError> {
        let mut last = AttestError::MissingEvidence;
        for verifier in &self.0 {
            match verifier.verify(evidence, now_s) {
                Ok(claims) => return Ok(claims),
                Err(e) => last = e,
            }
        }
        Err(last)
    }
}
