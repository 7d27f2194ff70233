//! The default [`KeyProvider`]: one 32-byte random key in a local file, created
//! with mode 0600 if absent. The only module of the crate that does I/O.

use std::fs::{self, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use ring::digest::{SHA256, digest};
use ring::rand::{SecureRandom, SystemRandom};
use zeroize::Zeroizing;

use crate::AttestError;
use crate::seal::{KeyProvider, SealingKey};

const KEY_LEN: usize = 32;

/// A sealing key kept in a local file. Its id is `local:` and the first 8 bytes (hex)
/// of SHA-256(key), so a replaced file is detected as a different key, not as tampering.
pub struct LocalKeyFile {
    path: PathBuf,
    key: SealingKey,
    /// HKDF pseudo-random key of the file's key, for secrets derived from it (see
    /// [`LocalKeyFile::derive_secret`]).
    derivation: ring::hkdf::Prk,
}

impl std::fmt::Debug for LocalKeyFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalKeyFile").field("path", &self.path).field("key_id", &self.key.key_id()).finish()
    }
}

impl LocalKeyFile {
    /// Reads the key at `path`, or creates the file (mode 0600, 32 random bytes) if absent.
    /// Refuses a file of another length or readable by group or others.
    pub fn open_or_create(path: impl AsRef<Path>) -> Result<Self, AttestError> {
        let path = path.as_ref().to_path_buf();
        let bytes = match Self::create(&path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == ErrorKind::AlreadyExists => Self::read(&path)?,
            Err(error) => {
                return Err(provider_error(
                    &path,
                    format!("cannot create it ({error}); check the directory exists and is writable"),
                ));
            }
        };
        let key_id = format!("local:{}", hex::encode(&digest(&SHA256, bytes.as_ref()).as_ref()[..8]));
        let derivation =
            ring::hkdf::Salt::new(ring::hkdf::HKDF_SHA256, b"consort-local-key-file/derive/1").extract(bytes.as_ref());
        Ok(Self { key: SealingKey::new(key_id, bytes.as_ref())?, path, derivation })
    }

    fn create(path: &Path) -> std::io::Result<Zeroizing<[u8; KEY_LEN]>> {
        let mut file = OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        SystemRandom::new().fill(key.as_mut()).map_err(|_| std::io::Error::other("the system random source failed"))?;
        file.write_all(key.as_ref())?;
        file.sync_all()?;
        Ok(key)
    }

    fn read(path: &Path) -> Result<Zeroizing<[u8; KEY_LEN]>, AttestError> {
        let metadata = fs::metadata(path).map_err(|error| provider_error(path, format!("cannot stat it ({error})")))?;
        if metadata.permissions().mode() & 0o077 != 0 {
            return Err(provider_error(
                path,
                format!(
                    "mode {:o} lets group or others read the key; run chmod 600 on it",
                    metadata.permissions().mode() & 0o777
                ),
            ));
        }
        let file = fs::File::open(path).map_err(|error| provider_error(path, format!("cannot open it ({error})")))?;
        let mut contents = Zeroizing::new(Vec::with_capacity(KEY_LEN));
        // Read one byte more than a key, to tell a longer file from a key.
        file.take(KEY_LEN as u64 + 1)
            .read_to_end(&mut contents)
            .map_err(|error| provider_error(path, format!("cannot read it ({error})")))?;
        let key: [u8; KEY_LEN] = contents.as_slice().try_into().map_err(|_| {
            provider_error(
                path,
                format!(
                    "is not exactly {KEY_LEN} bytes; restore the original key file (a new one cannot open old secrets)"
                ),
            )
        })?;
        Ok(Zeroizing::new(key))
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A 32-byte secret derived from the file's key for `purpose` (HKDF-SHA256): other keys
    /// (the clean rooms' ledger service keys) follow the one file every instance shares,
    /// without being stored anywhere. Different purposes give unrelated secrets.
    pub fn derive_secret(&self, purpose: &str) -> Zeroizing<[u8; 32]> {
        struct Len32;
        impl ring::hkdf::KeyType for Len32 {
            fn len(&self) -> usize {
                32
            }
        }
        let mut out = Zeroizing::new([0u8; 32]);
        let info = [purpose.as_bytes()];
        self.derivation
            .expand(&info, Len32)
            .and_then(|okm| okm.fill(out.as_mut()))
            .expect("32 bytes is a valid HKDF-SHA256 output length");
        out
    }
}

impl KeyProvider for LocalKeyFile {
    fn current_key(&self) -> Result<SealingKey, AttestError> {
        Ok(self.key.clone())
    }

    fn key(&self, key_id: &str) -> Result<SealingKey, AttestError> {
        if key_id == self.key.key_id() {
            Ok(self.key.clone())
        } else {
            Err(AttestError::UnknownKey {
                provider: format!("local key file {}", self.path.display()),
                key_id: key_id.into(),
            })
        }
    }
}

fn provider_error(path: &Path, problem: String) -> AttestError {
    AttestError::KeyProvider { provider: format!("local key file {}", path.display()), problem }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seal::{open_with, seal, secret_binding};

    #[test]
    fn creates_a_private_key_file_and_reads_it_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sealing.key");
        let created = LocalKeyFile::open_or_create(&path).unwrap();
        let metadata = fs::metadata(&path).unwrap();
        assert_eq!(metadata.len(), 32);
        assert_eq!(metadata.permissions().mode() & 0o777, 0o600);

        let sealed = seal(&created.current_key().unwrap(), &secret_binding("r", "s"), b"v").unwrap();
        let reopened = LocalKeyFile::open_or_create(&path).unwrap();
        assert_eq!(reopened.current_key().unwrap().key_id(), created.current_key().unwrap().key_id());
        assert!(reopened.current_key().unwrap().key_id().starts_with("local:"));
        assert_eq!(open_with(&reopened, &secret_binding("r", "s"), &sealed).unwrap().expose(), b"v");
        assert!(matches!(reopened.key("local:0000"), Err(AttestError::UnknownKey { .. })));
        assert!(!format!("{reopened:?}").contains("bytes"));
        assert_eq!(*reopened.derive_secret("a"), *created.derive_secret("a"), "derived secrets follow the file");
        assert_ne!(*reopened.derive_secret("a"), *reopened.derive_secret("b"));
    }

    #[test]
    fn refuses_readable_or_wrong_length_files() {
        let dir = tempfile::tempdir().unwrap();
        let readable = dir.path().join("readable.key");
        fs::write(&readable, [1u8; 32]).unwrap();
        fs::set_permissions(&readable, fs::Permissions::from_mode(0o644)).unwrap();
        let error = LocalKeyFile::open_or_create(&readable).unwrap_err();
        assert!(error.to_string().contains("chmod 600"), "{error}");

        for len in [31, 33] {
            let path = dir.path().join(format!("len{len}.key"));
            fs::write(&path, vec![1u8; len]).unwrap();
            fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
            assert!(matches!(LocalKeyFile::open_or_create(&path), Err(AttestError::KeyProvider { .. })));
        }
    }

    #[test]
    fn missing_directory_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let error = LocalKeyFile::open_or_create(dir.path().join("no/such/dir/key")).unwrap_err();
        assert!(error.to_string().contains("cannot create"), "{error}");
    }
}
