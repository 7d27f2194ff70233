//! consort-attest: secrets and tokens released only to attested runners.
//!
//! - [`evidence`]: what verified evidence says ([`Claims`]), the verifier plug-in
//!   ([`AttestationVerifier`]), the [`Policy`] bound to a secret for a run, and the
//!   one-off-key binding ([`report_data_for`], [`bind_check`]).
//! - [`simulated`]: a simulated TEE (Ed25519-signed JSON reports) for development and tests.
//! - [`snp`]: AMD SEV-SNP reports and the ARK → ASK → VCEK chain, against pinned AMD roots;
//!   [`snp_tcb`]: TCB versions, the VCEK's TCB extensions and their binding to the report;
//!   [`snp_crl`]: AMD's CRLs (signature by the ARK, freshness, revoked ASK/VCEK serials).
//! - [`wrap`]: answers encrypted to the one-off key with HPKE (RFC 9180).
//! - [`seal`]: secrets sealed at rest (AES-256-GCM) with keys from a [`KeyProvider`];
//!   [`keyfile::LocalKeyFile`] is the default provider.
//! - [`release`]: the checks for releasing a sealed secret, in order.
//! - [`issuer`]: a per-clean-room OIDC issuer (discovery, JWKS, ES256 tokens).
//!
//! Pure apart from [`keyfile`] (reads or creates one file) and the OS random source
//! (keys, nonces, `jti`); the clock is always an argument. See docs/attestation.md.

mod b64;
mod error;
pub mod evidence;
pub mod issuer;
pub mod keyfile;
pub mod release;
pub mod seal;
pub mod simulated;
pub mod snp;
pub mod snp_crl;
pub mod snp_tcb;
pub mod wrap;

pub use error::AttestError;
pub use evidence::{AttestationVerifier, Claims, FirstThatVerifies, Policy, SnpClaims, bind_check, report_data_for};
pub use issuer::{Issuer, IssuerKey};
pub use keyfile::LocalKeyFile;
pub use release::{Grant, ReleaseRequest, release};
pub use seal::{KeyProvider, SealedSecret, SealingKey, Secret, StaticKeyProvider, open, seal, secret_binding};
pub use simulated::{SimulatedReport, SimulatedTee, SimulatedVerifier};
pub use snp::{SnpEvidence, SnpReport, SnpVerifier};
pub use snp_crl::AmdCrl;
pub use snp_tcb::{Generation, Tcb};
pub use wrap::{OneOffKeyPair, WrappedAnswer, release_info, session_info, unwrap_with, wrap_to};
