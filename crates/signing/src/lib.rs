//! consort-signing: clean-room member keys and signed governance requests.
//!
//! Every governance request a clean-room member sends (a proposal, a ballot, a
//! document, consent, ...) is a COSE_Sign1 message signed with the member's key, in
//! the manner of CCF's governance requests. This crate holds:
//!
//! - [`keys`]: member key pairs (ECDSA P-256, P-384, Ed25519), their PEM forms,
//!   public keys from bare keys or X.509 certificates, key ids, self-signed
//!   certificates.
//! - [`cose`]: signing and parsing requests, and verifying them with the member's key.
//! - [`replay`]: staleness and replay decisions over a store the caller keeps.
//!
//! The envelope is described for other implementations in `docs/governance-requests.md`.
//!
//! Pure: no file, network or clock access. The caller reads and writes key files and
//! passes the current time in; the only outside input is the OS random source, read
//! when a key is generated and when ECDSA signs.

pub mod cose;
pub mod keys;
pub mod replay;

pub use cose::{CoseError, RequestHeader, UnverifiedRequest, VerifiedRequest, parse_request, sign_request};
pub use keys::{KeyAlgorithm, KeyError, MemberKeyPair, MemberPublicKey, self_signed_certificate};
pub use replay::{Admission, Freshness, ReplayGuard, ReplayVerdict, RequestDigest, SeenDigests};
