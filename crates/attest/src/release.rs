//! Releasing a sealed secret to an attested runner: every check in one place, in
//! the order that leaks least (the run first, then the evidence, the policy, the
//! key binding; the secret is opened only after all pass).

use crate::AttestError;
use crate::evidence::{AttestationVerifier, Claims, Policy, bind_check};
use crate::seal::{KeyProvider, SealedSecret, open_with, secret_binding};
use crate::wrap::{WrappedAnswer, release_info, wrap_to};

/// A secret's grant: which clean room and name it is sealed under, which run may
/// receive it and under which attestation policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The clean room the secret belongs to.
    pub clean_room: String,
    /// The secret's name within the clean room.
    pub secret_name: String,
    /// The run the secret is released to.
    pub run_id: String,
    /// The attestation policy bound to the secret for that run.
    pub policy: Policy,
}

/// What the runner sends to ask for a secret.
#[derive(Debug, Clone, Copy)]
pub struct ReleaseRequest<'a> {
    /// The run the runner says it serves.
    pub run_id: &'a str,
    /// Its attestation evidence (empty: none).
    pub evidence: &'a [u8],
    /// Its one-off X25519 public key, bound in the report's `report_data`.
    pub one_off_public_key: &'a [u8],
}

/// Checks `request` against `grant` and, if every check passes, opens `sealed` and
/// encrypts it to the request's one-off key with [`release_info`] as HPKE `info`.
/// Returns the answer and the verified claims (for the audit record).
pub fn release(
    grant: &Grant,
    request: &ReleaseRequest<'_>,
    verifier: &dyn AttestationVerifier,
    provider: &dyn KeyProvider,
    sealed: &SealedSecret,
    now_s: i64,
) -> Result<(WrappedAnswer, Claims), AttestError> {
    if request.run_id != grant.run_id {
        return Err(AttestError::WrongRun { granted_run: grant.run_id.clone(), asked_run: request.run_id.to_owned() });
    }
    if request.evidence.is_empty() {
        return Err(AttestError::MissingEvidence);
    }
    let claims = verifier.verify(request.evidence, now_s)?;
    grant.policy.check(&claims)?;
    bind_check(&claims, request.one_off_public_key)?;
    let secret = open_with(provider, &secret_binding(&grant.clean_room, &grant.secret_name), sealed)?;
    let info = release_info(&grant.clean_room, &grant.run_id, &grant.secret_name);
    let answer = wrap_to(request.one_off_public_key, &info, secret.expose())?;
    Ok((answer, claims))
}
