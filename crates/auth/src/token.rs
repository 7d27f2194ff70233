//! API tokens: `cst_` + 43 characters of base64url (256 random bits).
//!
//! The secret is shown once, at creation; the store keeps its SHA-256, which is
//! enough for a uniformly random 256-bit secret (no password stretching needed,
//! and a lookup costs one hash). The prefix lets secret scanners recognise a
//! leaked token.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// The prefix of every API token.
pub const PREFIX: &str = "cst_";
const SECRET_CHARS: usize = 43;

/// A freshly generated token: the secret (give it to the user, once) and its
/// public id (safe to show, log and use in `tokens revoke`).
pub struct Generated {
    /// The bearer secret.
    pub secret: String,
    /// The public id, `tok_` + 12 characters.
    pub id: String,
    /// The SHA-256 of the secret, hex: what the store keeps.
    pub hash: String,
}

impl std::fmt::Debug for Generated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Generated").field("id", &self.id).field("secret", &"<redacted>").finish()
    }
}

/// Generates a token from the OS random source.
pub fn generate() -> Result<Generated, getrandom::Error> {
    let mut bytes = [0u8; 32 + 9];
    getrandom::fill(&mut bytes)?;
    let secret = format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(&bytes[..32]));
    let id = format!("tok_{}", URL_SAFE_NO_PAD.encode(&bytes[32..]));
    let hash = hash(&secret);
    Ok(Generated { secret, id, hash })
}

/// Whether `bearer` has an API token's shape (otherwise it may be a JWT).
pub fn looks_like_token(bearer: &str) -> bool {
    bearer.len() == PREFIX.len() + SECRET_CHARS
        && bearer.starts_with(PREFIX)
        && bearer[PREFIX.len()..].bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The SHA-256 of a token, hex: the store's lookup key.
pub fn hash(secret: &str) -> String {
    let digest = Sha256::digest(secret.as_bytes());
    let mut out = String::with_capacity(64);
    for b in digest {
        out.push(char::from_digit(u32::from(b >> 4), 16).unwrap_or('0'));
        out.push(char::from_digit(u32::from(b & 15), 16).unwrap_or('0'));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_have_the_shape_and_differ() {
        let a = generate().unwrap();
        let b = generate().unwrap();
        assert!(looks_like_token(&a.secret), "{}", a.secret);
        assert_ne!(a.secret, b.secret);
        assert_ne!(a.id, b.id);
        assert_eq!(a.hash, hash(&a.secret));
        assert_eq!(a.hash.len(), 64);
        assert!(!format!("{a:?}").contains(&a.secret));
    }

    #[test]
    fn a_jwt_does_not_look_like_a_token() {
        assert!(!looks_like_token("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"));
        assert!(!looks_like_token("cst_short"));
        assert!(!looks_like_token(&format!("cst_{}", "!".repeat(43))));
    }
}
