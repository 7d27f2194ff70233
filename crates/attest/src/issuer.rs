//! A per-clean-room OIDC issuer of short-lived tokens for attested callers.
//!
//! Signs ES256 (ECDSA P-256 SHA-256, via ring) and advertises exactly that
//! algorithm in the discovery document and on the JWKS key: a relying party
//! checking `alg` against the JWKS (unlike Azure's, which advertises RS256 and
//! signs PS256) accepts the tokens as they are. Discovery at
//! `{issuer}/.well-known/openid-configuration`, keys at `{issuer}/.well-known/jwks.json`.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::digest::{SHA256, digest};
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use serde_json::{Map, Value, json};
use zeroize::Zeroizing;

use crate::AttestError;

/// The JWS algorithm of every token and of the JWKS key.
pub const ALG: &str = "ES256";
/// Longest token lifetime `mint` accepts (seconds): tokens are for one run's calls.
pub const MAX_TTL_S: i64 = 3600;
/// Claims `mint` sets itself and `extra` may not override.
pub const REGISTERED_CLAIMS: [&str; 7] = ["iss", "sub", "aud", "iat", "nbf", "exp", "jti"];

/// The issuer's P-256 signing key; Debug shows only its kid.
pub struct IssuerKey {
    pkcs8: Zeroizing<Vec<u8>>,
    key_pair: EcdsaKeyPair,
    kid: String,
}

impl std::fmt::Debug for IssuerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuerKey").field("kid", &self.kid).finish_non_exhaustive()
    }
}

impl IssuerKey {
    /// A new random key.
    pub fn generate() -> Result<Self, AttestError> {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .map_err(|_| AttestError::Crypto { what: "P-256 key generation" })?;
        Self::from_pkcs8(pkcs8.as_ref())
    }

    /// The key from a PKCS#8 document (as [`IssuerKey::pkcs8`] exports; store it sealed).
    pub fn from_pkcs8(pkcs8: &[u8]) -> Result<Self, AttestError> {
        let key_pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8, &SystemRandom::new())
            .map_err(|rejected| AttestError::InvalidKey {
                what: "issuer key",
                problem: format!("not a PKCS#8 P-256 private key ({rejected}); generate one with IssuerKey::generate"),
            })?;
        let kid = thumbprint(key_pair.public_key().as_ref());
        Ok(Self { pkcs8: Zeroizing::new(pkcs8.to_vec()), key_pair, kid })
    }

    /// The PKCS#8 document to store (sealed, see [`crate::seal`]).
    pub fn pkcs8(&self) -> &[u8] {
        &self.pkcs8
    }

    /// The key id: the RFC 7638 JWK thumbprint (SHA-256, base64url).
    pub fn kid(&self) -> &str {
        &self.kid
    }

    fn public_jwk(&self) -> Value {
        let point = self.key_pair.public_key().as_ref();
        json!({
            "kty": "EC",
            "crv": "P-256",
            "x": URL_SAFE_NO_PAD.encode(point.get(1..33).unwrap_or_default()),
            "y": URL_SAFE_NO_PAD.encode(point.get(33..65).unwrap_or_default()),
            "use": "sig",
            "alg": ALG,
            "kid": self.kid,
        })
    }
}

/// RFC 7638 thumbprint of an uncompressed P-256 point: members in lexicographic order, no spaces.
fn thumbprint(point: &[u8]) -> String {
    let x = URL_SAFE_NO_PAD.encode(point.get(1..33).unwrap_or_default());
    let y = URL_SAFE_NO_PAD.encode(point.get(33..65).unwrap_or_default());
    let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
    URL_SAFE_NO_PAD.encode(digest(&SHA256, canonical.as_bytes()))
}

/// One clean room's issuer.
#[derive(Debug)]
pub struct Issuer {
    issuer_url: String,
    key: IssuerKey,
}

impl Issuer {
    /// The issuer at `issuer_url` (https, no query or fragment; a trailing slash is dropped) signing with `key`.
    pub fn new(issuer_url: &str, key: IssuerKey) -> Result<Self, AttestError> {
        let issuer_url = issuer_url.trim_end_matches('/').to_owned();
        let plausible = issuer_url.starts_with("https://")
            && issuer_url.len() > "https://".len()
            && !issuer_url.contains(['?', '#', ' ']);
        if !plausible {
            return Err(AttestError::Issuer {
                issuer: issuer_url,
                problem: "the issuer URL must be https:// without query or fragment (OIDC Discovery 1.0 §3)".into(),
            });
        }
        Ok(Self { issuer_url, key })
    }

    /// The issuer URL (`iss`).
    pub fn issuer_url(&self) -> &str {
        &self.issuer_url
    }

    /// The signing key's id (`kid`).
    pub fn kid(&self) -> &str {
        self.key.kid()
    }

    /// Where the JWKS is served.
    pub fn jwks_uri(&self) -> String {
        format!("{}/.well-known/jwks.json", self.issuer_url)
    }

    /// The OpenID Provider Metadata served at `{issuer}/.well-known/openid-configuration`.
    /// Workload identity only: no authorization endpoint (tokens are minted for attested runners).
    pub fn discovery_document(&self) -> Value {
        json!({
            "issuer": self.issuer_url,
            "jwks_uri": self.jwks_uri(),
            "response_types_supported": ["id_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": [ALG],
            "claims_supported": REGISTERED_CLAIMS,
        })
    }

    /// The JSON Web Key Set: the one public key, with `alg` = [`ALG`], `use` = `sig`, its `kid`.
    pub fn jwks(&self) -> Value {
        json!({ "keys": [self.key.public_jwk()] })
    }

    /// A signed JWT for `subject` and `audience`, valid from `now_s` for `ttl_s` seconds
    /// (1..=[`MAX_TTL_S`]), with a random `jti` and the `extra` claims (which may not
    /// override [`REGISTERED_CLAIMS`]).
    pub fn mint(
        &self,
        subject: &str,
        audience: &str,
        now_s: i64,
        ttl_s: i64,
        extra: &Map<String, Value>,
    ) -> Result<String, AttestError> {
        let refuse = |problem: String| AttestError::Issuer { issuer: self.issuer_url.clone(), problem };
        if subject.is_empty() || audience.is_empty() {
            return Err(refuse("subject and audience must be non-empty; take them from the policy".into()));
        }
        if !(1..=MAX_TTL_S).contains(&ttl_s) {
            return Err(refuse(format!(
                "a lifetime of {ttl_s} s is outside 1..={MAX_TTL_S} s; tokens are short-lived"
            )));
        }
        if let Some(clash) = REGISTERED_CLAIMS.iter().find(|claim| extra.contains_key(**claim)) {
            return Err(refuse(format!("extra claim {clash:?} would override a registered claim; rename it")));
        }
        let mut jti = [0u8; 16];
        SystemRandom::new().fill(&mut jti).map_err(|_| AttestError::Crypto { what: "jti generation" })?;
        let mut claims = extra.clone();
        for (name, value) in [
            ("iss", json!(self.issuer_url)),
            ("sub", json!(subject)),
            ("aud", json!(audience)),
            ("iat", json!(now_s)),
            ("nbf", json!(now_s)),
            ("exp", json!(now_s.saturating_add(ttl_s))),
            ("jti", json!(hex::encode(jti))),
        ] {
            claims.insert(name.to_owned(), value);
        }
        let header = json!({ "alg": ALG, "typ": "JWT", "kid": self.key.kid });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(Value::Object(claims).to_string())
        );
        let signature = self
            .key
            .key_pair
            .sign(&SystemRandom::new(), signing_input.as_bytes())
            .map_err(|_| AttestError::Crypto { what: "ES256 signing" })?;
        Ok(format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature.as_ref())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issuer() -> Issuer {
        Issuer::new("https://rooms.example/room-1/", IssuerKey::generate().unwrap()).unwrap()
    }

    #[test]
    fn discovery_and_jwks_advertise_es256_and_the_kid() {
        let issuer = issuer();
        let discovery = issuer.discovery_document();
        assert_eq!(discovery["issuer"], "https://rooms.example/room-1");
        assert_eq!(discovery["jwks_uri"], "https://rooms.example/room-1/.well-known/jwks.json");
        assert_eq!(discovery["id_token_signing_alg_values_supported"], json!(["ES256"]));
        let jwks = issuer.jwks();
        assert_eq!(jwks["keys"][0]["alg"], "ES256");
        assert_eq!(jwks["keys"][0]["kid"], issuer.kid());
        assert!(jwks["keys"][0].get("d").is_none());
    }

    #[test]
    fn pkcs8_round_trip_keeps_the_kid() {
        let key = IssuerKey::generate().unwrap();
        let again = IssuerKey::from_pkcs8(key.pkcs8()).unwrap();
        assert_eq!(again.kid(), key.kid());
        assert!(matches!(IssuerKey::from_pkcs8(b"nope"), Err(AttestError::InvalidKey { .. })));
        assert!(!format!("{key:?}").contains("pkcs8"));
    }

    #[test]
    fn thumbprint_matches_rfc7638_shape() {
        // 43 characters of base64url: 32 bytes of SHA-256.
        assert_eq!(IssuerKey::generate().unwrap().kid().len(), 43);
    }

    #[test]
    fn mint_refuses_bad_requests() {
        let issuer = issuer();
        let none = Map::new();
        assert!(issuer.mint("", "aud", 0, 60, &none).is_err());
        assert!(issuer.mint("sub", "aud", 0, 0, &none).is_err());
        assert!(issuer.mint("sub", "aud", 0, MAX_TTL_S + 1, &none).is_err());
        let mut clash = Map::new();
        clash.insert("sub".into(), json!("someone else"));
        assert!(matches!(issuer.mint("sub", "aud", 0, 60, &clash), Err(AttestError::Issuer { .. })));
        assert!(Issuer::new("http://insecure", IssuerKey::generate().unwrap()).is_err());
    }
}
