//! Member-issued user credentials: a member vouches, with the governance key it already holds,
//! that a user of one clean room may act as that user until a near expiry.
//!
//! A credential is a COSE_Sign1 like every member request (`consort.msg.type` =
//! `user.credential`, the member, the clean room and the creation time in the protected
//! header) whose payload is [`Claims`]: the credential's id, the user id and the expiry. It
//! travels as `ccu_` + base64url (no padding) in `Authorization: Bearer`, the prefix telling it
//! from API tokens (`cst_`) and JWTs. Issuing needs only the member's key, so it happens
//! offline; what the server checks at every request (the member and the user active now, not
//! revoked) lives in the clean room's state, so removing either ends the credential at once.
//!
//! This module is pure: parsing, signing and the time rules. The state checks are
//! [`crate::Governance::verify_credential`].

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use consort_signing::{MemberKeyPair, MemberPublicKey, RequestHeader, UnverifiedRequest};
use serde::{Deserialize, Serialize};

use crate::error::GovError;
use crate::model::Revocation;
use crate::rules::check_id;

/// What a credential starts with in a bearer header.
pub const PREFIX: &str = "ccu_";
/// The message type in its protected header: a credential is no governance request, and a
/// governance request is no credential.
pub const MSG_TYPE: &str = "user.credential";
/// The longest lifetime accepted when the clean room has no [`MAX_TTL_SETTING`]: 24 h.
pub const DEFAULT_MAX_TTL_S: i64 = 86_400;
/// The clean-room setting (set by an accepted `set_setting` proposal) that bounds a
/// credential's lifetime, in seconds, instead of [`DEFAULT_MAX_TTL_S`].
pub const MAX_TTL_SETTING: &str = "user_credential_max_ttl_s";
/// How far in the future a credential's creation time may be (clocks differ).
pub const CLOCK_SKEW_S: i64 = 30;
/// The largest encoded credential read (a bearer header is small; this bounds decoding).
pub const MAX_ENCODED_LEN: usize = 8 * 1024;
/// How long after the revoked credential's expiry its revocation is kept: the instances sharing
/// a store may disagree on the time by up to this much and still all refuse the credential as
/// expired once the revocation is gone.
pub const REVOCATION_PRUNE_MARGIN_S: i64 = 3_600;

/// A credential's payload.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Claims {
    /// The credential's unique id (what a revocation names).
    pub id: String,
    /// The user id it authenticates, in the clean room of the header.
    pub user: String,
    /// When it expires, seconds since the epoch.
    pub expires_at: i64,
}

/// A parsed credential, nothing of it trusted until [`UnverifiedCredential::verify`].
#[derive(Clone, Debug)]
pub struct UnverifiedCredential {
    request: UnverifiedRequest,
    claims: Claims,
}

/// Signs a credential for `user` of `cleanroom`, made at `created_at` and valid `ttl_s`
/// seconds, with the member's key. The id must be unique (a revocation names it).
pub fn issue(
    key: &MemberKeyPair,
    member_id: &str,
    cleanroom: &str,
    user: &str,
    id: &str,
    created_at: i64,
    ttl_s: i64,
) -> Result<String, GovError> {
    check_id("cleanroom", cleanroom)?;
    check_id("user", user)?;
    check_id("id", id)?;
    if ttl_s < 1 {
        return Err(GovError::invalid("ttl", format!("{ttl_s} s"), "give a lifetime of at least 1 s"));
    }
    let claims = Claims { id: id.to_string(), user: user.to_string(), expires_at: created_at + ttl_s };
    let header = RequestHeader {
        member_id: member_id.to_string(),
        msg_type: MSG_TYPE.to_string(),
        cleanroom: cleanroom.to_string(),
        created_at,
        proposal_id: None,
        subject: None,
    };
    let payload = serde_json::to_vec(&claims).map_err(|e| GovError::Keys(e.to_string()))?;
    let signed = consort_signing::sign_request(key, &header, &payload)
        .map_err(|e| GovError::invalid("key", e.to_string(), "use the member's key file"))?;
    Ok(format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(signed)))
}

/// A fresh credential id: `cred-` and 64 random bits in hex.
pub fn random_id() -> Result<String, GovError> {
    let mut bytes = [0u8; 8];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
        .map_err(|_| GovError::Keys("the system's random source failed".into()))?;
    Ok(format!("cred-{}", bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()))
}

/// Whether a bearer value is shaped like a credential (its prefix).
pub fn looks_like_credential(bearer: &str) -> bool {
    bearer.starts_with(PREFIX)
}

fn malformed(problem: impl std::fmt::Display) -> GovError {
    GovError::Credential {
        code: "credential_malformed",
        message: format!(
            "the user credential is malformed ({problem}): use the exact output of `consort member issue-credential`"
        ),
    }
}

/// Parses a credential: the prefix, base64url, the COSE_Sign1, its message type and claims.
pub fn parse(text: &str) -> Result<UnverifiedCredential, GovError> {
    let encoded =
        text.strip_prefix(PREFIX).ok_or_else(|| malformed(format_args!("it does not start with {PREFIX}")))?;
    if encoded.len() > MAX_ENCODED_LEN {
        return Err(malformed(format_args!("longer than {MAX_ENCODED_LEN} characters")));
    }
    let bytes = URL_SAFE_NO_PAD.decode(encoded).map_err(|_| malformed("not base64url without padding"))?;
    let request = consort_signing::parse_request(&bytes).map_err(malformed)?;
    if request.header().msg_type != MSG_TYPE {
        return Err(malformed(format_args!(
            "it is a signed {:?} request, not a {MSG_TYPE:?}",
            request.header().msg_type
        )));
    }
    let claims: Claims =
        serde_json::from_slice(request.payload()).map_err(|e| malformed(format_args!("claims: {e}")))?;
    check_id("user", &claims.user).map_err(|_| malformed("the user id is not an id"))?;
    check_id("id", &claims.id).map_err(|_| malformed("the credential id is not an id"))?;
    Ok(UnverifiedCredential { request, claims })
}

impl UnverifiedCredential {
    /// The clean room it says it is for.
    pub fn cleanroom(&self) -> &str {
        &self.request.header().cleanroom
    }

    /// The member it says signed it.
    pub fn member_id(&self) -> &str {
        &self.request.header().member_id
    }

    /// When it says it was made, seconds since the epoch.
    pub fn created_at(&self) -> i64 {
        self.request.header().created_at
    }

    /// Its claims (not yet trusted).
    pub fn claims(&self) -> &Claims {
        &self.claims
    }

    /// Checks the signature with the member's registered key.
    pub fn verify(&self, key: &MemberPublicKey) -> Result<(), GovError> {
        self.request.verify(key).map(|_| ()).map_err(|e| GovError::Credential {
            code: "bad_signature",
            message: format!(
                "the user credential's signature does not verify with member {:?}'s key ({e}): it was altered, or \
                 signed with another key",
                self.member_id()
            ),
        })
    }
}

/// The time rules: not made in the future (beyond [`CLOCK_SKEW_S`]), not expired at `now_s`,
/// and no longer-lived than `max_ttl_s`.
pub fn check_lifetime(created_at: i64, expires_at: i64, now_s: i64, max_ttl_s: i64) -> Result<(), GovError> {
    if expires_at <= now_s {
        return Err(GovError::Credential {
            code: "credential_expired",
            message: format!(
                "the user credential expired {} s ago: ask a member for a new one (`consort member issue-credential`)",
                now_s - expires_at
            ),
        });
    }
    if created_at > now_s + CLOCK_SKEW_S {
        return Err(GovError::Credential {
            code: "credential_lifetime",
            message: format!(
                "the user credential was made {} s in the future: check the issuing machine's clock",
                created_at - now_s
            ),
        });
    }
    if expires_at - created_at > max_ttl_s {
        return Err(GovError::Credential {
            code: "credential_lifetime",
            message: format!(
                "the user credential lives {} s, more than this clean room's {max_ttl_s} s (setting \
                 {MAX_TTL_SETTING}): ask for a shorter --ttl",
                expires_at - created_at
            ),
        });
    }
    Ok(())
}

/// Whether `revocation` refuses a credential with its id that expires at `expires_at`: one made
/// by id alone refuses every such credential; one made with the credential (its expiry known)
/// refuses those that expire no later, which are all expired once that time has passed. So
/// pruning it then changes no decision (see [`revocation_prunable`]).
pub fn revocation_covers(revocation: &Revocation, expires_at: i64) -> bool {
    revocation.expires_at.is_none_or(|revoked_until| expires_at <= revoked_until)
}

/// Whether `revocation` may be forgotten at `now_s`: its credential expired at least
/// [`REVOCATION_PRUNE_MARGIN_S`] ago. One without a known expiry is kept forever.
pub fn revocation_prunable(revocation: &Revocation, now_s: i64) -> bool {
    revocation.expires_at.is_some_and(|expires_at| expires_at.saturating_add(REVOCATION_PRUNE_MARGIN_S) <= now_s)
}

/// A second revocation of the same id only ever widens the first: by id alone it covers every
/// credential with the id for good, with a credential that expires later it covers up to then.
/// `None` when it adds nothing.
pub fn widen_revocation(earlier: &Revocation, expires_at: Option<i64>) -> Option<Revocation> {
    let widened = match (earlier.expires_at, expires_at) {
        (None, _) => return None,
        (Some(_), None) => None,
        (Some(before), Some(now)) if now > before => Some(now),
        (Some(_), Some(_)) => return None,
    };
    Some(Revocation { expires_at: widened, ..earlier.clone() })
}

#[cfg(test)]
mod tests {
    use consort_signing::KeyAlgorithm;

    use super::*;

    fn key() -> MemberKeyPair {
        MemberKeyPair::generate(KeyAlgorithm::EcdsaP256).unwrap()
    }

    #[test]
    fn a_credential_round_trips_and_verifies_only_with_its_key() {
        let alice = key();
        let text = issue(&alice, "alice", "lab", "carol", "c-1", 1_000, 3_600).unwrap();
        assert!(looks_like_credential(&text) && !text.contains('='), "{text}");
        let parsed = parse(&text).unwrap();
        assert_eq!((parsed.cleanroom(), parsed.member_id(), parsed.created_at()), ("lab", "alice", 1_000));
        assert_eq!(parsed.claims(), &Claims { id: "c-1".into(), user: "carol".into(), expires_at: 4_600 });
        parsed.verify(alice.public_key()).unwrap();
        let other = key();
        assert_eq!(parsed.verify(other.public_key()).unwrap_err().code(), "bad_signature");
    }

    #[test]
    fn tampering_and_other_shapes_are_refused() {
        let alice = key();
        let text = issue(&alice, "alice", "lab", "carol", "c-1", 1_000, 3_600).unwrap();
        // Flip one character of the encoded signature (the tail): parse succeeds, verify fails.
        let mut tampered = text.clone().into_bytes();
        let last = tampered.len() - 2;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).unwrap();
        let refused = parse(&tampered).and_then(|c| c.verify(alice.public_key()));
        assert!(matches!(refused.unwrap_err().code(), "bad_signature" | "credential_malformed"));
        for bad in ["cst_abc", "ccu_!!!", "ccu_", "ccu_AAAA"] {
            assert_eq!(parse(bad).unwrap_err().code(), "credential_malformed", "{bad}");
        }
        // A governance request is no credential.
        let header = RequestHeader {
            member_id: "alice".into(),
            msg_type: "ballot".into(),
            cleanroom: "lab".into(),
            created_at: 1,
            proposal_id: None,
            subject: None,
        };
        let ballot = consort_signing::sign_request(&alice, &header, b"{}").unwrap();
        let err = parse(&format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(ballot))).unwrap_err();
        assert!(err.to_string().contains("ballot"), "{err}");
        assert_eq!(issue(&alice, "alice", "lab", "Carol", "c", 1, 1).unwrap_err().code(), "invalid_request");
        assert_eq!(issue(&alice, "alice", "lab", "carol", "c", 1, 0).unwrap_err().code(), "invalid_request");
    }

    #[test]
    fn lifetimes_are_bounded() {
        check_lifetime(100, 200, 150, DEFAULT_MAX_TTL_S).unwrap();
        assert_eq!(check_lifetime(100, 200, 200, DEFAULT_MAX_TTL_S).unwrap_err().code(), "credential_expired");
        assert_eq!(
            check_lifetime(100, 100 + 86_401, 150, DEFAULT_MAX_TTL_S).unwrap_err().code(),
            "credential_lifetime"
        );
        assert_eq!(check_lifetime(1_000, 1_100, 900, DEFAULT_MAX_TTL_S).unwrap_err().code(), "credential_lifetime");
        check_lifetime(1_000, 1_100, 1_000 - CLOCK_SKEW_S, DEFAULT_MAX_TTL_S).unwrap();
        assert_eq!(check_lifetime(0, 3_600, 10, 60).unwrap_err().code(), "credential_lifetime", "a setting lowers it");
    }

    fn revoked(expires_at: Option<i64>) -> Revocation {
        Revocation { credential_id: "c-1".into(), by: "alice".into(), at_ms: 1_000_000, expires_at }
    }

    #[test]
    fn a_revocation_covers_until_its_credential_expires_and_is_pruned_only_after() {
        let by_id = revoked(None);
        assert!(revocation_covers(&by_id, i64::MAX) && !revocation_prunable(&by_id, i64::MAX), "kept forever");
        let known = revoked(Some(5_000));
        assert!(revocation_covers(&known, 5_000) && revocation_covers(&known, 100));
        assert!(!revocation_covers(&known, 5_001), "a later credential with the id is another credential");
        assert!(!revocation_prunable(&known, 5_000 + REVOCATION_PRUNE_MARGIN_S - 1));
        assert!(revocation_prunable(&known, 5_000 + REVOCATION_PRUNE_MARGIN_S));
        assert!(!revocation_prunable(&revoked(Some(i64::MAX)), i64::MAX - 1), "no overflow");
        // Whatever it covers is expired by the time it may be pruned, on any clock up to the margin behind.
        for now_s in [5_000 + REVOCATION_PRUNE_MARGIN_S, 9_999_999] {
            for expires_at in [100, 4_999, 5_000] {
                assert!(revocation_prunable(&known, now_s) && revocation_covers(&known, expires_at));
                let behind = now_s - REVOCATION_PRUNE_MARGIN_S;
                assert_eq!(check_lifetime(0, expires_at, behind, i64::MAX).unwrap_err().code(), "credential_expired");
            }
        }
    }

    #[test]
    fn a_second_revocation_only_widens_the_first() {
        let known = revoked(Some(5_000));
        assert_eq!(widen_revocation(&known, Some(4_000)), None);
        assert_eq!(widen_revocation(&known, Some(5_000)), None);
        assert_eq!(widen_revocation(&known, Some(6_000)), Some(revoked(Some(6_000))));
        assert_eq!(widen_revocation(&known, None), Some(revoked(None)));
        assert_eq!(widen_revocation(&revoked(None), Some(6_000)), None);
        assert_eq!(widen_revocation(&revoked(None), None), None);
    }
}
