//! Secrets and tokens for attested runners (`/v1/cleanrooms/{cleanroom}/...`):
//!
//! - `PUT …/secrets/{name}`: a party puts a secret (a user with JSON, a member with a signed
//!   `secret` request); it is sealed at rest and never answered back;
//! - `POST …/grants/secrets`: the secret's owner grants it to one run under an attestation
//!   policy and the consent it depends on (user JSON, or a member's signed `grant`);
//! - `POST …/grants/tokens`: a member grants a run tokens of the clean room's issuer for one
//!   subject and audience (signed `token-grant`);
//! - `POST …/secrets/{name}/release`: an attested runner gets the secret, encrypted (HPKE) to
//!   the one-off key its evidence binds;
//! - `POST …/oidc/token`: an attested runner gets a short-lived token of the clean room's
//!   issuer;
//! - `GET …/oidc/.well-known/openid-configuration` and `…/oidc/.well-known/jwks.json`: the
//!   issuer's discovery document and keys, public (relying parties fetch them without
//!   credentials; they hold no secret).
//!
//! Runners call with a `cleanroom` token; what lets them have a secret is the evidence, the
//! run's grant and live consent, each refusal in the ledger.

use axum::Json;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use consort_attest::Policy;
use consort_auth::Principal;
use consort_governance::secrets::{Attested, SecretGrant, TokenGrant};
use consort_governance::{Caller, ConsentSubject, GovError};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::cleanroom_api::{CoseBody, Names, RoomPath, area, caller_and_body, gov_error, member_request, now_ms};
use crate::error::{ApiError, ApiJson, ApiPath, ErrorBody};

/// The issuer routes anyone may read.
pub const PUBLIC_ISSUER_ROUTES: &[&str] = &[
    "/v1/cleanrooms/{cleanroom}/oidc/.well-known/openid-configuration",
    "/v1/cleanrooms/{cleanroom}/oidc/.well-known/jwks.json",
];

/// A secret's value.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SecretValue {
    /// The value, standard base64 (1 byte to 64 KiB decoded).
    value: String,
}

/// What consent a release depends on.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ConsentRef {
    /// `contract` or `document`.
    kind: String,
    /// Its id.
    id: String,
}

/// Grants a secret to a run.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SecretGrantBody {
    /// The run.
    run_id: String,
    /// The secret.
    secret: String,
    /// Who may receive it.
    policy: Policy,
    /// Whose execution consent must be on at every release.
    #[serde(default)]
    consent: Vec<ConsentRef>,
}

/// Grants a run tokens of the clean room's issuer.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TokenGrantBody {
    /// The run.
    run_id: String,
    /// The tokens' only subject.
    subject: String,
    /// The tokens' only audience.
    audience: String,
    /// Who may receive them.
    policy: Policy,
    /// Whose execution consent must be on at every issue.
    #[serde(default)]
    consent: Vec<ConsentRef>,
}

/// A grant as recorded.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct GrantView {
    /// The run.
    run_id: String,
    /// The secret (secret grants).
    secret: Option<String>,
    /// The subject (token grants).
    subject: Option<String>,
    /// The audience (token grants).
    audience: Option<String>,
    /// Who granted it (`member:ID`, `user:ID`).
    granted_by: String,
}

/// What an attested runner sends.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AttestedRequest {
    /// The run it serves.
    run_id: String,
    /// Its attestation evidence, standard base64 (a simulated report, or SEV-SNP evidence JSON).
    #[serde(default)]
    evidence: String,
    /// Its one-off X25519 public key, standard base64; the evidence's `report_data` binds it.
    public_key: String,
    /// The subject it asks a token for; refused unless it is the grant's (tokens only).
    #[serde(default)]
    subject: Option<String>,
}

/// A secret encrypted to the runner's one-off key (HPKE base mode, X25519, HKDF-SHA256,
/// AES-256-GCM; `info` in docs/attestation.md).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct WrappedSecret {
    /// The encapsulated key, base64.
    enc: String,
    /// The ciphertext, base64.
    ciphertext: String,
}

/// A token of the clean room's issuer.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct IssuedToken {
    /// The JWT (ES256).
    token: String,
    /// Its lifetime, seconds.
    expires_in: i64,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct SecretPath {
    /// The clean room.
    cleanroom: String,
    /// The secret's name.
    name: String,
}

fn consent(refs: Vec<ConsentRef>) -> Result<Vec<ConsentSubject>, ApiError> {
    refs.into_iter()
        .enumerate()
        .map(|(i, r)| match r.kind.as_str() {
            "contract" => Ok(ConsentSubject::Contract(r.id)),
            "document" => Ok(ConsentSubject::Document(r.id)),
            other => Err(ApiError::bad_request(
                "invalid_request",
                format!("consent[{i}].kind"),
                format!("{other:?} is not a consent subject: use `contract` or `document`"),
            )),
        })
        .collect()
}

fn b64(field: &'static str, text: &str) -> Result<Vec<u8>, ApiError> {
    STANDARD
        .decode(text.trim())
        .map_err(|_| ApiError::bad_request("invalid_request", field, format!("`{field}` is not standard base64")))
}

/// Put a secret (sealed at rest; never answered back). Users send JSON; members a signed
/// `secret` request.
#[utoipa::path(
    put,
    path = "/v1/cleanrooms/{cleanroom}/secrets/{name}",
    operation_id = "putSecret",
    tag = "cleanrooms",
    params(SecretPath),
    request_body = SecretValue,
    responses(
        (status = 204, description = "Sealed and stored."),
        (status = 400, description = "Not base64, or too large.", body = ErrorBody),
        (status = 403, description = "Not a party, or another party's secret.", body = ErrorBody),
        (status = 404, description = "No such clean room (or a thing it names).", body = ErrorBody),
    )
)]
pub(crate) async fn put_secret(
    State(s): State<AppState>,
    principal: Option<axum::Extension<Principal>>,
    ApiPath(p): ApiPath<SecretPath>,
    request: Request,
) -> Result<StatusCode, ApiError> {
    let named = format!("secrets/{}", p.name);
    let (caller, body): (Caller, SecretValue) =
        caller_and_body(&s, &p.cleanroom, "secret", Names::Subject(&named), &principal, request).await?;
    let value = zeroize::Zeroizing::new(b64("value", &body.value)?);
    area(&s)?.governance.put_secret(&p.cleanroom, &caller, &p.name, &value, now_ms(&s)).await.map_err(gov_error)?;
    Ok(StatusCode::NO_CONTENT)
}

/// Grant a secret to one run (its owner).
#[utoipa::path(
    post,
    path = "/v1/cleanrooms/{cleanroom}/grants/secrets",
    operation_id = "grantSecret",
    tag = "cleanrooms",
    params(RoomPath),
    request_body = SecretGrantBody,
    responses(
        (status = 201, description = "Granted.", body = GrantView),
        (status = 400, description = "A bad policy.", body = ErrorBody),
        (status = 403, description = "Not the secret's owner.", body = ErrorBody),
        (status = 404, description = "No such secret.", body = ErrorBody),
    )
)]
pub(crate) async fn grant_secret(
    State(s): State<AppState>,
    principal: Option<axum::Extension<Principal>>,
    ApiPath(p): ApiPath<RoomPath>,
    request: Request,
) -> Result<(StatusCode, Json<GrantView>), ApiError> {
    let (caller, body): (Caller, SecretGrantBody) =
        caller_and_body(&s, &p.cleanroom, "grant", Names::Nothing, &principal, request).await?;
    let grant = SecretGrant {
        run_id: body.run_id,
        secret: body.secret,
        policy: body.policy,
        consent: consent(body.consent)?,
        granted_by: String::new(),
    };
    let grant = area(&s)?.governance.grant_secret(&p.cleanroom, &caller, grant, now_ms(&s)).await.map_err(gov_error)?;
    let view = GrantView {
        run_id: grant.run_id,
        secret: Some(grant.secret),
        subject: None,
        audience: None,
        granted_by: grant.granted_by,
    };
    Ok((StatusCode::CREATED, Json(view)))
}

/// Grant a run tokens of the clean room's issuer (a member's signed `token-grant` request).
#[utoipa::path(
    post,
    path = "/v1/cleanrooms/{cleanroom}/grants/tokens",
    operation_id = "grantTokens",
    tag = "cleanrooms",
    params(RoomPath),
    request_body(content = Vec<u8>, content_type = "application/cose",
        description = "A COSE_Sign1 `token-grant` request whose payload is a TokenGrantBody."),
    responses(
        (status = 201, description = "Granted.", body = GrantView),
        (status = 400, description = "A bad policy.", body = ErrorBody),
        (status = 403, description = "Not a member, or a bad signature.", body = ErrorBody),
        (status = 404, description = "No such clean room (or a thing it names).", body = ErrorBody),
    )
)]
pub(crate) async fn grant_tokens(
    State(s): State<AppState>,
    ApiPath(p): ApiPath<RoomPath>,
    body: CoseBody,
) -> Result<(StatusCode, Json<GrantView>), ApiError> {
    let (member, bytes) = member_request(&s, &p.cleanroom, "token-grant", Names::Nothing, &body).await?;
    let body: TokenGrantBody = crate::error::parse_json(&bytes)?;
    let grant = TokenGrant {
        run_id: body.run_id,
        subject: body.subject,
        audience: body.audience,
        policy: body.policy,
        consent: consent(body.consent)?,
        granted_by: String::new(),
    };
    let area = area(&s)?;
    let grant = area
        .governance
        .grant_tokens(&p.cleanroom, &Caller::Member(member), grant, now_ms(&s))
        .await
        .map_err(gov_error)?;
    // The issuer's key is made with the first grant, so the public discovery never writes.
    if let Some(url) = area.issuer_url(&p.cleanroom) {
        area.governance.issuer(&p.cleanroom, &url, now_ms(&s)).await.map_err(gov_error)?;
    }
    let view = GrantView {
        run_id: grant.run_id,
        secret: None,
        subject: Some(grant.subject),
        audience: Some(grant.audience),
        granted_by: grant.granted_by,
    };
    Ok((StatusCode::CREATED, Json(view)))
}

fn verifier(s: &AppState) -> Result<std::sync::Arc<dyn consort_attest::AttestationVerifier>, ApiError> {
    area(s)?.verifier.clone().ok_or_else(|| {
        gov_error(GovError::Attestation {
            code: "attestation_invalid",
            message: "this server accepts no attestation evidence: configure cleanroom.sev_snp or \
                      cleanroom.simulated_attestation_key"
                .into(),
        })
    })
}

/// An attested runner gets a secret granted to its run, encrypted to its one-off key.
#[utoipa::path(
    post,
    path = "/v1/cleanrooms/{cleanroom}/secrets/{name}/release",
    operation_id = "releaseSecret",
    tag = "cleanrooms",
    params(SecretPath),
    request_body = AttestedRequest,
    responses(
        (status = 400, description = "A malformed path parameter or body.", body = ErrorBody),
        (status = 200, description = "The secret, encrypted to the one-off key.", body = WrappedSecret),
        (status = 403, description = "No or bad evidence, a measurement the policy does not allow, report_data \
            that does not bind the key, another run, or consent withdrawn.", body = ErrorBody),
        (status = 404, description = "No such clean room (or a thing it names).", body = ErrorBody),
    )
)]
pub(crate) async fn release_secret(
    State(s): State<AppState>,
    ApiPath(p): ApiPath<SecretPath>,
    ApiJson(body): ApiJson<AttestedRequest>,
) -> Result<Json<WrappedSecret>, ApiError> {
    let evidence = b64("evidence", &body.evidence)?;
    let public_key = b64("public_key", &body.public_key)?;
    let verifier = verifier(&s)?;
    let request = Attested { run_id: &body.run_id, evidence: &evidence, one_off_public_key: &public_key };
    let answer = area(&s)?
        .governance
        .release_secret(&p.cleanroom, &p.name, request, verifier.as_ref(), now_ms(&s))
        .await
        .map_err(gov_error)?;
    Ok(Json(WrappedSecret { enc: STANDARD.encode(&answer.enc), ciphertext: STANDARD.encode(&answer.ciphertext) }))
}

/// An attested runner gets a short-lived token of the clean room's issuer; subject and audience
/// come from its run's grant.
#[utoipa::path(
    post,
    path = "/v1/cleanrooms/{cleanroom}/oidc/token",
    operation_id = "issueToken",
    tag = "cleanrooms",
    params(RoomPath),
    request_body = AttestedRequest,
    responses(
        (status = 400, description = "A malformed path parameter or body.", body = ErrorBody),
        (status = 200, description = "The token.", body = IssuedToken),
        (status = 403, description = "No or bad evidence, another run, another subject, or consent withdrawn.",
            body = ErrorBody),
        (status = 404, description = "This server has no issuer URL configured.", body = ErrorBody),
    )
)]
pub(crate) async fn issue_token(
    State(s): State<AppState>,
    ApiPath(p): ApiPath<RoomPath>,
    ApiJson(body): ApiJson<AttestedRequest>,
) -> Result<Json<IssuedToken>, ApiError> {
    let area = area(&s)?;
    let url = area.issuer_url(&p.cleanroom).ok_or_else(no_issuer)?;
    let evidence = b64("evidence", &body.evidence)?;
    let public_key = b64("public_key", &body.public_key)?;
    let verifier = verifier(&s)?;
    let request = Attested { run_id: &body.run_id, evidence: &evidence, one_off_public_key: &public_key };
    let token = area
        .governance
        .issue_token(&p.cleanroom, &url, body.subject.as_deref(), request, verifier.as_ref(), now_ms(&s))
        .await
        .map_err(gov_error)?;
    Ok(Json(IssuedToken { token, expires_in: consort_governance::secrets::TOKEN_TTL_S }))
}

fn no_issuer() -> ApiError {
    ApiError::NotFound {
        message: "this server issues no tokens: set cleanroom.issuer_base_url to its public https URL".into(),
    }
}

async fn issuer(s: &AppState, cleanroom: &str) -> Result<consort_attest::Issuer, ApiError> {
    let area = area(s)?;
    let url = area.issuer_url(cleanroom).ok_or_else(no_issuer)?;
    match area.governance.existing_issuer(cleanroom, &url).await.map_err(gov_error)? {
        Some(issuer) => Ok(issuer),
        None => Err(ApiError::NotFound {
            message: format!("clean room {cleanroom:?} has no issuer key yet: it is made with the first token grant"),
        }),
    }
}

/// The clean room's OpenID Provider metadata (public).
#[utoipa::path(
    get,
    path = "/v1/cleanrooms/{cleanroom}/oidc/.well-known/openid-configuration",
    operation_id = "oidcDiscovery",
    tag = "cleanrooms",
    params(RoomPath),
    responses(
        (status = 400, description = "A malformed path parameter or body.", body = ErrorBody),
        (status = 200, description = "The discovery document.", body = Object),
        (status = 404, description = "No such clean room, no issuer URL, or no key yet.", body = ErrorBody),
    )
)]
pub(crate) async fn discovery(
    State(s): State<AppState>,
    ApiPath(p): ApiPath<RoomPath>,
) -> Result<Json<serde_json::Value>, ApiError> {
    Ok(Json(issuer(&s, &p.cleanroom).await?.discovery_document()))
}

/// The clean room's issuer keys (public).
#[utoipa::path(
    get,
    path = "/v1/cleanrooms/{cleanroom}/oidc/.well-known/jwks.json",
    operation_id = "oidcJwks",
    tag = "cleanrooms",
    params(RoomPath),
    responses(
        (status = 400, description = "A malformed path parameter or body.", body = ErrorBody),
        (status = 200, description = "The JWKS.", body = Object),
        (status = 404, description = "No such clean room, no issuer URL, or no key yet.", body = ErrorBody),
    )
)]
pub(crate) async fn jwks(
    State(s): State<AppState>,
    ApiPath(p): ApiPath<RoomPath>,
) -> Result<Json<serde_json::Value>, ApiError> {
    Ok(Json(issuer(&s, &p.cleanroom).await?.jwks()))
}
