//! Storage URIs: which backend a URI names, which bucket, container or NameNode it lives on, and
//! the path inside it. Parsing is pure; connecting is `Storage`'s job.

use std::fmt;

use crate::error::StorageError;

/// The kind of storage a URI names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// `file:///abs/path`, or a bare absolute path.
    File,
    /// `hdfs://host:port/path` or `hdfs://nameservice/path`: HDFS over its native RPC protocol.
    Hdfs,
    /// `webhdfs://host:port/path` or `webhdfs://nameservice/path` (`swebhdfs://` for HTTPS).
    WebHdfs {
        /// Whether to use HTTPS (`swebhdfs`).
        tls: bool,
    },
    /// `s3://bucket/key` (also `s3a://`).
    S3,
    /// Azure Blob Storage or ADLS Gen2: `az://container/path`,
    /// `abfs[s]://container@account.dfs.core.windows.net/path`,
    /// `wasb[s]://container@account.blob.core.windows.net/path`.
    Azure,
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Scheme::File => "file",
            Scheme::Hdfs => "hdfs",
            Scheme::WebHdfs { tls: false } => "webhdfs",
            Scheme::WebHdfs { tls: true } => "swebhdfs",
            Scheme::S3 => "s3",
            Scheme::Azure => "az",
        })
    }
}

/// A parsed storage URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageUri {
    /// The URI as the user wrote it, for messages.
    pub original: String,
    /// Which backend.
    pub scheme: Scheme,
    /// For HDFS and WebHDFS: `host:port` or a nameservice. For S3: the bucket. For Azure: the
    /// container. Empty for local files.
    pub authority: String,
    /// For Azure URIs that name it (`abfs://container@account.dfs.core.windows.net`): the account.
    pub account: Option<String>,
    /// The absolute path inside the authority, always starting with `/`.
    pub path: String,
}

impl StorageUri {
    /// Parses `uri`. A bare absolute path is a local file, as upstream treats a jar without scheme.
    pub fn parse(uri: &str) -> Result<StorageUri, StorageError> {
        let invalid = |reason: &str| StorageError::InvalidUri { uri: uri.to_owned(), reason: reason.to_owned() };
        let trimmed = uri.trim();
        if trimmed.is_empty() {
            return Err(invalid("it is empty; give a URI such as hdfs://namenode:8020/jobs/app.jar"));
        }
        if trimmed.starts_with('/') {
            return Ok(StorageUri {
                original: uri.to_owned(),
                scheme: Scheme::File,
                authority: String::new(),
                account: None,
                path: trimmed.to_owned(),
            });
        }
        let Some((scheme, rest)) = trimmed.split_once("://") else {
            return Err(invalid(
                "it has no scheme; use file:///abs/path, hdfs://, webhdfs://, s3://, az:// or abfs://, or an absolute path",
            ));
        };
        let scheme = match scheme.to_ascii_lowercase().as_str() {
            "file" => Scheme::File,
            "hdfs" => Scheme::Hdfs,
            "webhdfs" => Scheme::WebHdfs { tls: false },
            "swebhdfs" => Scheme::WebHdfs { tls: true },
            "s3" | "s3a" => Scheme::S3,
            "az" | "azblob" | "abfs" | "abfss" | "wasb" | "wasbs" => Scheme::Azure,
            other => {
                return Err(invalid(&format!(
                    "scheme `{other}` is not supported; use file, hdfs, webhdfs, swebhdfs, s3, s3a, az, abfs(s) or wasb(s)"
                )));
            }
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        if path.contains('?') || path.contains('#') {
            return Err(invalid("query strings and fragments are not part of a storage path; remove them"));
        }
        let mut account = None;
        let authority = match scheme {
            Scheme::File => {
                if !authority.is_empty() && authority != "localhost" {
                    return Err(invalid("a file URI has no host; write file:///abs/path (three slashes)"));
                }
                String::new()
            }
            Scheme::Azure => match authority.split_once('@') {
                Some((container, host)) => {
                    account = host.split('.').next().filter(|a| !a.is_empty()).map(str::to_owned);
                    container.to_owned()
                }
                None => authority.to_owned(),
            },
            _ => authority.to_owned(),
        };
        if scheme != Scheme::File && authority.is_empty() {
            return Err(invalid(match scheme {
                Scheme::S3 => "it names no bucket; write s3://bucket/key",
                Scheme::Azure => {
                    "it names no container; write az://container/path or abfs://container@account.dfs.core.windows.net/path"
                }
                _ => "it names no NameNode; write hdfs://host:port/path or hdfs://nameservice/path",
            }));
        }
        Ok(StorageUri { original: uri.to_owned(), scheme, authority, account, path: path.to_owned() })
    }

    /// The root this URI lives under (scheme and authority), which one `Storage` serves.
    pub fn root(&self) -> String {
        match self.scheme {
            Scheme::File => "file://".to_owned(),
            s => format!("{s}://{}", self.authority),
        }
    }

    /// The path without its leading `/`, as the object stores address keys.
    pub fn key(&self) -> &str {
        self.path.trim_start_matches('/')
    }
}

impl fmt::Display for StorageUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.original)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(uri: &str) -> StorageUri {
        StorageUri::parse(uri).unwrap()
    }

    #[test]
    fn schemes_and_authorities() {
        let cases = [
            ("/opt/jobs/app.jar", Scheme::File, "", "/opt/jobs/app.jar"),
            ("file:///opt/app.jar", Scheme::File, "", "/opt/app.jar"),
            ("hdfs://nn1:8020/jobs/app.jar", Scheme::Hdfs, "nn1:8020", "/jobs/app.jar"),
            ("hdfs://ns1/jobs/app.jar", Scheme::Hdfs, "ns1", "/jobs/app.jar"),
            ("webhdfs://nn1:9870/a", Scheme::WebHdfs { tls: false }, "nn1:9870", "/a"),
            ("swebhdfs://nn1:9871/a", Scheme::WebHdfs { tls: true }, "nn1:9871", "/a"),
            ("s3://bucket/dir/app.jar", Scheme::S3, "bucket", "/dir/app.jar"),
            ("s3a://bucket/app.jar", Scheme::S3, "bucket", "/app.jar"),
            ("az://jobs/app.jar", Scheme::Azure, "jobs", "/app.jar"),
            ("abfss://jobs@acct.dfs.core.windows.net/x/app.jar", Scheme::Azure, "jobs", "/x/app.jar"),
        ];
        for (uri, scheme, authority, path) in cases {
            let u = parse(uri);
            assert_eq!((u.scheme, u.authority.as_str(), u.path.as_str()), (scheme, authority, path), "{uri}");
        }
        assert_eq!(parse("abfs://jobs@acct.dfs.core.windows.net/a").account.as_deref(), Some("acct"));
        assert_eq!(parse("s3://bucket/dir/app.jar").key(), "dir/app.jar");
    }

    #[test]
    fn bad_uris_say_what_to_write() {
        for (uri, hint) in [
            ("", "empty"),
            ("app.jar", "no scheme"),
            ("gs://b/app.jar", "not supported"),
            ("s3:///app.jar", "no bucket"),
            ("file://host/app.jar", "three slashes"),
            ("hdfs:///app.jar", "no NameNode"),
        ] {
            let err = StorageUri::parse(uri).unwrap_err().to_string();
            assert!(err.contains(hint), "{uri}: {err}");
        }
    }
}
