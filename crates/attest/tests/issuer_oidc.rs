//! The issuer's tokens checked by an independent JWT/JWK library (`jsonwebtoken`,
//! RustCrypto backend) fed only the discovery document and the JWKS, as a relying
//! party would be.

use std::time::{SystemTime, UNIX_EPOCH};

use consort_attest::{Issuer, IssuerKey};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{JwkSet, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use serde_json::{Map, Value, json};

const ISSUER: &str = "https://consort.example/rooms/alpha";
const SUBJECT: &str = "run:42/runner";
const AUDIENCE: &str = "api://storage-account";

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

/// A relying party's view: the key chosen by the token's kid from the JWKS, and a
/// validation built from the discovery document.
struct RelyingParty {
    jwks: JwkSet,
    discovery: Value,
}

impl RelyingParty {
    fn of(issuer: &Issuer) -> Self {
        // Through JSON text, as it would come over HTTP.
        let jwks = serde_json::from_str(&issuer.jwks().to_string()).unwrap();
        Self { jwks, discovery: issuer.discovery_document() }
    }

    fn validation(&self, audience: &str) -> Validation {
        let alg = self.discovery["id_token_signing_alg_values_supported"][0].as_str().unwrap();
        let mut validation = Validation::new(alg.parse::<Algorithm>().unwrap());
        validation.set_issuer(&[self.discovery["issuer"].as_str().unwrap()]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = 0;
        validation
    }

    fn verify(&self, token: &str, validation: &Validation) -> Result<Map<String, Value>, ErrorKind> {
        let header = decode_header(token).map_err(|error| error.into_kind())?;
        let jwk = self.jwks.find(header.kid.as_deref().unwrap()).expect("kid in the JWKS");
        let key = DecodingKey::from_jwk(jwk).map_err(|error| error.into_kind())?;
        decode::<Map<String, Value>>(token, &key, validation).map(|data| data.claims).map_err(|error| error.into_kind())
    }
}

fn issuer() -> Issuer {
    Issuer::new(ISSUER, IssuerKey::generate().unwrap()).unwrap()
}

#[test]
fn minted_token_verifies_with_the_published_keys() {
    let issuer = issuer();
    let mut extra = Map::new();
    extra.insert("clean_room".into(), json!("alpha"));
    let token = issuer.mint(SUBJECT, AUDIENCE, now(), 300, &extra).unwrap();
    let party = RelyingParty::of(&issuer);
    let claims = party.verify(&token, &party.validation(AUDIENCE)).unwrap();
    assert_eq!(claims["iss"], ISSUER);
    assert_eq!(claims["sub"], SUBJECT);
    assert_eq!(claims["aud"], AUDIENCE);
    assert_eq!(claims["clean_room"], "alpha");
    assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), 300);
    assert_eq!(claims["jti"].as_str().unwrap().len(), 32);
}

#[test]
fn jwks_alg_is_the_token_header_alg() {
    let issuer = issuer();
    let token = issuer.mint(SUBJECT, AUDIENCE, now(), 60, &Map::new()).unwrap();
    let header = decode_header(&token).unwrap();
    let party = RelyingParty::of(&issuer);
    let jwk = party.jwks.find(issuer.kid()).unwrap();
    assert_eq!(header.alg, Algorithm::ES256);
    assert_eq!(jwk.common.key_algorithm, Some(KeyAlgorithm::ES256));
    assert_eq!(party.discovery["id_token_signing_alg_values_supported"], json!(["ES256"]));
    assert_eq!(header.kid.as_deref(), Some(issuer.kid()));
}

#[test]
fn wrong_audience_is_refused() {
    let issuer = issuer();
    let token = issuer.mint(SUBJECT, AUDIENCE, now(), 60, &Map::new()).unwrap();
    let party = RelyingParty::of(&issuer);
    assert_eq!(party.verify(&token, &party.validation("api://another")), Err(ErrorKind::InvalidAudience));
}

#[test]
fn wrong_subject_is_detected() {
    let issuer = issuer();
    let token = issuer.mint("run:43/runner", AUDIENCE, now(), 60, &Map::new()).unwrap();
    let party = RelyingParty::of(&issuer);
    let mut validation = party.validation(AUDIENCE);
    validation.sub = Some(SUBJECT.into());
    assert_eq!(party.verify(&token, &validation), Err(ErrorKind::InvalidSubject));
}

#[test]
fn expired_and_not_yet_valid_tokens_are_refused() {
    let issuer = issuer();
    let party = RelyingParty::of(&issuer);
    let expired = issuer.mint(SUBJECT, AUDIENCE, now() - 7200, 60, &Map::new()).unwrap();
    assert_eq!(party.verify(&expired, &party.validation(AUDIENCE)), Err(ErrorKind::ExpiredSignature));
    let future = issuer.mint(SUBJECT, AUDIENCE, now() + 600, 60, &Map::new()).unwrap();
    assert_eq!(party.verify(&future, &party.validation(AUDIENCE)), Err(ErrorKind::ImmatureSignature));
}

#[test]
fn another_issuers_key_or_altered_token_is_refused() {
    let issuer = issuer();
    let token = issuer.mint(SUBJECT, AUDIENCE, now(), 60, &Map::new()).unwrap();
    // A second issuer at the same URL with another key: the first's JWKS does not vouch for it.
    let impostor = Issuer::new(ISSUER, IssuerKey::generate().unwrap()).unwrap();
    let forged = impostor.mint(SUBJECT, AUDIENCE, now(), 60, &Map::new()).unwrap();
    let mut party = RelyingParty::of(&issuer);
    party.jwks.keys[0].common.key_id = impostor.jwks()["keys"][0]["kid"].as_str().map(String::from);
    assert_eq!(party.verify(&forged, &party.validation(AUDIENCE)), Err(ErrorKind::InvalidSignature));

    let party = RelyingParty::of(&issuer);
    let mut parts: Vec<String> = token.split('.').map(String::from).collect();
    parts[1] = parts[1].replacen('e', "f", 1);
    let altered = parts.join(".");
    assert!(party.verify(&altered, &party.validation(AUDIENCE)).is_err());
}

#[test]
fn stored_key_signs_tokens_the_old_jwks_accepts() {
    let key = IssuerKey::generate().unwrap();
    let stored = key.pkcs8().to_vec();
    let before = Issuer::new(ISSUER, key).unwrap();
    let after = Issuer::new(ISSUER, IssuerKey::from_pkcs8(&stored).unwrap()).unwrap();
    let token = after.mint(SUBJECT, AUDIENCE, now(), 60, &Map::new()).unwrap();
    let party = RelyingParty::of(&before);
    assert!(party.verify(&token, &party.validation(AUDIENCE)).is_ok());
}
