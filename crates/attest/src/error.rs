//! The one error type of the crate.
//!
//! Every message names the thing, the problem and the fix. None carries key
//! material, a plaintext secret or a token: only public facts (measurements,
//! key ids, run ids, field names).

/// Why evidence, a policy, a sealed secret, a wrap or a token was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum AttestError {
    /// The caller presented no attestation evidence at all.
    #[error("attestation evidence: none was presented; the runner must send its attestation report with the request")]
    MissingEvidence,

    /// The evidence could not be parsed (wrong length, bad JSON, bad base64, bad field).
    #[error(
        "{format} evidence: {problem}; send the report exactly as the platform produced it (see docs/attestation.md)"
    )]
    MalformedEvidence {
        /// Which format was expected: `simulated report`, `SEV-SNP report`, `SEV-SNP evidence`.
        format: &'static str,
        /// What is wrong with it (no secret data).
        problem: String,
    },

    /// A signature over a report or a certificate did not verify.
    #[error(
        "{what}: the signature does not verify; the report or certificate was altered or signed by another key — obtain it anew from the platform"
    )]
    BadSignature {
        /// What was signed: `simulated report`, `SEV-SNP report`, `ASK certificate`, ….
        what: &'static str,
    },

    /// The certificate chain does not lead to a pinned root, or a certificate is unusable.
    #[error(
        "SEV-SNP certificate chain: {problem}; use the ARK/ASK of the report's processor family and its VCEK from AMD"
    )]
    UntrustedChain {
        /// What is wrong (names the certificate).
        problem: String,
    },

    /// The report's `REPORTED_TCB` is not the TCB the VCEK certifies.
    #[error(
        "SEV-SNP report: REPORTED_TCB {component} is {}, but the VCEK certifies {}; send the VCEK AMD KDS issues for the report's reported TCB",
        spl_text(*.report),
        spl_text(*.vcek)
    )]
    TcbMismatch {
        /// The component: `bootloader`, `tee`, `snp`, `microcode` or `fmc`.
        component: &'static str,
        /// Its security patch level in the report (none: the layout has no such component).
        report: Option<u8>,
        /// Its security patch level in the VCEK's extension.
        vcek: Option<u8>,
    },

    /// The ASK or VCEK is on AMD's revocation list.
    #[error(
        "SEV-SNP certificate chain: the {what} (serial {serial}) is revoked by AMD's CRL; the platform must be re-provisioned with a current key"
    )]
    Revoked {
        /// `ASK` or `VCEK`.
        what: &'static str,
        /// Its serial number (hex).
        serial: String,
    },

    /// The configured CRL's `nextUpdate` has passed.
    #[error(
        "AMD CRL: stale, its nextUpdate was {next_update} (Unix seconds) and now is {now_s}; fetch a current CRL from AMD KDS (vcek/v1/<product>/crl)"
    )]
    CrlStale {
        /// The CRL's `nextUpdate` (Unix seconds).
        next_update: i64,
        /// The verifier's current time (Unix seconds).
        now_s: i64,
    },

    /// The CRL cannot be used: malformed, another product's, not yet valid, or none for this chain.
    #[error("AMD CRL: {problem}")]
    CrlUnusable {
        /// What is wrong and how to fix it.
        problem: String,
    },

    /// A policy minimum or restriction (TCB, guest SVN, VMPL, SMT, migration agent) is not met.
    #[error(
        "attestation policy: {field} is {seen}, the policy requires {required}; run on a platform and firmware that meet it, or change the policy"
    )]
    PolicyNotMet {
        /// The policy field: `min_tcb.snp`, `min_guest_svn`, `max_vmpl`, `allow_smt`, ….
        field: &'static str,
        /// What the evidence attests.
        seen: String,
        /// What the policy requires.
        required: String,
    },

    /// A simulated report's `issued_at` lies outside the freshness window.
    #[error(
        "simulated report: issued at {issued_at} s, now is {now_s} s, outside the window of {max_age_s} s old to {max_skew_s} s ahead; issue a fresh report"
    )]
    Stale {
        /// The report's issue time (Unix seconds).
        issued_at: i64,
        /// The verifier's current time (Unix seconds).
        now_s: i64,
        /// Oldest accepted age (seconds).
        max_age_s: i64,
        /// Largest accepted clock skew into the future (seconds).
        max_skew_s: i64,
    },

    /// The attested measurement is not one the policy allows.
    #[error(
        "attestation policy: measurement {measurement} is not among the {allowed} allowed; run the approved runner image or add its measurement to the policy"
    )]
    MeasurementNotAllowed {
        /// The measurement the evidence attests (hex).
        measurement: String,
        /// How many measurements the policy allows.
        allowed: usize,
    },

    /// The attested host data is not one the policy allows.
    #[error(
        "attestation policy: host_data {host_data} is not among the allowed values; deploy with the approved host data (e.g. the security policy digest) or add it to the policy"
    )]
    HostDataNotAllowed {
        /// The host data the evidence attests (hex).
        host_data: String,
    },

    /// The evidence comes from a debuggable TEE and the policy forbids that.
    #[error("attestation policy: the TEE is debuggable and the policy does not allow debug; launch it without debug")]
    DebugNotAllowed,

    /// `report_data` is not SHA-256(one-off public key) ‖ 32 zero bytes.
    #[error(
        "attestation binding: report_data is not SHA-256 of the presented one-off public key followed by 32 zero bytes; put report_data_for(public_key) in the report"
    )]
    ReportDataMismatch,

    /// The request names another run than the one the secret is granted to.
    #[error(
        "secret release: the secret is granted to run {granted_run}, not to run {asked_run}; ask for the secret within the run it is bound to"
    )]
    WrongRun {
        /// The run the secret is bound to.
        granted_run: String,
        /// The run the caller named.
        asked_run: String,
    },

    /// A key was given in a form that cannot be used (length, encoding, algorithm).
    #[error("{what}: {problem}")]
    InvalidKey {
        /// Which key: `one-off public key`, `simulated attestation key`, `issuer key`, `sealing key`.
        what: &'static str,
        /// What is wrong and how to fix it.
        problem: String,
    },

    /// The key provider has no key of that id.
    #[error(
        "key provider {provider}: no key with id {key_id}; seal with the provider's current key or configure the provider that holds {key_id}"
    )]
    UnknownKey {
        /// The provider's name.
        provider: String,
        /// The key id asked for.
        key_id: String,
    },

    /// The key provider failed (I/O, permissions, a remote KMS).
    #[error("key provider {provider}: {problem}")]
    KeyProvider {
        /// The provider's name.
        provider: String,
        /// What failed and how to fix it.
        problem: String,
    },

    /// A sealed secret did not open: wrong key, wrong clean room or name, or altered.
    #[error(
        "sealed secret (key {key_id}): it does not open with this key and binding; it was altered, sealed under another clean room or secret name, or with another key"
    )]
    SealedSecretRejected {
        /// The key id recorded in the sealed secret.
        key_id: String,
    },

    /// A sealed secret's stored form is not understood.
    #[error("sealed secret: {problem}; re-seal the secret with this version")]
    MalformedSealedSecret {
        /// What is wrong.
        problem: String,
    },

    /// HPKE wrapping or unwrapping failed.
    #[error("HPKE answer: {problem}")]
    Wrap {
        /// What failed and how to fix it.
        problem: String,
    },

    /// A token could not be minted.
    #[error("OIDC issuer {issuer}: {problem}")]
    Issuer {
        /// The issuer URL.
        issuer: String,
        /// What is wrong and how to fix it.
        problem: String,
    },

    /// The operating system's random source or a primitive failed.
    #[error("cryptography: {what} failed; the system's random source or crypto library is unavailable")]
    Crypto {
        /// The operation.
        what: &'static str,
    },
}

/// A TCB component's patch level in an error message.
fn spl_text(spl: Option<u8>) -> String {
    spl.map_or_else(|| "absent".into(), |spl| spl.to_string())
}
