//! The issuer's tokens checked as ID tokens by the `openidconnect` crate's verifier,
//! configured from the discovery document (issuer, allowed algorithms) and the JWKS.
//! Its clock is set to the token's time (`set_time_fn`): no system clock involved.

use std::str::FromStr;

use chrono::{DateTime, Utc};
use consort_attest::{Issuer, IssuerKey};
use openidconnect::core::{CoreIdToken, CoreIdTokenVerifier, CoreJsonWebKeySet, CoreJwsSigningAlgorithm};
use openidconnect::{ClaimsVerificationError, ClientId, IssuerUrl, Nonce};
use serde_json::{Map, Value, json};

const ISSUER: &str = "https://consort.example/rooms/alpha";
const SUBJECT: &str = "run:42/runner";
const AUDIENCE: &str = "api://storage-account";
const NOW: i64 = 1_800_000_000;

fn at(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(seconds, 0).unwrap()
}

/// A verifier built only from what the issuer publishes, as a relying party would.
fn verifier(issuer: &Issuer, audience: &str, now_s: i64) -> CoreIdTokenVerifier<'static> {
    let discovery: Value = serde_json::from_str(&issuer.discovery_document().to_string()).unwrap();
    let jwks: CoreJsonWebKeySet = serde_json::from_str(&issuer.jwks().to_string()).unwrap();
    let algs: Vec<CoreJwsSigningAlgorithm> =
        serde_json::from_value(discovery["id_token_signing_alg_values_supported"].clone()).unwrap();
    let issuer_url = IssuerUrl::new(discovery["issuer"].as_str().unwrap().to_owned()).unwrap();
    CoreIdTokenVerifier::new_public_client(ClientId::new(audience.to_owned()), issuer_url, jwks)
        .set_allowed_algs(algs)
        .set_time_fn(move || at(now_s))
}

fn no_nonce(_: Option<&Nonce>) -> Result<(), String> {
    Ok(())
}

fn mint(issuer: &Issuer, subject: &str, now_s: i64, ttl_s: i64) -> CoreIdToken {
    let mut extra = Map::new();
    extra.insert("clean_room".into(), json!("alpha"));
    CoreIdToken::from_str(&issuer.mint(subject, AUDIENCE, now_s, ttl_s, &extra).unwrap()).unwrap()
}

fn issuer() -> Issuer {
    Issuer::new(ISSUER, IssuerKey::generate().unwrap()).unwrap()
}

#[test]
fn minted_token_is_a_valid_id_token() {
    let issuer = issuer();
    let token = mint(&issuer, SUBJECT, NOW, 300);
    let claims = token.claims(&verifier(&issuer, AUDIENCE, NOW + 10), no_nonce).unwrap();
    assert_eq!(claims.issuer().as_str(), ISSUER);
    assert_eq!(claims.subject().as_str(), SUBJECT);
    assert_eq!(claims.audiences().iter().map(|aud| aud.as_str()).collect::<Vec<_>>(), [AUDIENCE]);
    assert_eq!(claims.expiration(), at(NOW + 300));
    assert_eq!(token.signing_alg().unwrap(), &CoreJwsSigningAlgorithm::EcdsaP256Sha256);
}

#[test]
fn wrong_audience_is_refused() {
    let issuer = issuer();
    let token = mint(&issuer, SUBJECT, NOW, 300);
    let result = token.claims(&verifier(&issuer, "api://another", NOW), no_nonce);
    assert!(matches!(result, Err(ClaimsVerificationError::InvalidAudience(_))), "{result:?}");
}

#[test]
fn expired_token_is_refused() {
    let issuer = issuer();
    let token = mint(&issuer, SUBJECT, NOW, 60);
    let result = token.claims(&verifier(&issuer, AUDIENCE, NOW + 61), no_nonce);
    assert!(matches!(result, Err(ClaimsVerificationError::Expired(_))), "{result:?}");
}

#[test]
fn wrong_subject_is_detectable() {
    let issuer = issuer();
    let token = mint(&issuer, "run:43/runner", NOW, 60);
    let claims = token.claims(&verifier(&issuer, AUDIENCE, NOW), no_nonce).unwrap();
    assert_ne!(claims.subject().as_str(), SUBJECT);
}

#[test]
fn another_key_or_another_issuer_is_refused() {
    let issuer = issuer();
    let impostor = Issuer::new(ISSUER, IssuerKey::generate().unwrap()).unwrap();
    let forged = mint(&impostor, SUBJECT, NOW, 60);
    let result = forged.claims(&verifier(&issuer, AUDIENCE, NOW), no_nonce);
    assert!(matches!(result, Err(ClaimsVerificationError::SignatureVerification(_))), "{result:?}");

    let elsewhere = Issuer::new("https://consort.example/rooms/beta", IssuerKey::generate().unwrap()).unwrap();
    let token = mint(&elsewhere, SUBJECT, NOW, 60);
    assert!(token.claims(&verifier(&elsewhere, AUDIENCE, NOW), no_nonce).is_ok());
    assert!(token.claims(&verifier(&issuer, AUDIENCE, NOW), no_nonce).is_err());
}

#[test]
fn the_default_rs256_only_verifier_refuses_so_the_discovery_algs_matter() {
    // openidconnect allows only RS256 unless told otherwise: the discovery document's
    // algorithm list is what makes the ES256 tokens acceptable.
    let issuer = issuer();
    let token = mint(&issuer, SUBJECT, NOW, 60);
    let jwks: CoreJsonWebKeySet = serde_json::from_str(&issuer.jwks().to_string()).unwrap();
    let default = CoreIdTokenVerifier::new_public_client(
        ClientId::new(AUDIENCE.into()),
        IssuerUrl::new(ISSUER.into()).unwrap(),
        jwks,
    )
    .set_time_fn(|| at(NOW));
    assert!(matches!(token.claims(&default, no_nonce), Err(ClaimsVerificationError::SignatureVerification(_))));
}
