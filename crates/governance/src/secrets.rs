//! Secrets and tokens for attested runners.
//!
//! A party puts a secret (a storage key, a token) into the clean room: it is sealed at rest
//! with the server's key provider, bound to the clean room and its name. The secret's owner
//! grants it to one run under an attestation policy and the consent it depends on. A runner
//! gets it only by presenting evidence that verifies, whose measurement the grant's policy
//! allows, whose `report_data` binds a one-off public key, for that run, while every consent
//! the grant names is on; the answer is encrypted to that key. The same holds for the clean
//! room's OIDC tokens. Every release decision, granted or refused, is in the ledger.

use consort_attest::{
    AttestationVerifier, Grant, Issuer, IssuerKey, Policy, ReleaseRequest, SealedSecret, WrappedAnswer, bind_check,
    secret_binding,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::error::GovError;
use crate::rules;
use crate::service::{Caller, ConsentSubject, Governance};
use crate::store::Map;
use crate::tx::Tx;

/// A sealed secret as stored.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SecretRecord {
    /// Its name.
    pub name: String,
    /// Its owner: `member:ID` or `user:ID`.
    pub owner: String,
    /// The value, sealed.
    pub sealed: SealedSecret,
    /// When it was put, ms.
    pub created_ms: i64,
}

/// A secret granted to one run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretGrant {
    /// The run.
    pub run_id: String,
    /// The secret.
    pub secret: String,
    /// Who may receive it.
    pub policy: Policy,
    /// Consent that must be on (execution) at every release.
    pub consent: Vec<ConsentSubject>,
    /// Who granted it.
    pub granted_by: String,
}

/// A run's right to OIDC tokens of the clean room's issuer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenGrant {
    /// The run.
    pub run_id: String,
    /// The only subject its tokens carry.
    pub subject: String,
    /// The only audience its tokens carry.
    pub audience: String,
    /// Who may receive them.
    pub policy: Policy,
    /// Consent that must be on (execution) at every issue.
    pub consent: Vec<ConsentSubject>,
    /// Who granted it.
    pub granted_by: String,
}

/// What an attested runner sends.
#[derive(Clone, Copy, Debug)]
pub struct Attested<'a> {
    /// The run it serves.
    pub run_id: &'a str,
    /// Its evidence.
    pub evidence: &'a [u8],
    /// Its one-off public key, bound in the evidence's `report_data`.
    pub one_off_public_key: &'a [u8],
}

/// The lifetime of issued tokens.
pub const TOKEN_TTL_S: i64 = 300;

fn secret_grant_key(run_id: &str, secret: &str) -> String {
    format!("grant/{run_id}/{secret}")
}

fn token_grant_key(run_id: &str) -> String {
    format!("token-grant/{run_id}")
}

const ISSUER_KEY: &str = "oidc-issuer-key";

impl Governance {
    async fn party(&self, tx: &mut Tx<'_>, caller: &Caller) -> Result<String, GovError> {
        crate::service::party_of(tx, caller).await
    }

    /// Puts a secret (its owner: the caller). A secret of another owner is not replaced.
    pub async fn put_secret(
        &self,
        cleanroom: &str,
        caller: &Caller,
        name: &str,
        value: &[u8],
        now_ms: i64,
    ) -> Result<(), GovError> {
        rules::check_id("name", name)?;
        if value.is_empty() || value.len() > 64 * 1024 {
            return Err(GovError::invalid("value", "a secret is 1 byte to 64 KiB", "send the secret's bytes, base64"));
        }
        let key = self.sealing().current_key()?;
        let sealed = consort_attest::seal(&key, &secret_binding(cleanroom, name), value)?;
        transact!(self, cleanroom, now_ms, "put secret", Some(caller), |tx| {
            let owner = self.party(tx, caller).await?;
            if let Some(existing) = tx.get::<SecretRecord>(Map::Secrets, name).await?
                && existing.owner != owner
            {
                return Err(GovError::Forbidden {
                    message: format!("secret {name:?} belongs to {}: pick another name", existing.owner),
                });
            }
            let record =
                SecretRecord { name: name.into(), owner: owner.clone(), sealed: sealed.clone(), created_ms: now_ms };
            tx.put(Map::Secrets, name, &record);
            tx.log("secret.put", json!({"secret": name, "owner": owner}));
            Ok(())
        })?;
        Ok(())
    }

    /// Grants a secret to a run (its owner only).
    pub async fn grant_secret(
        &self,
        cleanroom: &str,
        caller: &Caller,
        grant: SecretGrant,
        now_ms: i64,
    ) -> Result<SecretGrant, GovError> {
        rules::check_id("run_id", &grant.run_id)?;
        check_policy(&grant.policy)?;
        let (grant, _) = transact!(self, cleanroom, now_ms, "grant secret", Some(caller), |tx| {
            let owner = self.party(tx, caller).await?;
            let secret: SecretRecord = tx.get(Map::Secrets, &grant.secret).await?.ok_or_else(|| {
                GovError::NotFound { what: "secret", id: grant.secret.clone(), hint: ": put it first" }
            })?;
            if secret.owner != owner {
                return Err(GovError::Forbidden {
                    message: format!("secret {:?} belongs to {}: only its owner grants it", grant.secret, secret.owner),
                });
            }
            let grant = SecretGrant { granted_by: owner, ..grant.clone() };
            tx.put(Map::Bindings, &secret_grant_key(&grant.run_id, &grant.secret), &grant);
            tx.log(
                "secret.granted",
                json!({"secret": grant.secret, "run": grant.run_id, "policy": grant.policy,
                "consent": grant.consent, "by": grant.granted_by}),
            );
            Ok(grant)
        })?;
        Ok(grant)
    }

    /// Grants a run tokens of the clean room's issuer for one subject and audience (a member).
    pub async fn grant_tokens(
        &self,
        cleanroom: &str,
        caller: &Caller,
        grant: TokenGrant,
        now_ms: i64,
    ) -> Result<TokenGrant, GovError> {
        rules::check_id("run_id", &grant.run_id)?;
        check_policy(&grant.policy)?;
        if grant.subject.is_empty() || grant.audience.is_empty() {
            return Err(GovError::invalid("subject", "subject and audience are required", "name both"));
        }
        let (grant, _) = transact!(self, cleanroom, now_ms, "grant tokens", Some(caller), |tx| {
            let granted_by = self.party(tx, caller).await?;
            if !granted_by.starts_with("member:") {
                return Err(GovError::Forbidden {
                    message: "only members grant tokens of the clean room's issuer".into(),
                });
            }
            let grant = TokenGrant { granted_by, ..grant.clone() };
            tx.put(Map::Bindings, &token_grant_key(&grant.run_id), &grant);
            tx.log(
                "token.granted",
                json!({"run": grant.run_id, "subject": grant.subject, "audience": grant.audience,
                "policy": grant.policy, "by": grant.granted_by}),
            );
            Ok(grant)
        })?;
        Ok(grant)
    }

    /// Releases a secret to an attested runner, wrapped to its one-off key. Every decision is
    /// in the ledger.
    pub async fn release_secret(
        &self,
        cleanroom: &str,
        name: &str,
        request: Attested<'_>,
        verifier: &dyn AttestationVerifier,
        now_ms: i64,
    ) -> Result<WrappedAnswer, GovError> {
        let what = format!("release of secret {name}");
        let decided = self.decide_release(cleanroom, name, request, verifier, now_ms).await;
        match decided {
            Ok((answer, claims)) => {
                let body = json!({"secret": name, "run": request.run_id, "platform": claims.platform,
                    "measurement": claims.measurement});
                self.append_entry(cleanroom, "secret.released", body, now_ms).await?;
                Ok(answer)
            }
            Err(refused) => Err(self.refuse_runner(cleanroom, now_ms, &what, request.run_id, refused).await),
        }
    }

    async fn decide_release(
        &self,
        cleanroom: &str,
        name: &str,
        request: Attested<'_>,
        verifier: &dyn AttestationVerifier,
        now_ms: i64,
    ) -> Result<(WrappedAnswer, consort_attest::Claims), GovError> {
        let mut tx = Tx::new(self.store().as_ref(), cleanroom, now_ms);
        let grant: SecretGrant =
            tx.get(Map::Bindings, &secret_grant_key(request.run_id, name)).await?.ok_or_else(|| {
                GovError::Attestation {
                    code: "wrong_run",
                    message: format!(
                        "secret {name:?} is not granted to run {:?}: a secret is released only to the run it was granted to",
                        request.run_id
                    ),
                }
            })?;
        crate::runs::require_execution_consent(&mut tx, &grant.consent).await?;
        let secret: SecretRecord = tx.get(Map::Secrets, name).await?.ok_or_else(|| GovError::NotFound {
            what: "secret",
            id: name.into(),
            hint: "",
        })?;
        let attest_grant = Grant {
            clean_room: cleanroom.to_string(),
            secret_name: name.to_string(),
            run_id: grant.run_id.clone(),
            policy: grant.policy.clone(),
        };
        let ask = ReleaseRequest {
            run_id: request.run_id,
            evidence: request.evidence,
            one_off_public_key: request.one_off_public_key,
        };
        let sealing = self.sealing();
        Ok(consort_attest::release(&attest_grant, &ask, verifier, sealing.as_ref(), &secret.sealed, now_ms / 1000)?)
    }

    /// Issues a short-lived token of the clean room's issuer to an attested runner: subject and
    /// audience come from the run's grant, never from the caller (a different `subject` asked
    /// for is refused).
    #[allow(clippy::too_many_arguments)]
    pub async fn issue_token(
        &self,
        cleanroom: &str,
        issuer_url: &str,
        subject: Option<&str>,
        request: Attested<'_>,
        verifier: &dyn AttestationVerifier,
        now_ms: i64,
    ) -> Result<String, GovError> {
        let decided = self.decide_token(cleanroom, issuer_url, subject, request, verifier, now_ms).await;
        match decided {
            Ok((token, grant)) => {
                let body = json!({"run": request.run_id, "subject": grant.subject, "audience": grant.audience});
                self.append_entry(cleanroom, "token.issued", body, now_ms).await?;
                Ok(token)
            }
            Err(refused) => Err(self.refuse_runner(cleanroom, now_ms, "token", request.run_id, refused).await),
        }
    }

    async fn decide_token(
        &self,
        cleanroom: &str,
        issuer_url: &str,
        subject: Option<&str>,
        request: Attested<'_>,
        verifier: &dyn AttestationVerifier,
        now_ms: i64,
    ) -> Result<(String, TokenGrant), GovError> {
        let mut tx = Tx::new(self.store().as_ref(), cleanroom, now_ms);
        let grant: TokenGrant =
            tx.get(Map::Bindings, &token_grant_key(request.run_id)).await?.ok_or_else(|| GovError::Attestation {
                code: "wrong_run",
                message: format!("run {:?} has no token grant: tokens go only to runs granted them", request.run_id),
            })?;
        if let Some(asked) = subject
            && asked != grant.subject
        {
            return Err(GovError::Forbidden {
                message: format!(
                    "run {:?} may get tokens for subject {:?} only, not {asked:?}: the subject comes from the grant",
                    grant.run_id, grant.subject
                ),
            });
        }
        crate::runs::require_execution_consent(&mut tx, &grant.consent).await?;
        if request.evidence.is_empty() {
            return Err(consort_attest::AttestError::MissingEvidence.into());
        }
        let claims = verifier.verify(request.evidence, now_ms / 1000)?;
        grant.policy.check(&claims)?;
        bind_check(&claims, request.one_off_public_key)?;
        let issuer = self.issuer(cleanroom, issuer_url, now_ms).await?;
        let mut extra = serde_json::Map::new();
        extra.insert("run".into(), json!(grant.run_id));
        extra.insert("cleanroom".into(), json!(cleanroom));
        let token = issuer.mint(&grant.subject, &grant.audience, now_ms / 1000, TOKEN_TTL_S, &extra)?;
        Ok((token, grant))
    }

    /// The clean room's OIDC issuer at `issuer_url`; its signing key is made on first use and
    /// kept sealed in the clean room's state.
    pub async fn issuer(&self, cleanroom: &str, issuer_url: &str, now_ms: i64) -> Result<Issuer, GovError> {
        let binding = secret_binding(cleanroom, ISSUER_KEY);
        let sealing = self.sealing();
        let mut tx = Tx::new(self.store().as_ref(), cleanroom, now_ms);
        let pkcs8 = match tx.get::<SealedSecret>(Map::Config, ISSUER_KEY).await? {
            Some(sealed) => consort_attest::seal::open_with(sealing.as_ref(), &binding, &sealed)?.expose().to_vec(),
            None => {
                let key = IssuerKey::generate()?;
                let sealed = consort_attest::seal(&sealing.current_key()?, &binding, key.pkcs8())?;
                tx.put(Map::Config, ISSUER_KEY, &sealed);
                tx.log("oidc.issuer.key", json!({"kid": key.kid()}));
                match self.store().commit(cleanroom, tx.into_commit(), now_ms).await {
                    Ok(_) => key.pkcs8().to_vec(),
                    // Another request made it first: use that one.
                    Err(crate::store::CommitError::Conflict { .. }) => {
                        return Box::pin(self.issuer(cleanroom, issuer_url, now_ms)).await;
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        };
        Ok(Issuer::new(issuer_url, IssuerKey::from_pkcs8(&pkcs8)?)?)
    }

    /// The clean room's issuer if its key was made (never makes one).
    pub async fn existing_issuer(&self, cleanroom: &str, issuer_url: &str) -> Result<Option<Issuer>, GovError> {
        let mut tx = Tx::new(self.store().as_ref(), cleanroom, 0);
        let Some(sealed) = tx.get::<SealedSecret>(Map::Config, ISSUER_KEY).await? else {
            return Ok(None);
        };
        let pkcs8 =
            consort_attest::seal::open_with(self.sealing().as_ref(), &secret_binding(cleanroom, ISSUER_KEY), &sealed)?;
        Ok(Some(Issuer::new(issuer_url, IssuerKey::from_pkcs8(pkcs8.expose())?)?))
    }

    /// Records a runner's refusal in the ledger (failures are only returned).
    pub(crate) async fn refuse_runner(
        &self,
        cleanroom: &str,
        now_ms: i64,
        what: &str,
        run_id: &str,
        refused: GovError,
    ) -> GovError {
        if refused.is_refusal() {
            let caller = Caller::Runner(run_id.to_string());
            self.record_refusal(cleanroom, now_ms, what, Some(&caller), &refused).await;
        }
        refused
    }
}

fn check_policy(policy: &Policy) -> Result<(), GovError> {
    if policy.measurements.is_empty() {
        return Err(GovError::invalid(
            "policy.measurements",
            "no measurement is allowed, so nothing could ever receive it",
            "list the runner's measurement (hex)",
        ));
    }
    if policy.allow_debug {
        return Err(GovError::invalid(
            "policy.allow_debug",
            "a debuggable TEE's memory is readable by its host",
            "leave allow_debug false",
        ));
    }
    if let Some(max_vmpl) = policy.max_vmpl
        && max_vmpl > 3
    {
        return Err(GovError::invalid(
            "policy.max_vmpl",
            "SEV-SNP has VMPLs 0 to 3 only",
            "give 0 (the most privileged) to 3, or leave it out to accept any",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_are_checked_before_they_are_bound() {
        let good = Policy { measurements: vec!["aa".repeat(48)], max_vmpl: Some(3), ..Policy::default() };
        assert!(check_policy(&good).is_ok());
        let none = Policy::default();
        assert!(check_policy(&none).unwrap_err().to_string().contains("policy.measurements"));
        let debug = Policy { allow_debug: true, ..good.clone() };
        assert!(check_policy(&debug).unwrap_err().to_string().contains("policy.allow_debug"));
        let vmpl = Policy { max_vmpl: Some(4), ..good };
        let error = check_policy(&vmpl).unwrap_err();
        assert_eq!(error.code(), "invalid_request");
        assert!(error.to_string().contains("policy.max_vmpl"), "{error}");
    }

    #[test]
    fn snp_refusals_have_their_own_codes() {
        use consort_attest::AttestError as A;
        let below = A::PolicyNotMet { field: "min_tcb.snp", seen: "8".into(), required: "at least 9".into() };
        for (error, code) in [
            (below, "attestation_policy_not_met"),
            (A::Revoked { what: "ASK", serial: "010001".into() }, "attestation_revoked"),
            (A::CrlStale { next_update: 1, now_s: 2 }, "attestation_crl_stale"),
            (A::CrlUnusable { problem: "x".into() }, "attestation_invalid"),
            (A::TcbMismatch { component: "snp", report: Some(8), vcek: Some(7) }, "attestation_invalid"),
        ] {
            let message = error.to_string();
            let gov = GovError::from(error);
            assert_eq!(gov.code(), code, "{message}");
            assert!(gov.is_refusal(), "{message}");
        }
    }
}
