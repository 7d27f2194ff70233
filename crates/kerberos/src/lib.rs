//! Kerberos for consort's Hadoop clients, on the system's MIT Kerberos libraries.
//!
//! One [`Identity`] per process and [`KerberosSettings`]: it logs in from a keytab into a
//! ticket cache of its own (or uses an existing cache from `kinit`), renews the ticket before it
//! expires, and makes SPNEGO `Authorization` headers for WebHDFS, YARN and Livy. HDFS RPC
//! (`hdfs-native`) reads the same ticket cache. Every failure is a [`KerberosError`] whose kind
//! names the setting to fix (no keytab, wrong principal, clock skew, no ticket, KDC unreachable).
//!
//! ```no_run
//! use consort_kerberos::{Identity, KerberosSettings};
//! let settings = KerberosSettings {
//!     principal: Some("consort@EXAMPLE.COM".into()),
//!     keytab: Some("/etc/security/keytabs/consort.keytab".into()),
//!     ..Default::default()
//! };
//! let id = Identity::login(&settings)?;
//! let header = id.negotiate("http://rm.example.com:8088/ws/v1/cluster/info")?;
//! # Ok::<(), consort_kerberos::KerberosError>(())
//! ```

pub mod error;
mod ffi;
mod identity;
pub mod settings;

pub use error::{ErrorKind, KerberosError};
pub use identity::{Identity, use_krb5_conf};
pub use settings::{Credentials, KerberosSettings, SettingError, host_of, service_principal};
