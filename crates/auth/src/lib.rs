//! consort-auth: who is calling and what they may do.
//!
//! - [`Principal`]: an authenticated caller (an API token, a JWT from a configured
//!   OpenID issuer, or a TLS client certificate) with its [`Role`]s.
//! - [`Action`] and [`Role::permits`]: the authorisation model, one table.
//! - [`token`]: API tokens — generated here, stored only as a hash.
//! - [`oidc`]: JWT bearer tokens of configured OpenID issuers ([`OidcVerifier`]).
//! - [`AuthStore`]: what the store keeps for this area (tokens, the audit trail);
//!   implemented by `consort-store` for SQLite and PostgreSQL.
//!
//! Pure apart from [`token::generate`] (reads the OS random source) and
//! [`OidcVerifier`] (fetches the issuers' keys over HTTP); the clock is always an
//! argument.

mod model;
pub mod oidc;
mod store;
pub mod token;

pub use model::{Action, AuthError, Method, Principal, Role, RoleSet};
pub use oidc::{ConfigError, IssuerConfig, OidcVerifier};
pub use store::{AuditQuery, AuditRecord, AuthStore, AuthStoreError, NewToken, TokenRecord};
