//! consort-governance: the clean rooms' trust core.
//!
//! A server holds several clean rooms; each has its own members, users, proposals, contracts,
//! documents, consent, secrets, keys and ledger. Like CCF, a clean room's state is a set of
//! named key-value maps ([`Map`]) changed only by commits ([`Commit`]) that also append to the
//! clean room's ledger in the same transaction, under optimistic concurrency: a commit names the
//! versions it read and fails with [`CommitError::Conflict`] if any changed, and the caller
//! decides again.

pub mod credentials;
mod error;
pub mod model;
pub mod rules;
#[macro_use]
mod service;
mod access;
pub mod runs;
pub mod secrets;
mod store;
mod tx;

pub use access::VerifiedCredential;
pub use error::GovError;
pub use service::{Caller, ConsentSubject, ConsentView, DocumentDraft, Governance, MemberRequest};
pub use store::{Commit, CommitError, GovernanceStore, Map, Versioned, Write};
pub use tx::Tx;
