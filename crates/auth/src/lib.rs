//! consort-auth: who is calling and what they may do.
//!
//! - [`Principal`]: an authenticated caller (an API token, a JWT from a configured
//!   OpenID issuer, or a TLS client certificate) with its [`Role`]s.
//! - [`Action`] and [`Role::permits`]: the authorisation model, one table.
//! - [`token`]: API tokens — generated here, stored only as a hash.
//! - [`AuthStore`]: what the store keeps for this area (tokens, the audit trail);
//!   implemented by `consort-store` for SQLite and PostgreSQL.
//!
//! Pure apart from [`token::generate`] (reads the OS random source); the clock is
//! always an argument.

mod model;
mod store;
pub mod token;

pub use model::{Action, AuthError, Method, Principal, Role, RoleSet};
pub use store::{AuditQuery, AuditRecord, AuthStore, AuthStoreError, NewToken, TokenRecord};
