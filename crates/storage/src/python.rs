//! Python entry points: the file exists, and — when it is small and a `python3` is on the PATH —
//! it compiles, which catches syntax errors before Spark does.

use std::process::Stdio;

use tokio::io::AsyncWriteExt;

use crate::error::StorageError;
use crate::storage::Storage;

/// Files larger than this are checked for existence only.
const MAX_COMPILE_BYTES: u64 = 1 << 20;

/// What a passing Python entry point check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PythonReport {
    /// The file's URI.
    pub uri: String,
    /// Its size in bytes.
    pub size: u64,
    /// Whether its syntax was checked (`false` when too large or no `python3` was found).
    pub compiled: bool,
    /// Bytes read from storage.
    pub bytes_read: u64,
}

/// Why a Python entry point check failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PythonCheckError {
    /// The storage could not be read.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The file does not compile.
    #[error("{uri} does not compile: {message}; fix the syntax error and upload the file again")]
    Syntax {
        /// The file's URI.
        uri: String,
        /// Python's message, with the line number.
        message: String,
    },
}

/// Checks that the Python file at `uri` exists and, where cheap, compiles.
pub async fn check_python(storage: &Storage, uri: &str) -> Result<PythonReport, PythonCheckError> {
    let meta = storage.stat(uri).await?;
    if meta.is_dir {
        return Err(StorageError::IsDirectory { uri: uri.to_owned() }.into());
    }
    let mut report = PythonReport { uri: uri.to_owned(), size: meta.len, compiled: false, bytes_read: 0 };
    if meta.len > MAX_COMPILE_BYTES {
        return Ok(report);
    }
    let source = storage.read(uri).await?;
    report.bytes_read = source.len() as u64;
    let name = uri.rsplit('/').next().unwrap_or(uri).to_owned();
    let child = tokio::process::Command::new("python3")
        .arg("-c")
        .arg("import sys\ntry:\n compile(sys.stdin.buffer.read(), sys.argv[1], 'exec')\nexcept SyntaxError as e:\n print(f'{e.msg} at line {e.lineno}', end='')\n sys.exit(3)")
        .arg(&name)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn();
    let Ok(mut child) = child else { return Ok(report) };
    if let Some(mut stdin) = child.stdin.take() {
        // A write error means python3 exited early; its exit status tells why.
        let _ = stdin.write_all(&source).await;
    }
    let Ok(out) = child.wait_with_output().await else { return Ok(report) };
    match out.status.code() {
        Some(0) => report.compiled = true,
        Some(3) => {
            return Err(PythonCheckError::Syntax {
                uri: uri.to_owned(),
                message: String::from_utf8_lossy(&out.stdout).into_owned(),
            });
        }
        // python3 itself failed (not installed properly, ...): existence is all we can say.
        _ => {}
    }
    Ok(report)
}
