//! What a verified attestation says ([`Claims`]), the verifier plug-in
//! ([`AttestationVerifier`]), the policy a secret is bound to ([`Policy`]) and
//! the one-off-key binding ([`bind_check`]).

use ring::digest::{SHA256, digest};
use serde::{Deserialize, Serialize};

use crate::AttestError;
use crate::snp_tcb::{Tcb, check_tcb_minimum};

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
    /// What only SEV-SNP attests (TCB, guest SVN, VMPL, SMT, migration agent); `None` for the simulated TEE.
    pub snp: Option<SnpClaims>,
}

/// The SEV-SNP facts a [`Policy`] can set minimums or restrictions on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnpClaims {
    /// `Milan`, `Genoa` or `Turin`.
    pub generation: &'static str,
    /// `REPORTED_TCB`, decoded, and equal to the TCB the VCEK certifies.
    pub reported_tcb: Tcb,
    /// The guest's security version number.
    pub guest_svn: u32,
    /// The VMPL the report was requested from (0 is the most privileged).
    pub vmpl: u32,
    /// Whether SMT is enabled on the host (platform info bit 0).
    pub smt_enabled: bool,
    /// Whether the guest policy lets a migration agent be associated (bit 18).
    pub migration_agent_allowed: bool,
}

/// A verifier of one platform's evidence. Implementations are pure: `now_s`
/// (Unix seconds) is the caller's clock.
pub trait AttestationVerifier: Send + Sync + std::fmt::Debug {
    /// Checks `evidence` (signature, chain, freshness, format) and returns what it attests.
    /// It does not apply a [`Policy`] nor the key binding: see [`Policy::check`] and [`bind_check`].
    fn verify(&self, evidence: &[u8], now_s: i64) -> Result<Claims, AttestError>;
}

/// Which attested runners may receive a secret or token: bound to a secret for a run.
///
/// The SEV-SNP fields (`min_tcb`, `min_guest_svn`, `max_vmpl`, `allow_smt`,
/// `allow_migration_agent`) default to no restriction, so a policy written before them
/// means what it meant; any of them set refuses evidence that attests no SEV-SNP facts.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Allowed measurements (hex, any case). Empty allows none.
    pub measurements: Vec<String>,
    /// Allowed host data (hex, any case). Empty allows any.
    #[serde(default)]
    pub host_data: Vec<String>,
    /// Whether a debuggable TEE is acceptable (never in production: its memory is readable by the
    /// host). Governance refuses to bind a policy that sets it.
    #[serde(default)]
    pub allow_debug: bool,
    /// SEV-SNP: the lowest acceptable `REPORTED_TCB`, per component (each compared on its own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_tcb: Option<Tcb>,
    /// SEV-SNP: the lowest acceptable guest SVN (0: any).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub min_guest_svn: u32,
    /// SEV-SNP: the highest acceptable VMPL the report was requested from (0 to 3; none: any).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_vmpl: Option<u32>,
    /// SEV-SNP: whether a host with SMT enabled is acceptable (SMT siblings share caches with the host).
    #[serde(default = "allowed", skip_serializing_if = "is_allowed")]
    pub allow_smt: bool,
    /// SEV-SNP: whether a guest whose policy allows a migration agent is acceptable.
    #[serde(default = "allowed", skip_serializing_if = "is_allowed")]
    pub allow_migration_agent: bool,
}

impl Default for Policy {
    /// Allows nothing (no measurement) and restricts nothing else.
    fn default() -> Self {
        Policy {
            measurements: Vec::new(),
            host_data: Vec::new(),
            allow_debug: false,
            min_tcb: None,
            min_guest_svn: 0,
            max_vmpl: None,
            allow_smt: true,
            allow_migration_agent: true,
        }
    }
}

fn allowed() -> bool {
    true
}

// serde's skip_serializing_if passes a reference.
#[allow(clippy::trivially_copy_pass_by_ref)]
fn is_allowed(value: &bool) -> bool {
    *value
}

#[allow(clippy::trivially_copy_pass_by_ref)]
fn is_zero(value: &u32) -> bool {
    *value == 0
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
        self.check_snp(claims)
    }

    /// Whether any SEV-SNP field restricts anything.
    pub fn restricts_snp(&self) -> bool {
        self.min_tcb.is_some()
            || self.min_guest_svn > 0
            || self.max_vmpl.is_some()
            || !self.allow_smt
            || !self.allow_migration_agent
    }

    fn check_snp(&self, claims: &Claims) -> Result<(), AttestError> {
        if !self.restricts_snp() {
            return Ok(());
        }
        let Some(snp) = &claims.snp else {
            return Err(AttestError::PolicyNotMet {
                field: "min_tcb, min_guest_svn, max_vmpl, allow_smt or allow_migration_agent",
                seen: format!("not attested by a {} TEE", claims.platform),
                required: "SEV-SNP evidence".into(),
            });
        };
        if let Some(minimum) = &self.min_tcb {
            check_tcb_minimum(&snp.reported_tcb, minimum)?;
        }
        if snp.guest_svn < self.min_guest_svn {
            return Err(AttestError::PolicyNotMet {
                field: "min_guest_svn",
                seen: snp.guest_svn.to_string(),
                required: format!("at least {}", self.min_guest_svn),
            });
        }
        if let Some(max_vmpl) = self.max_vmpl
            && snp.vmpl > max_vmpl
        {
            return Err(AttestError::PolicyNotMet {
                field: "max_vmpl",
                seen: snp.vmpl.to_string(),
                required: format!("at most {max_vmpl}"),
            });
        }
        if snp.smt_enabled && !self.allow_smt {
            return Err(AttestError::PolicyNotMet {
                field: "allow_smt",
                seen: "SMT enabled on the host".into(),
                required: "SMT disabled (allow_smt is false)".into(),
            });
        }
        if snp.migration_agent_allowed && !self.allow_migration_agent {
            return Err(AttestError::PolicyNotMet {
                field: "allow_migration_agent",
                seen: "a guest policy allowing a migration agent".into(),
                required: "MIGRATE_MA clear (allow_migration_agent is false)".into(),
            });
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
            snp: None,
        }
    }

    fn snp_claims() -> Claims {
        Claims {
            platform: platform::SEV_SNP,
            snp: Some(SnpClaims {
                generation: "Milan",
                reported_tcb: Tcb { bootloader: 3, tee: 0, snp: 8, microcode: 115, fmc: None },
                guest_svn: 2,
                vmpl: 1,
                smt_enabled: true,
                migration_agent_allowed: false,
            }),
            ..claims()
        }
    }

    fn allowing_aa11() -> Policy {
        Policy { measurements: vec!["aa11".into()], ..Policy::default() }
    }

    #[test]
    fn a_policy_without_snp_fields_reads_and_writes_as_before() {
        let old: Policy =
            serde_json::from_str(r#"{"measurements": ["aa11"], "host_data": [], "allow_debug": false}"#).unwrap();
        assert_eq!(old, allowing_aa11());
        assert!(!old.restricts_snp());
        assert_eq!(
            serde_json::to_value(&old).unwrap(),
            serde_json::json!({"measurements": ["aa11"], "host_data": [], "allow_debug": false})
        );
        assert_eq!(old.check(&claims()), Ok(()));
        assert_eq!(old.check(&snp_claims()), Ok(()));
    }

    #[test]
    fn snp_fields_round_trip_and_unknown_ones_are_refused() {
        let policy: Policy = serde_json::from_str(
            r#"{"measurements": ["aa11"], "min_tcb": {"snp": 8, "microcode": 115}, "min_guest_svn": 2,
                "max_vmpl": 0, "allow_smt": false, "allow_migration_agent": false}"#,
        )
        .unwrap();
        assert_eq!(policy.min_tcb, Some(Tcb { snp: 8, microcode: 115, ..Tcb::default() }));
        let again: Policy = serde_json::from_value(serde_json::to_value(&policy).unwrap()).unwrap();
        assert_eq!(again, policy);
        assert!(serde_json::from_str::<Policy>(r#"{"measurements": [], "min_tcb": {"sev": 1}}"#).is_err());
        assert!(serde_json::from_str::<Policy>(r#"{"measurements": [], "min_svn": 1}"#).is_err());
    }

    #[test]
    fn tcb_minimum_names_the_component_seen_and_required() {
        let mut policy = allowing_aa11();
        policy.min_tcb = Some(Tcb { bootloader: 3, snp: 8, microcode: 115, ..Tcb::default() });
        assert_eq!(policy.check(&snp_claims()), Ok(()));
        policy.min_tcb = Some(Tcb { snp: 9, ..Tcb::default() });
        let error = policy.check(&snp_claims()).unwrap_err();
        assert_eq!(
            error,
            AttestError::PolicyNotMet { field: "min_tcb.snp", seen: "8".into(), required: "at least 9".into() }
        );
    }

    #[test]
    fn guest_svn_vmpl_smt_and_migration_agent() {
        let mut policy = Policy { min_guest_svn: 2, max_vmpl: Some(1), ..allowing_aa11() };
        assert_eq!(policy.check(&snp_claims()), Ok(()));
        policy.min_guest_svn = 3;
        let error = policy.check(&snp_claims()).unwrap_err();
        assert_eq!(
            error,
            AttestError::PolicyNotMet { field: "min_guest_svn", seen: "2".into(), required: "at least 3".into() }
        );
        assert!(error.to_string().contains("min_guest_svn is 2, the policy requires at least 3"), "{error}");
        let policy = Policy { max_vmpl: Some(0), ..allowing_aa11() };
        assert!(matches!(policy.check(&snp_claims()), Err(AttestError::PolicyNotMet { field: "max_vmpl", .. })));
        let policy = Policy { allow_smt: false, ..allowing_aa11() };
        assert!(matches!(policy.check(&snp_claims()), Err(AttestError::PolicyNotMet { field: "allow_smt", .. })));
        let policy = Policy { allow_migration_agent: false, ..allowing_aa11() };
        assert_eq!(policy.check(&snp_claims()), Ok(()), "this guest's policy forbids a migration agent");
        let mut with_agent = snp_claims();
        if let Some(snp) = &mut with_agent.snp {
            snp.migration_agent_allowed = true;
        }
        assert!(matches!(
            policy.check(&with_agent),
            Err(AttestError::PolicyNotMet { field: "allow_migration_agent", .. })
        ));
    }

    #[test]
    fn snp_restrictions_refuse_evidence_without_snp_facts() {
        let policy = Policy { min_guest_svn: 1, ..allowing_aa11() };
        let error = policy.check(&claims()).unwrap_err();
        assert!(matches!(error, AttestError::PolicyNotMet { .. }), "{error}");
        assert!(error.to_string().contains("simulated"), "{error}");
    }

    #[test]
    fn policy_accepts_an_allowed_measurement_in_any_case() {
        let policy = Policy { measurements: vec!["AA11".into()], ..Policy::default() };
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
        let mut policy =
            Policy { measurements: vec!["aa11".into()], host_data: vec!["cc".into()], ..Policy::default() };
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
