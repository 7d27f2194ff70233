//! Storage errors: one enum for every backend, each message naming what failed and what to fix,
//! with `is_retryable` for the callers that retry.

/// A storage operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// The URI cannot be parsed or uses an unsupported scheme.
    #[error("invalid storage URI `{uri}`: {reason}")]
    InvalidUri {
        /// The URI as given.
        uri: String,
        /// What is wrong and what to write instead.
        reason: String,
    },
    /// Nothing exists at the URI.
    #[error("{uri} does not exist; check the path and the {container} in the URI, or upload the artifact there first")]
    NotFound {
        /// The URI that was looked up.
        uri: String,
        /// What holds the path: "bucket", "container", "NameNode" or "directory".
        container: &'static str,
    },
    /// The storage refused access to the identity in use.
    #[error(
        "permission denied on {uri} for {principal}: {detail}; grant that identity read access, or configure credentials that have it"
    )]
    PermissionDenied {
        /// The URI that was refused.
        uri: String,
        /// Who asked: HDFS user, S3 access key id, Azure account.
        principal: String,
        /// The server's words.
        detail: String,
    },
    /// The storage service did not answer. Retrying later may succeed.
    #[error(
        "cannot reach {service} at {address} (for {uri}): {detail}; check the address and port, that the service is up and that this host may connect to it (retrying may help)"
    )]
    Unreachable {
        /// The URI being accessed.
        uri: String,
        /// The kind of service: "HDFS NameNode", "WebHDFS", "S3", "Azure Blob".
        service: &'static str,
        /// The address that did not answer.
        address: String,
        /// The underlying error.
        detail: String,
    },
    /// Several NameNodes are configured and none of them is active. Retrying later may succeed
    /// (a failover may be in progress).
    #[error(
        "no active NameNode for {nameservice} (for {uri}); tried {tried}; check that one NameNode is active (`hdfs haadmin -getAllServiceState`) and that the configured HTTP addresses are right"
    )]
    NoActiveNameNode {
        /// The URI being accessed.
        uri: String,
        /// The nameservice whose NameNodes were tried.
        nameservice: String,
        /// Each NameNode tried and what it said.
        tried: String,
    },
    /// A directory was found where a file was expected.
    #[error("{uri} is a directory, not a file; point to the file itself")]
    IsDirectory {
        /// The URI of the directory.
        uri: String,
    },
    /// The URI is served by another storage handle.
    #[error("{uri} is not under {root}, the root this storage handle serves; open a Storage for {uri} instead")]
    WrongRoot {
        /// The URI asked for.
        uri: String,
        /// The root this handle serves.
        root: String,
    },
    /// The storage configuration cannot serve the URI.
    #[error("cannot open storage for {uri}: {reason}")]
    Config {
        /// The URI being opened.
        uri: String,
        /// What is missing or wrong, and how to set it.
        reason: String,
    },
    /// The Kerberos identity cannot log in or authenticate to the service.
    #[error("cannot authenticate to {uri}: {source}")]
    Kerberos {
        /// The URI being opened.
        uri: String,
        /// What Kerberos said, and the fix.
        source: consort_kerberos::KerberosError,
    },
    /// Any other failure the backend reported.
    #[error("{operation} {uri} failed: {detail}")]
    Backend {
        /// The URI being accessed.
        uri: String,
        /// What was being done: "stat", "read", "list".
        operation: &'static str,
        /// The backend's words.
        detail: String,
    },
}

impl StorageError {
    /// Whether the same call may succeed later without any change (the service was unreachable,
    /// or no NameNode was active).
    pub fn is_retryable(&self) -> bool {
        matches!(self, StorageError::Unreachable { .. } | StorageError::NoActiveNameNode { .. })
    }
}
