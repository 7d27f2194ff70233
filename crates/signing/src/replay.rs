//! Staleness and replay: which verified requests the server may act on.
//!
//! A request is acted on at most once, and only while it is fresh:
//!
//! - **Fresh**: its `consort.created_at` is at most [`Freshness::max_age`] before the
//!   server's time and at most [`Freshness::max_future_skew`] after it.
//! - **Not replayed**: its [`RequestDigest`] is not among the digests of requests
//!   already accepted.
//!
//! The server keeps the accepted digests (with their `created_at`) in its own storage;
//! this module only decides. **Invariant:** a digest needs keeping only while its
//! request could still pass the freshness check, i.e. while `created_at >= now - max_age`
//! ([`ReplayGuard::keep_from`]): an older copy is refused as stale before the replay
//! lookup, so forgetting its digest lets no replay through. This holds as long as
//! the server's `now` does not go backwards; if its clock can step back by `d`
//! seconds, keep digests `d` seconds longer.
//!
//! The lookup and the insert of the digest must be one atomic step on the server
//! (one transaction), or two copies sent at once could both pass.

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use crate::cose::{CoseError, VerifiedRequest};

/// The replay key of a request: SHA-256 of its COSE Sig_structure (RFC 9052 §4.4),
/// i.e. of exactly what the signature covers (protected header and payload).
///
/// Not of the whole message: the unprotected header and the signature are not
/// signed, and an ECDSA signature `(r, s)` has a twin `(r, n - s)` that verifies too,
/// so anyone could change those bytes and get a "new" message past a digest of the
/// whole. Two requests with the same signed content are one request; a member who
/// means to send the same thing twice signs it again and gets a new `created_at`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestDigest([u8; 32]);

impl RequestDigest {
    /// The digest of a Sig_structure.
    pub(crate) fn of_signed_content(to_be_signed: &[u8]) -> Self {
        let digest = ring::digest::digest(&ring::digest::SHA256, to_be_signed);
        let mut bytes = [0u8; 32];
        bytes.copy_from_slice(digest.as_ref());
        RequestDigest(bytes)
    }

    /// From the 32 bytes (as the server stored them).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        RequestDigest(bytes)
    }

    /// From 64 hex characters (as the server stored them); `None` if they are not that.
    pub fn from_hex(text: &str) -> Option<Self> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text, &mut bytes).ok()?;
        Some(RequestDigest(bytes))
    }

    /// The 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Lowercase hex, 64 characters.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Display for RequestDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for RequestDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RequestDigest({})", self.to_hex())
    }
}

/// How old, or how far ahead of the server's clock, a request's `created_at` may be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Freshness {
    /// The oldest a request may be (default 5 minutes).
    pub max_age: Duration,
    /// How far ahead of the server's time a request may be dated, for clock skew (default 30 s).
    pub max_future_skew: Duration,
}

impl Default for Freshness {
    fn default() -> Self {
        Freshness { max_age: Duration::from_secs(300), max_future_skew: Duration::from_secs(30) }
    }
}

impl Freshness {
    /// Checks `created_at` against the server's time `now` (both seconds since the epoch).
    /// Both bounds are inclusive: a request exactly `max_age` old is still fresh.
    pub fn check_fresh(&self, created_at: i64, now: i64) -> Result<(), CoseError> {
        // i128: no overflow whatever the two i64s are.
        let age = i128::from(now) - i128::from(created_at);
        let max_age_s = self.max_age.as_secs();
        let max_skew_s = self.max_future_skew.as_secs();
        if age > i128::from(max_age_s) {
            return Err(CoseError::Stale { created_at, now, age_s: age, max_age_s });
        }
        if -age > i128::from(max_skew_s) {
            return Err(CoseError::FromTheFuture { created_at, now, ahead_s: -age, max_skew_s });
        }
        Ok(())
    }

    /// The oldest creation time [`Freshness::check_fresh`] accepts at `now`.
    pub fn oldest_fresh(&self, now: i64) -> i64 {
        now.saturating_sub(i64::try_from(self.max_age.as_secs()).unwrap_or(i64::MAX))
    }
}

/// Whether a digest was seen before.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplayVerdict {
    /// Not seen: the request may be acted on (and its digest recorded).
    Fresh,
    /// Seen: a replay.
    Replayed,
}

/// What the server records in its `seen` map for an admitted request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Admission {
    /// The key to store.
    pub digest: RequestDigest,
    /// The request's `created_at`, stored beside the digest so old entries can be dropped.
    pub created_at: i64,
}

/// Decides whether a verified request may be acted on; the storage of seen digests is
/// the caller's (see the module docs for what to keep).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReplayGuard {
    freshness: Freshness,
}

impl ReplayGuard {
    /// A guard with these freshness bounds.
    pub fn new(freshness: Freshness) -> Self {
        ReplayGuard { freshness }
    }

    /// The freshness bounds.
    pub fn freshness(&self) -> Freshness {
        self.freshness
    }

    /// Replayed if `already_seen` says the digest is stored, Fresh otherwise.
    pub fn verdict(&self, digest: &RequestDigest, already_seen: impl FnOnce(&RequestDigest) -> bool) -> ReplayVerdict {
        if already_seen(digest) { ReplayVerdict::Replayed } else { ReplayVerdict::Fresh }
    }

    /// Freshness first (so the store is asked only about requests young enough to be
    /// in it), then the replay lookup. On `Ok`, the caller records the [`Admission`]
    /// in the same transaction as acting on the request.
    pub fn admit(
        &self,
        request: &VerifiedRequest,
        now: i64,
        already_seen: impl FnOnce(&RequestDigest) -> bool,
    ) -> Result<Admission, CoseError> {
        self.freshness.check_fresh(request.header.created_at, now)?;
        match self.verdict(&request.digest, already_seen) {
            ReplayVerdict::Replayed => Err(CoseError::Replayed { digest: request.digest }),
            ReplayVerdict::Fresh => Ok(Admission { digest: request.digest, created_at: request.header.created_at }),
        }
    }

    /// The oldest `created_at` whose digest must still be kept at time `now`: entries
    /// with an earlier `created_at` may be deleted.
    pub fn keep_from(&self, now: i64) -> i64 {
        self.freshness.oldest_fresh(now)
    }

    /// Whether an entry with this `created_at` must still be kept at time `now`.
    pub fn must_keep(&self, created_at: i64, now: i64) -> bool {
        created_at >= self.keep_from(now)
    }
}

/// An in-memory `seen` map for a single process (and tests): digest → `created_at`.
/// A replicated server keeps the same pairs in its own key-value map instead.
#[derive(Clone, Debug, Default)]
pub struct SeenDigests {
    entries: HashMap<RequestDigest, i64>,
}

impl SeenDigests {
    /// An empty map.
    pub fn new() -> Self {
        SeenDigests::default()
    }

    /// Whether the digest is recorded.
    pub fn contains(&self, digest: &RequestDigest) -> bool {
        self.entries.contains_key(digest)
    }

    /// Records an admitted request.
    pub fn record(&mut self, admission: Admission) {
        self.entries.insert(admission.digest, admission.created_at);
    }

    /// [`ReplayGuard::admit`] and, on success, [`SeenDigests::record`].
    pub fn admit(&mut self, guard: &ReplayGuard, request: &VerifiedRequest, now: i64) -> Result<Admission, CoseError> {
        let admission = guard.admit(request, now, |d| self.contains(d))?;
        self.record(admission);
        Ok(admission)
    }

    /// Drops the entries the guard no longer needs at time `now`; returns how many.
    pub fn prune(&mut self, guard: &ReplayGuard, now: i64) -> usize {
        let before = self.entries.len();
        self.entries.retain(|_, created_at| guard.must_keep(*created_at, now));
        before - self.entries.len()
    }

    /// How many digests are recorded.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether none are.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn freshness_bounds_are_inclusive_and_overflow_free() {
        let f = Freshness::default();
        assert!(f.check_fresh(1_000, 1_300).is_ok());
        assert!(matches!(f.check_fresh(1_000, 1_301), Err(CoseError::Stale { age_s: 301, max_age_s: 300, .. })));
        assert!(f.check_fresh(1_030, 1_000).is_ok());
        assert!(matches!(f.check_fresh(1_031, 1_000), Err(CoseError::FromTheFuture { ahead_s: 31, .. })));
        assert!(matches!(f.check_fresh(i64::MIN, i64::MAX), Err(CoseError::Stale { .. })));
        assert!(matches!(f.check_fresh(i64::MAX, i64::MIN), Err(CoseError::FromTheFuture { .. })));
    }

    #[test]
    fn keep_from_matches_the_staleness_bound() {
        let guard = ReplayGuard::default();
        let now = 10_000;
        // The last created_at that is still fresh must be kept; the first stale one need not be.
        assert!(guard.freshness().check_fresh(guard.keep_from(now), now).is_ok());
        assert!(guard.freshness().check_fresh(guard.keep_from(now) - 1, now).is_err());
        assert!(guard.must_keep(now - 300, now));
        assert!(!guard.must_keep(now - 301, now));
        assert_eq!(guard.keep_from(i64::MIN), i64::MIN);
    }

    #[test]
    fn digest_hex_round_trips_and_rejects_junk() {
        let d = RequestDigest::of_signed_content(b"x");
        assert_eq!(RequestDigest::from_hex(&d.to_hex()), Some(d));
        assert_eq!(RequestDigest::from_bytes(*d.as_bytes()), d);
        assert_eq!(RequestDigest::from_hex("zz"), None);
        assert_eq!(format!("{d}").len(), 64);
    }
}
