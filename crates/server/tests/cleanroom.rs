//! Clean-room governance through the router, with the security layer on and the real SQL
//! store (SQLite in memory): three parties from creation to an accepted query and live
//! consent, and the negative matrix — each refusal answered with a clear error and recorded in
//! the clean room's ledger.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use consort_attest::{
    OneOffKeyPair, SealingKey, SimulatedReport, SimulatedTee, SimulatedVerifier, StaticKeyProvider, WrappedAnswer,
    release_info, report_data_for, unwrap_with,
};
use consort_auth::{AuthStore, NewToken, Role, RoleSet, token};
use consort_governance::model::Revocation;
use consort_governance::runs::{CleanRoomRun, LocationProbe, RunExecutor, RunnerIdentity};
use consort_governance::{GovError, Governance, MemberRequest};
use consort_ledger::{DerivedServiceKeys, Entry, LedgerConfig, LedgerStore, PublicKey, Receipt, verify_export_bytes};
use consort_scheduler::{Kinds, Scheduler, SchedulerConfig};
use consort_server::auth::{AuthSettings, Guard};
use consort_server::{AppState, CleanRoomArea, router};
use consort_signing::{KeyAlgorithm, MemberKeyPair, RequestHeader, sign_request};
use http_body_util::BodyExt;
use jiff::Timestamp;
use serde_json::{Value, json};
use tower::ServiceExt;

const NOW: &str = "2026-01-01T00:00:00Z";
/// The measurement of the runner the recording executor says this server ships.
const PREPARED_RUNNER: &str = "1111111111111111111111111111111111111111111111111111111111111111";

/// The server's run executor with Spark left out: it records what it is asked to submit and
/// kill, and checks locations with the real storage probe. The Spark side of runs is tested
/// end to end with the governed runner in crates/consort/tests.
#[derive(Debug, Default)]
struct RecordingExecutor {
    /// The measurement it reports (a changed runner is a new one).
    measurement: std::sync::Mutex<Option<String>>,
    submitted: std::sync::Mutex<Vec<String>>,
    killed: std::sync::Mutex<Vec<String>>,
}

#[async_trait::async_trait]
impl RunExecutor for RecordingExecutor {
    fn runner(&self, backend: Option<&str>) -> Result<RunnerIdentity, String> {
        match backend.unwrap_or("local") {
            "local" => Ok(RunnerIdentity {
                measurement: self.measurement.lock().unwrap().clone().unwrap_or_else(|| PREPARED_RUNNER.to_string()),
                backend: "local".into(),
                platform: None,
            }),
            other => Err(format!("backend: {other:?} is not configured here; use one of local")),
        }
    }
    fn probe(&self) -> &dyn LocationProbe {
        &consort_runtime::cleanroom::StorageProbe
    }
    async fn submit(&self, _cleanroom: &str, run: &CleanRoomRun) -> Result<(), String> {
        let mut submitted = self.submitted.lock().unwrap();
        if !submitted.contains(&run.id) {
            submitted.push(run.id.clone());
        }
        Ok(())
    }
    async fn kill(&self, run: &CleanRoomRun) -> Result<(), String> {
        self.killed.lock().unwrap().push(run.id.clone());
        Ok(())
    }
}
const ROOM: &str = "analytics";

fn now_s() -> i64 {
    NOW.parse::<Timestamp>().unwrap().as_second()
}

struct Party {
    id: &'static str,
    key: MemberKeyPair,
    /// The party's API token (role `cleanroom`), named like its member and user id.
    token: String,
}

struct App {
    router: axum::Router,
    /// The same governance the router uses (runs' job configs, as their runners get them).
    governance: Governance,
    /// Where runs go instead of Spark: the server's executor interface, recorded.
    runs: Arc<RecordingExecutor>,
    ledger: Arc<dyn LedgerStore>,
    admin: String,
    viewer: String,
    /// A clean-room token of nobody in the room.
    outsider: String,
    /// The simulated TEE whose reports the server accepts.
    tee: SimulatedTee,
    alice: Party,
    bob: Party,
    carol: Party,
}

async fn token_for(auth: &Arc<dyn AuthStore>, name: &str, role: Role) -> String {
    let g = token::generate().unwrap();
    let created_ms = NOW.parse::<Timestamp>().unwrap().as_millisecond();
    let new =
        NewToken { id: g.id, hash: g.hash, name: name.into(), roles: RoleSet::of(role), created_ms, expires_ms: None };
    auth.create_token(new).await.unwrap();
    format!("Bearer {}", g.secret)
}

async fn app() -> App {
    let fixed: Timestamp = NOW.parse().unwrap();
    let stores = consort_store::open_all("sqlite::memory:").await.unwrap();
    let scheduler =
        Arc::new(Scheduler::new(stores.scheduler.clone(), Kinds::builtin(), SchedulerConfig::new("test-instance")));
    let guard = Guard::with_clock(AuthSettings::default(), stores.auth.clone(), None, Arc::new(move || fixed));
    let mut state = AppState::new(scheduler, guard);
    state.clock = Arc::new(move || fixed);
    let keys = Arc::new(DerivedServiceKeys::new([7; 32]));
    let sealing = StaticKeyProvider::new(vec![SealingKey::new("test", &[9; 32]).unwrap()]).unwrap();
    let governance = Governance::new(stores.governance.clone(), Arc::new(sealing));
    let mut area = CleanRoomArea::new(governance.clone(), stores.ledger.clone(), keys, LedgerConfig::default());
    let runs = Arc::new(RecordingExecutor::default());
    area.runs = Some(runs.clone());
    let (tee, _) = SimulatedTee::generate().unwrap();
    area.verifier = Some(Arc::new(SimulatedVerifier::new(&tee.public_key()).unwrap()));
    area.issuer_base_url = Some("https://consort.test".into());
    state.cleanrooms = Some(Arc::new(area));
    let party = async |id: &'static str, algorithm| Party {
        id,
        key: MemberKeyPair::generate(algorithm).unwrap(),
        token: token_for(&stores.auth, id, Role::CleanRoom).await,
    };
    let alice = party("alice", KeyAlgorithm::EcdsaP384).await;
    let bob = party("bob", KeyAlgorithm::EcdsaP256).await;
    let carol = party("carol", KeyAlgorithm::Ed25519).await;
    App {
        router: router(state),
        governance,
        runs,
        ledger: stores.ledger.clone(),
        admin: token_for(&stores.auth, "root", Role::Admin).await,
        viewer: token_for(&stores.auth, "viewer", Role::Viewer).await,
        outsider: token_for(&stores.auth, "dave", Role::CleanRoom).await,
        tee,
        alice,
        bob,
        carol,
    }
}

async fn send(
    app: &App,
    method: &str,
    uri: &str,
    auth: Option<&str>,
    body: Body,
    content_type: &str,
) -> (StatusCode, Value) {
    let mut request = Request::builder().method(method).uri(uri).header("content-type", content_type);
    if let Some(a) = auth {
        request = request.header("authorization", a);
    }
    let response = app.router.clone().oneshot(request.body(body).unwrap()).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

async fn json_call(app: &App, method: &str, uri: &str, auth: &str, body: Option<Value>) -> (StatusCode, Value) {
    let body = body.map_or(Body::empty(), |b| Body::from(b.to_string()));
    send(app, method, uri, Some(auth), body, "application/json").await
}

fn signed_at(party: &Party, signer_id: &str, msg_type: &str, created_at: i64, payload: &Value) -> Vec<u8> {
    signed_full(party, signer_id, msg_type, created_at, None, payload)
}

fn signed_full(
    party: &Party,
    signer_id: &str,
    msg_type: &str,
    created_at: i64,
    proposal_id: Option<&str>,
    payload: &Value,
) -> Vec<u8> {
    let header = RequestHeader {
        member_id: signer_id.to_string(),
        msg_type: msg_type.to_string(),
        cleanroom: ROOM.to_string(),
        created_at,
        proposal_id: proposal_id.map(str::to_string),
        subject: None,
    };
    sign_request(&party.key, &header, payload.to_string().as_bytes()).unwrap()
}

fn signed(party: &Party, msg_type: &str, payload: &Value) -> Vec<u8> {
    signed_at(party, party.id, msg_type, now_s(), payload)
}

/// A request whose route names its subject (`contracts/c1`, `consent/contract/c1/execution`).
fn signed_about(party: &Party, msg_type: &str, subject: &str, payload: &Value) -> Vec<u8> {
    let header = RequestHeader {
        member_id: party.id.to_string(),
        msg_type: msg_type.to_string(),
        cleanroom: ROOM.to_string(),
        created_at: now_s(),
        proposal_id: None,
        subject: Some(subject.to_string()),
    };
    sign_request(&party.key, &header, payload.to_string().as_bytes()).unwrap()
}

/// A ballot on proposal `id`.
fn ballot(party: &Party, id: &str, vote: &str) -> Vec<u8> {
    signed_full(party, party.id, "ballot", now_s(), Some(id), &json!({"vote": vote}))
}

async fn cose(app: &App, method: &str, uri: &str, by: &Party, bytes: Vec<u8>) -> (StatusCode, Value) {
    send(app, method, uri, Some(&by.token), Body::from(bytes), "application/cose").await
}

fn path(rest: &str) -> String {
    format!("/v1/cleanrooms/{ROOM}{rest}")
}

async fn ledger(app: &App) -> Vec<Entry> {
    app.ledger.entries(ROOM, 0, 100_000).await.unwrap()
}

/// The last ledger entry is a refusal with `code`.
#[track_caller]
fn refused_in_ledger(entries: &[Entry], code: &str) {
    let last = entries.last().expect("the ledger is empty");
    assert_eq!(last.kind, "refused", "{last:?}");
    let body: Value = serde_json::from_str(&last.body).unwrap();
    assert_eq!(body["code"], code, "{body}");
}

async fn create(app: &App) {
    let payload = json!({
        "name": ROOM, "member_id": "alice", "member_public_key_pem": app.alice.key.public_key().to_pem(),
        "user": {"id": "alice", "principal": "alice"}
    });
    let got = send(
        app,
        "POST",
        "/v1/cleanrooms",
        Some(&app.admin),
        Body::from(signed(&app.alice, "cleanroom.init", &payload)),
        "application/cose",
    )
    .await;
    assert_eq!(got.0, StatusCode::CREATED, "{}", got.1);
}

/// Proposes `actions` as `by` and has every party in `voters` accept; returns the proposal.
async fn pass(app: &App, by: &Party, actions: Value, voters: &[&Party]) -> Value {
    let (status, proposal) =
        cose(app, "POST", &path("/proposals"), by, signed(by, "proposal", &json!({"actions": actions}))).await;
    assert_eq!(status, StatusCode::CREATED, "{proposal}");
    let id = proposal["id"].as_str().unwrap().to_string();
    let mut last = proposal;
    for voter in voters {
        let (status, answer) =
            cose(app, "POST", &path(&format!("/proposals/{id}/ballots")), voter, ballot(voter, &id, "accept")).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        last = answer;
    }
    last
}

/// A clean room with three active members and three users.
async fn three_parties(app: &App) {
    create(app).await;
    let add_bob = json!([{"action": "add_member", "id": "bob", "public_key_pem": app.bob.key.public_key().to_pem()},
                         {"action": "add_user", "id": "bob", "principal": "bob"}]);
    assert_eq!(pass(app, &app.alice, add_bob, &[&app.alice]).await["state"], "Accepted");
    let add_carol = json!([{"action": "add_member", "id": "carol", "public_key_pem": app.carol.key.public_key().to_pem()},
                           {"action": "add_user", "id": "carol", "principal": "carol"}]);
    let half = pass(app, &app.alice, add_carol, &[&app.alice]).await;
    assert_eq!(half["state"], "Open", "bob has not voted yet: {half}");
    let id = half["id"].as_str().unwrap();
    let (_, done) =
        cose(app, "POST", &path(&format!("/proposals/{id}/ballots")), &app.bob, ballot(&app.bob, id, "accept")).await;
    assert_eq!(done["state"], "Accepted", "{done}");
}

async fn accepted_contract(app: &App) {
    let (status, c) = cose(
        app,
        "PUT",
        &path("/contracts/c1"),
        &app.alice,
        signed_about(&app.alice, "contract", "contracts/c1", &json!({"data": {"purpose": "overlap"}})),
    )
    .await;
    assert_eq!((status, c["state"].clone()), (StatusCode::OK, json!("Draft")), "{c}");
    let everyone = [&app.alice, &app.bob, &app.carol];
    let p =
        pass(app, &app.bob, json!([{"action": "set_contract", "contract_id": "c1", "version": 1}]), &everyone).await;
    assert_eq!(p["state"], "Accepted", "{p}");
    let (_, c) = json_call(app, "GET", &path("/contracts/c1"), &app.carol.token, None).await;
    assert_eq!(c["state"], "Accepted", "{c}");
}

fn dataset(columns: &[&str]) -> Value {
    json!({"contract_id": "c1", "body": {"kind": "dataset", "location": "file:///data/x", "format": "csv",
        "schema": columns.iter().map(|c| json!({"name": c, "type": "string"})).collect::<Vec<_>>(),
        "allowed_fields": [columns[0]]}})
}

async fn publish(app: &App, by: &Party, id: &str, draft: Value) -> Value {
    let (status, doc) = json_call(app, "PUT", &path(&format!("/documents/{id}")), &by.token, Some(draft)).await;
    assert_eq!(status, StatusCode::OK, "{doc}");
    let (status, doc) = json_call(app, "POST", &path(&format!("/documents/{id}/propose")), &by.token, None).await;
    assert_eq!(status, StatusCode::OK, "{doc}");
    doc
}

/// Datasets of alice and bob, carol's sink, and alice's query over them, proposed.
async fn query_proposed(app: &App) -> Value {
    three_parties(app).await;
    accepted_contract(app).await;
    assert_eq!(publish(app, &app.alice, "d-alice", dataset(&["email", "x"])).await["state"], "Accepted");
    assert_eq!(publish(app, &app.bob, "d-bob", dataset(&["email", "y"])).await["state"], "Accepted");
    let sink = json!({"contract_id": "c1", "body": {"kind": "sink", "location": "file:///out", "format": "csv", "allowed_fields": ["n"]}});
    assert_eq!(publish(app, &app.carol, "s-carol", sink).await["state"], "Accepted");
    let query = json!({"contract_id": "c1", "body": {"kind": "query",
        "segments": [{"execution_order": 1, "sql": "select count(*) n from a join b using (email)",
                      "post_filters": [{"column": "n", "min": 10.0}]}],
        "inputs": [{"dataset": "d-alice", "view": "a"}, {"dataset": "d-bob", "view": "b"}], "sink": "s-carol"}});
    publish(app, &app.alice, "q1", query).await
}

#[tokio::test]
async fn three_parties_agree_on_a_query_and_consent_is_the_and_over_them() {
    let app = app().await;
    let q = query_proposed(&app).await;
    assert_eq!(q["state"], "Proposed", "{q}");
    assert_eq!(q["approvers"], json!(["alice", "bob", "carol"]), "the sink's owner approves too: {q}");
    for voter in [&app.bob, &app.carol] {
        let (status, doc) =
            json_call(&app, "POST", &path("/documents/q1/ballots"), &voter.token, Some(json!({"vote": "accept"})))
                .await;
        assert_eq!(status, StatusCode::OK, "{doc}");
    }
    let (_, q) = json_call(&app, "GET", &path("/documents/q1"), &app.alice.token, None).await;
    assert_eq!(q["state"], "Accepted", "{q}");

    let (status, c) = json_call(&app, "GET", &path("/consent/document/q1"), &app.bob.token, None).await;
    assert_eq!(status, StatusCode::OK, "{c}");
    let option =
        |v: &Value, name: &str| v["options"].as_array().unwrap().iter().find(|o| o["option"] == name).unwrap().clone();
    assert_eq!(option(&c, "execution")["enabled"], true, "{c}");
    assert_eq!(option(&c, "logging")["enabled"], false, "logging is off until everyone turns it on: {c}");
    // Bob withdraws: execution is off at once, by him alone.
    let (status, c) = json_call(
        &app,
        "PUT",
        &path("/consent/document/q1/execution"),
        &app.bob.token,
        Some(json!({"enabled": false})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{c}");
    assert_eq!(option(&c, "execution")["enabled"], false);
    assert_eq!(option(&c, "execution")["off_by"], json!(["user:bob"]));
    // Logging: on only when all three turned it on.
    for party in [&app.alice, &app.bob] {
        json_call(&app, "PUT", &path("/consent/document/q1/logging"), &party.token, Some(json!({"enabled": true})))
            .await;
    }
    let (_, c) = json_call(&app, "GET", &path("/consent/document/q1"), &app.alice.token, None).await;
    assert_eq!(option(&c, "logging")["off_by"], json!(["user:carol"]));
    // A member's signed consent on the contract.
    let (status, c) = cose(
        &app,
        "PUT",
        &path("/consent/contract/c1/execution"),
        &app.carol,
        signed_about(&app.carol, "consent", "consent/contract/c1/execution", &json!({"enabled": false})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{c}");
    assert_eq!(option(&c, "execution")["off_by"], json!(["member:carol"]));

    // Everything is in the ledger, in order, with contiguous places.
    let entries = ledger(&app).await;
    assert!(entries.iter().enumerate().all(|(i, e)| e.seq == i as u64));
    let kinds: Vec<&str> = entries.iter().map(|e| e.kind.as_str()).collect();
    for kind in [
        "cleanroom.created",
        "proposal.created",
        "ballot",
        "proposal.accepted",
        "contract.draft",
        "document.accepted",
        "consent",
    ] {
        assert!(kinds.contains(&kind), "no {kind} in {kinds:?}");
    }
    assert!(!kinds.contains(&"refused"), "{kinds:?}");

    // The export verifies offline with the clean room's public key; a receipt for the last
    // entry too; an edited export is refused, naming the entry.
    let raw = |uri: String| {
        let app = &app;
        async move {
            let request =
                Request::builder().uri(uri).header("authorization", &app.carol.token).body(Body::empty()).unwrap();
            let response = app.router.clone().oneshot(request).await.unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            response.into_body().collect().await.unwrap().to_bytes().to_vec()
        }
    };
    let key = PublicKey::parse(&String::from_utf8(raw(path("/ledger/public-key")).await).unwrap()).unwrap();
    let export = raw(path("/ledger/export")).await;
    let report = verify_export_bytes(&export, &key).unwrap();
    assert_eq!(report.entries, entries.len() as u64, "{report}");
    let last = entries.len() - 1;
    let receipt = Receipt::parse(&raw(path(&format!("/ledger/receipts/{last}"))).await).unwrap();
    receipt.verify(&key).unwrap();
    assert_eq!(receipt.entry.kind, "consent");
    let text = String::from_utf8(export).unwrap();
    let edited = text.replacen("\\\"enabled\\\":false", "\\\"enabled\\\":true", 1);
    assert_ne!(edited, text, "the export holds the consent entries");
    let tampered = verify_export_bytes(edited.as_bytes(), &key).unwrap_err().to_string();
    assert!(tampered.contains("entry"), "{tampered}");
}

#[tokio::test]
async fn the_refusals_of_the_negative_matrix() {
    let app = app().await;
    three_parties(&app).await;
    let propose = path("/proposals");
    let remove_user = json!({"actions": [{"action": "remove_user", "id": "bob"}]});

    // Unsigned: a JSON body where a signed one is required.
    let got =
        send(&app, "POST", &propose, Some(&app.alice.token), Body::from(remove_user.to_string()), "application/json")
            .await;
    assert_eq!((got.0, got.1["error"]["code"].clone()), (StatusCode::FORBIDDEN, json!("bad_signature")), "{}", got.1);
    refused_in_ledger(&ledger(&app).await, "bad_signature");
    // Not COSE at all, though labelled so.
    let got = cose(&app, "POST", &propose, &app.alice, b"not cose".to_vec()).await;
    assert_eq!(got.0, StatusCode::FORBIDDEN, "{}", got.1);
    refused_in_ledger(&ledger(&app).await, "bad_signature");
    // Wrong key: bob's key, claiming to be alice.
    let forged = signed_at(&app.bob, "alice", "proposal", now_s(), &remove_user);
    let got = cose(&app, "POST", &propose, &app.bob, forged).await;
    assert_eq!(got.1["error"]["code"], "bad_signature", "{}", got.1);
    refused_in_ledger(&ledger(&app).await, "bad_signature");
    // Stale, and from the future.
    for created_at in [now_s() - 3600, now_s() + 3600] {
        let got = cose(
            &app,
            "POST",
            &propose,
            &app.alice,
            signed_at(&app.alice, "alice", "proposal", created_at, &remove_user),
        )
        .await;
        assert_eq!(got.1["error"]["code"], "stale_request", "{}", got.1);
        refused_in_ledger(&ledger(&app).await, "stale_request");
    }
    // Non-member.
    let mallory = Party {
        id: "mallory",
        key: MemberKeyPair::generate(KeyAlgorithm::EcdsaP256).unwrap(),
        token: app.bob.token.clone(),
    };
    let got = cose(&app, "POST", &propose, &mallory, signed(&mallory, "proposal", &remove_user)).await;
    assert_eq!(got.1["error"]["code"], "not_a_member", "{}", got.1);
    refused_in_ledger(&ledger(&app).await, "not_a_member");
    // The wrong message type for the endpoint.
    let got = cose(&app, "POST", &propose, &app.alice, signed(&app.alice, "ballot", &remove_user)).await;
    assert_eq!(got.1["error"]["code"], "bad_signature", "{}", got.1);

    // Replayed: the same signed request twice.
    let once = signed(&app.alice, "proposal", &remove_user);
    let (status, first) = cose(&app, "POST", &propose, &app.alice, once.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    let got = cose(&app, "POST", &propose, &app.alice, once).await;
    assert_eq!(got.1["error"]["code"], "replayed_request", "{}", got.1);
    refused_in_ledger(&ledger(&app).await, "replayed_request");

    // Double vote, then vote after resolution.
    let id = first["id"].as_str().unwrap();
    let ballots = path(&format!("/proposals/{id}/ballots"));
    let accept = json!({"vote": "accept"});
    assert_eq!(cose(&app, "POST", &ballots, &app.alice, ballot(&app.alice, id, "accept")).await.0, StatusCode::OK);
    let again = signed_full(&app.alice, "alice", "ballot", now_s() - 1, Some(id), &accept);
    let got = cose(&app, "POST", &ballots, &app.alice, again).await;
    assert_eq!(
        (got.0, got.1["error"]["message"].as_str().unwrap_or("").contains("already voted")),
        (StatusCode::CONFLICT, true),
        "{}",
        got.1
    );
    refused_in_ledger(&ledger(&app).await, "already_voted");
    let (_, rejected) = cose(&app, "POST", &ballots, &app.bob, ballot(&app.bob, id, "reject")).await;
    assert_eq!(rejected["state"], "Rejected", "one rejection rejects: {rejected}");
    let got = cose(&app, "POST", &ballots, &app.carol, ballot(&app.carol, id, "accept")).await;
    assert_eq!(got.0, StatusCode::CONFLICT, "{}", got.1);
    refused_in_ledger(&ledger(&app).await, "proposal_not_open");
    // A ballot signed for another proposal.
    let elsewhere = signed_full(&app.carol, "carol", "ballot", now_s(), Some("another"), &accept);
    let got = cose(&app, "POST", &ballots, &app.carol, elsewhere).await;
    assert_eq!(got.1["error"]["code"], "bad_signature", "{}", got.1);
    // A consent or a contract draft signed for one subject and sent to another, or naming none:
    // the route's subject is in no signature, so a captured request would otherwise apply to any.
    let consent = signed_about(&app.carol, "consent", "consent/contract/c1/execution", &json!({"enabled": true}));
    let got = cose(&app, "PUT", &path("/consent/contract/c1/logging"), &app.carol, consent).await;
    assert_eq!(got.1["error"]["code"], "bad_signature", "{}", got.1);
    assert!(got.1["error"]["message"].as_str().unwrap().contains("consort.subject"), "{}", got.1);
    refused_in_ledger(&ledger(&app).await, "bad_signature");
    let unnamed = signed(&app.carol, "consent", &json!({"enabled": true}));
    let got = cose(&app, "PUT", &path("/consent/contract/c1/execution"), &app.carol, unnamed).await;
    assert_eq!(got.1["error"]["code"], "bad_signature", "{}", got.1);
    let draft = signed_about(&app.alice, "contract", "contracts/c1", &json!({"data": {"purpose": "moved"}}));
    let got = cose(&app, "PUT", &path("/contracts/c2"), &app.alice, draft).await;
    assert_eq!(got.1["error"]["code"], "bad_signature", "{}", got.1);

    // A removed member can no longer vote or propose.
    let everyone = [&app.alice, &app.bob, &app.carol];
    let removed = pass(&app, &app.alice, json!([{"action": "remove_member", "id": "carol"}]), &everyone).await;
    assert_eq!(removed["state"], "Accepted", "{removed}");
    let got = cose(&app, "POST", &propose, &app.carol, signed(&app.carol, "proposal", &remove_user)).await;
    assert_eq!(got.1["error"]["code"], "member_inactive", "{}", got.1);
    refused_in_ledger(&ledger(&app).await, "member_inactive");
}

#[tokio::test]
async fn accepted_documents_are_immutable_and_approvers_are_never_the_callers() {
    let app = app().await;
    let q = query_proposed(&app).await;
    assert_eq!(q["state"], "Proposed");
    // Approvers supplied by the caller are refused.
    let mut with_approvers = dataset(&["email"]);
    with_approvers["approvers"] = json!(["alice"]);
    let got = json_call(&app, "PUT", &path("/documents/d-new"), &app.alice.token, Some(with_approvers)).await;
    assert_eq!((got.0, got.1["error"]["param"].clone()), (StatusCode::BAD_REQUEST, json!("approvers")), "{}", got.1);
    refused_in_ledger(&ledger(&app).await, "invalid_request");
    // An accepted dataset cannot be edited.
    let mut edit = dataset(&["email", "x"]);
    edit["version"] = json!(1);
    let got = json_call(&app, "PUT", &path("/documents/d-alice"), &app.alice.token, Some(edit)).await;
    assert_eq!(got.0, StatusCode::CONFLICT, "{}", got.1);
    refused_in_ledger(&ledger(&app).await, "immutable");
    // Only its approvers vote on the query; nobody votes twice.
    let got =
        json_call(&app, "POST", &path("/documents/q1/ballots"), &app.alice.token, Some(json!({"vote": "accept"})))
            .await;
    assert_eq!(got.0, StatusCode::CONFLICT, "proposing was alice's acceptance: {}", got.1);
    // A draft's version is checked (optimistic concurrency).
    let draft = json!({"contract_id": "c1", "body": {"kind": "sink", "location": "file:///o2", "format": "json", "allowed_fields": ["n"]}});
    assert_eq!(
        json_call(&app, "PUT", &path("/documents/s2"), &app.bob.token, Some(draft.clone())).await.0,
        StatusCode::OK
    );
    let mut stale = draft.clone();
    stale["version"] = json!(7);
    let got = json_call(&app, "PUT", &path("/documents/s2"), &app.bob.token, Some(stale)).await;
    assert_eq!(got.0, StatusCode::CONFLICT, "{}", got.1);
    assert!(got.1["error"]["message"].as_str().unwrap().contains("version 1"), "{}", got.1);
    // Someone else's draft is not theirs to change.
    let mut theirs = draft;
    theirs["version"] = json!(1);
    let got = json_call(&app, "PUT", &path("/documents/s2"), &app.carol.token, Some(theirs)).await;
    assert_eq!(got.0, StatusCode::FORBIDDEN, "{}", got.1);
}

#[tokio::test]
async fn every_route_needs_a_token_and_a_clean_room_role_and_a_place_in_the_room() {
    let app = app().await;
    three_parties(&app).await;
    // No token.
    let got = send(&app, "GET", &path("/members"), None, Body::empty(), "application/json").await;
    assert_eq!(got.0, StatusCode::UNAUTHORIZED, "{}", got.1);
    // A viewer has no clean-room role.
    let got = json_call(&app, "GET", &path("/members"), &app.viewer, None).await;
    assert_eq!(got.0, StatusCode::FORBIDDEN, "{}", got.1);
    // A clean-room token that is no party to this room.
    let got = json_call(&app, "GET", &path("/members"), &app.outsider, None).await;
    assert_eq!((got.0, got.1["error"]["code"].clone()), (StatusCode::FORBIDDEN, json!("not_a_user")), "{}", got.1);
    let got = json_call(&app, "PUT", &path("/documents/d1"), &app.outsider, Some(dataset(&["x"]))).await;
    assert_eq!(got.1["error"]["code"], "not_a_user", "{}", got.1);
    let (_, list) = json_call(&app, "GET", "/v1/cleanrooms", &app.outsider, None).await;
    assert_eq!(list["items"], json!([]), "{list}");
    // Creating a clean room needs admin even with a valid signature.
    let payload =
        json!({"name": "other", "member_id": "bob", "member_public_key_pem": app.bob.key.public_key().to_pem()});
    let header = RequestHeader {
        member_id: "bob".into(),
        msg_type: "cleanroom.init".into(),
        cleanroom: "other".into(),
        created_at: now_s(),
        proposal_id: None,
        subject: None,
    };
    let bytes = sign_request(&app.bob.key, &header, payload.to_string().as_bytes()).unwrap();
    let got = send(&app, "POST", "/v1/cleanrooms", Some(&app.bob.token), Body::from(bytes), "application/cose").await;
    assert_eq!(got.0, StatusCode::FORBIDDEN, "{}", got.1);
    // Creating one twice is refused.
    let payload =
        json!({"name": ROOM, "member_id": "alice", "member_public_key_pem": app.alice.key.public_key().to_pem()});
    let got = send(
        &app,
        "POST",
        "/v1/cleanrooms",
        Some(&app.admin),
        Body::from(signed(&app.alice, "cleanroom.init", &payload)),
        "application/cose",
    )
    .await;
    assert_eq!(got.0, StatusCode::CONFLICT, "{}", got.1);
    // A user of the room reads it; the list shows only rooms one takes part in.
    let (status, list) = json_call(&app, "GET", "/v1/cleanrooms", &app.bob.token, None).await;
    assert_eq!((status, list["items"].clone()), (StatusCode::OK, json!([ROOM])));
}

/// The dashboard's reads: the invitations addressed to the caller in every clean room (made
/// or still proposed), and what a user credential is confined to (`whoami`).
#[tokio::test]
async fn an_identity_lists_its_invitations_and_a_credential_says_where_it_reaches() {
    let app = app().await;
    three_parties(&app).await;
    // Refused: no token, a viewer (no clean-room role), a user credential (no invited identity).
    let got = send(&app, "GET", "/v1/invitations", None, Body::empty(), "application/json").await;
    assert_eq!(got.0, StatusCode::UNAUTHORIZED, "{}", got.1);
    let got = json_call(&app, "GET", "/v1/invitations", &app.viewer, None).await;
    assert_eq!((got.0, got.1["error"]["code"].clone()), (StatusCode::FORBIDDEN, json!("forbidden")), "{}", got.1);
    let credential =
        consort_governance::credentials::issue(&app.alice.key, "alice", ROOM, "bob", "cred-b1", now_s(), 3_600)
            .unwrap();
    let bearer = format!("Bearer {credential}");
    let got = json_call(&app, "GET", "/v1/invitations", &bearer, None).await;
    assert_eq!(got.1["error"]["code"], "credential_scope", "{}", got.1);
    // whoami names the credential's clean room, user, issuer, id and expiry; a token has none.
    let (status, me) = json_call(&app, "GET", "/v1/auth/whoami", &bearer, None).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(
        (&me["method"], &me["name"], &me["roles"]),
        (&json!("user_credential"), &json!("bob"), &json!(["cleanroom"]))
    );
    let expires_ms = (now_s() + 3_600) * 1000;
    assert_eq!(
        me["credential"],
        json!({"cleanroom": ROOM, "user": "bob", "member": "alice", "id": "cred-b1", "expires_ms": expires_ms}),
        "{me}"
    );
    let (_, me) = json_call(&app, "GET", "/v1/auth/whoami", &app.bob.token, None).await;
    assert_eq!(me["credential"], Value::Null, "{me}");

    // dave (the outsider's token) is invited once by an accepted proposal and once by an open one.
    let everyone = [&app.alice, &app.bob, &app.carol];
    let invite =
        |id: &str, user: &str| json!({"action": "invite_user", "invitation_id": id, "id": user, "principal": "dave"});
    pass(&app, &app.bob, json!([invite("inv-1", "dave")]), &everyone).await;
    let open = pass(&app, &app.alice, json!([invite("inv-2", "dave2")]), &[]).await;
    let (status, list) = json_call(&app, "GET", "/v1/invitations", &app.outsider, None).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let seen = |list: &Value| -> Vec<(String, String, String)> {
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| {
                (
                    i["id"].as_str().unwrap().into(),
                    i["standing"].as_str().unwrap().into(),
                    i["proposed_by"].as_str().unwrap().into(),
                )
            })
            .collect()
    };
    let s = |x: &str| x.to_string();
    assert_eq!(seen(&list), [(s("inv-1"), s("Pending"), s("bob")), (s("inv-2"), s("Proposed"), s("alice"))], "{list}");
    assert_eq!(list["items"][0]["cleanroom"], ROOM);
    assert!(list["items"][0]["expires_ms"].as_i64().unwrap() > now_s() * 1000, "{list}");
    assert_eq!((&list["items"][1]["expires_ms"], &list["items"][1]["proposal_id"]), (&Value::Null, &open["id"]));
    // Another identity sees none of them; the invited one accepts and then sees it accepted.
    let (_, theirs) = json_call(&app, "GET", "/v1/invitations", &app.carol.token, None).await;
    assert_eq!(theirs["items"], json!([]), "{theirs}");
    let (status, user) = json_call(&app, "POST", &path("/invitations/inv-1/accept"), &app.outsider, None).await;
    assert_eq!((status, user["status"].clone()), (StatusCode::OK, json!("active")), "{user}");
    let (_, list) = json_call(&app, "GET", "/v1/invitations", &app.outsider, None).await;
    assert_eq!(seen(&list)[0], (s("inv-1"), s("Accepted"), s("bob")), "{list}");
    assert!(list["items"][0]["accepted_ms"].is_i64(), "{list}");
}

/// A member's signed revocation made straight to governance at `now_s` (the test's own clock).
async fn revoke_at(app: &App, id: &str, credential: Option<&str>, now_s: i64) -> Result<Revocation, GovError> {
    let request = MemberRequest {
        member: "carol".into(),
        msg_type: "credential.revoke".into(),
        digest: format!("{id}-{now_s}"),
        created_at_s: now_s,
        oldest_fresh_s: now_s - 300,
    };
    app.governance.revoke_credential(ROOM, &request, id, credential, now_s * 1000).await
}

async fn revoked_ids(app: &App) -> Vec<String> {
    app.governance.revocations(ROOM).await.unwrap().into_iter().map(|r| r.credential_id).collect()
}

#[tokio::test]
async fn a_revocation_made_with_its_credential_is_forgotten_only_once_that_credential_expired() {
    let app = app().await;
    three_parties(&app).await;
    let t0 = now_s();
    let issue = |id: &str, ttl_s: i64| {
        consort_governance::credentials::issue(&app.alice.key, "alice", ROOM, "bob", id, t0, ttl_s).unwrap()
    };
    let credential = issue("cred-1", 600);
    let revoke = async |payload: Value| {
        let bytes = signed(&app.bob, "credential.revoke", &payload);
        cose(&app, "POST", &path("/credentials/revocations"), &app.bob, bytes).await
    };
    // Refused: no token; a credential of another id, signed with another key, or malformed.
    let unsigned = signed(&app.bob, "credential.revoke", &json!({"credential_id": "cred-1"}));
    let got =
        send(&app, "POST", &path("/credentials/revocations"), None, Body::from(unsigned), "application/cose").await;
    assert_eq!(got.0, StatusCode::UNAUTHORIZED, "{}", got.1);
    let forged = consort_governance::credentials::issue(
        &MemberKeyPair::generate(KeyAlgorithm::Ed25519).unwrap(),
        "alice",
        ROOM,
        "bob",
        "cred-1",
        t0,
        60,
    )
    .unwrap();
    for (bad, problem) in
        [(&credential, "not the credential_id"), (&forged, "does not verify"), (&"ccu_!!".to_string(), "malformed")]
    {
        let id = if problem == "not the credential_id" { "cred-9" } else { "cred-1" };
        let (status, body) = revoke(json!({"credential_id": id, "credential": bad})).await;
        assert_eq!((status, &body["error"]["param"]), (StatusCode::BAD_REQUEST, &json!("credential")), "{body}");
        assert!(body["error"]["message"].as_str().unwrap().contains(problem), "{body}");
        assert!(!body.to_string().contains(bad.as_str()), "the credential is never echoed: {body}");
    }
    assert!(app.governance.verify_credential(&credential, t0 * 1000).await.is_ok(), "nothing was revoked");

    // With the credential: its expiry is recorded, and it stops authenticating at once.
    let (status, revocation) = revoke(json!({"credential_id": "cred-1", "credential": credential})).await;
    assert_eq!((status, &revocation["expires_at"]), (StatusCode::OK, &json!(t0 + 600)), "{revocation}");
    let refused = app.governance.verify_credential(&credential, t0 * 1000).await.unwrap_err();
    assert_eq!(refused.code(), "credential_revoked");
    let entries = ledger(&app).await;
    let revoked = entries.iter().rev().find(|e| e.kind == "credential.revoked").unwrap();
    assert!(revoked.body.contains(&format!("\"expires_at\":{}", t0 + 600)), "{}", revoked.body);
    assert!(entries.iter().all(|e| !e.body.contains(credential.as_str())), "no credential in the ledger");
    // Another credential reusing the id and living longer is not the one revoked; presenting it
    // widens the revocation to it.
    let longer = issue("cred-1", 1_200);
    assert!(app.governance.verify_credential(&longer, t0 * 1000).await.is_ok());
    let widened = revoke_at(&app, "cred-1", Some(&longer), t0 + 1).await.unwrap();
    assert_eq!((widened.expires_at, widened.at_ms, widened.by.as_str()), (Some(t0 + 1_200), t0 * 1000, "bob"));
    assert_eq!(app.governance.verify_credential(&longer, t0 * 1000).await.unwrap_err().code(), "credential_revoked");
    // Revoked by id alone: for good.
    revoke_at(&app, "cred-by-id", None, t0 + 2).await.unwrap();

    // The boundary, on a clock the test moves: revoked until it expires, expired after; the
    // revocation stays until an hour after its expiry and is pruned by the next revocation.
    let expires = t0 + 1_200;
    let margin = consort_governance::credentials::REVOCATION_PRUNE_MARGIN_S;
    let at = |s: i64| app.governance.verify_credential(&longer, s * 1000);
    assert_eq!(at(expires - 1).await.unwrap_err().code(), "credential_revoked");
    assert_eq!(at(expires).await.unwrap_err().code(), "credential_expired");
    revoke_at(&app, "cred-2", None, expires + margin - 1).await.unwrap();
    assert_eq!(revoked_ids(&app).await, ["cred-1", "cred-2", "cred-by-id"], "kept until the margin passed");
    revoke_at(&app, "cred-3", None, expires + margin).await.unwrap();
    assert_eq!(revoked_ids(&app).await, ["cred-2", "cred-3", "cred-by-id"]);
    let entries = ledger(&app).await;
    let pruned = entries.iter().find(|e| e.kind == "credential.revocations_pruned").expect("pruning is in the ledger");
    let body: Value = serde_json::from_str(&pruned.body).unwrap();
    assert_eq!(body["credentials"], json!(["cred-1"]), "{body}");
    // Once pruned, neither credential is valid again: on this clock, or on one a margin behind.
    for now_s in [expires + margin, expires, expires + 10 * margin] {
        for text in [&credential, &longer] {
            let refused = app.governance.verify_credential(text, now_s * 1000).await.unwrap_err();
            assert_eq!(refused.code(), "credential_expired", "at {now_s}");
        }
    }
    // By id alone is never pruned.
    revoke_at(&app, "cred-4", None, expires + 1_000 * margin).await.unwrap();
    assert!(revoked_ids(&app).await.contains(&"cred-by-id".to_string()));
}

const RUNNER: &str = "aa11";

/// The runner's evidence: a simulated report of `measurement` binding `key`.
fn evidence(app: &App, measurement: &str, key: &[u8]) -> String {
    let report = SimulatedReport {
        measurement: measurement.into(),
        host_data: "cc33".into(),
        report_data: report_data_for(key),
        debuggable: false,
        issued_at: now_s(),
    };
    STANDARD.encode(app.tee.issue(&report).unwrap())
}

#[tokio::test]
async fn secrets_go_only_to_the_attested_runner_of_the_granted_run_while_consent_holds() {
    let app = app().await;
    three_parties(&app).await;
    accepted_contract(&app).await;
    let secret = b"storage-key-of-alice";
    let put = json!({"value": STANDARD.encode(secret)});
    let (status, body) = json_call(&app, "PUT", &path("/secrets/alice-storage"), &app.alice.token, Some(put)).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    // Another party cannot take the name over, nor grant it.
    let theirs = json!({"value": STANDARD.encode(b"x")});
    let got = json_call(&app, "PUT", &path("/secrets/alice-storage"), &app.bob.token, Some(theirs)).await;
    assert_eq!(got.0, StatusCode::FORBIDDEN, "{}", got.1);
    let grant = json!({"run_id": "run-1", "secret": "alice-storage", "policy": {"measurements": [RUNNER]},
        "consent": [{"kind": "contract", "id": "c1"}]});
    let got = json_call(&app, "POST", &path("/grants/secrets"), &app.bob.token, Some(grant.clone())).await;
    assert_eq!(got.0, StatusCode::FORBIDDEN, "{}", got.1);
    let (status, g) = json_call(&app, "POST", &path("/grants/secrets"), &app.alice.token, Some(grant)).await;
    assert_eq!((status, g["granted_by"].clone()), (StatusCode::CREATED, json!("user:alice")), "{g}");
    // SEV-SNP minimums travel with a grant's policy; a VMPL SEV-SNP does not have is refused by name.
    let snp = |max_vmpl: u32| {
        json!({"run_id": "run-9", "secret": "alice-storage", "consent": [{"kind": "contract", "id": "c1"}],
            "policy": {"measurements": [RUNNER], "min_tcb": {"bootloader": 3, "tee": 0, "snp": 8, "microcode": 115},
                "min_guest_svn": 2, "max_vmpl": max_vmpl, "allow_smt": false}})
    };
    let got = json_call(&app, "POST", &path("/grants/secrets"), &app.alice.token, Some(snp(7))).await;
    assert_eq!(
        (got.0, got.1["error"]["code"].clone()),
        (StatusCode::BAD_REQUEST, json!("invalid_request")),
        "{}",
        got.1
    );
    assert!(got.1.to_string().contains("policy.max_vmpl"), "{}", got.1);
    let got = json_call(&app, "POST", &path("/grants/secrets"), &app.alice.token, Some(snp(0))).await;
    assert_eq!(got.0, StatusCode::CREATED, "{}", got.1);
    // The policy is consort-attest's own type: a debuggable TEE is refused by governance, by name,
    // and a TCB component it does not know by the parser; the document describes that type.
    let mut debug = snp(0);
    debug["run_id"] = json!("run-8");
    debug["policy"]["allow_debug"] = json!(true);
    let got = json_call(&app, "POST", &path("/grants/secrets"), &app.alice.token, Some(debug.clone())).await;
    assert_eq!(got.0, StatusCode::BAD_REQUEST, "{}", got.1);
    assert_eq!(got.1["error"]["param"], "policy.allow_debug", "{}", got.1);
    debug["policy"] = json!({"measurements": [RUNNER], "min_tcb": {"spl": 1}});
    let got = json_call(&app, "POST", &path("/grants/secrets"), &app.alice.token, Some(debug)).await;
    assert_eq!(got.0, StatusCode::BAD_REQUEST, "{}", got.1);
    assert!(got.1["error"]["message"].as_str().unwrap().contains("spl"), "{}", got.1);
    let doc = consort_server::openapi::document();
    let schemas = &doc["components"]["schemas"];
    assert!(schemas.get("PolicyBody").is_none() && schemas.get("TcbBody").is_none(), "no mirror types");
    // (Token grants are signed COSE payloads, outside the document's schemas.)
    assert_eq!(schemas["SecretGrantBody"]["properties"]["policy"]["$ref"], "#/components/schemas/Policy");
    let (policy, tcb) = (&schemas["Policy"], &schemas["Tcb"]);
    assert_eq!((&policy["required"], &policy["additionalProperties"]), (&json!(["measurements"]), &json!(false)));
    let mut fields: Vec<&str> = policy["properties"].as_object().unwrap().keys().map(String::as_str).collect();
    fields.sort_unstable();
    assert_eq!(
        fields,
        [
            "allow_debug",
            "allow_migration_agent",
            "allow_smt",
            "host_data",
            "max_vmpl",
            "measurements",
            "min_guest_svn",
            "min_tcb"
        ],
        "{policy}"
    );
    assert!(policy["properties"]["min_tcb"].to_string().contains("#/components/schemas/Tcb"), "{policy}");
    assert_eq!((tcb.get("required"), &tcb["additionalProperties"]), (None, &json!(false)), "{tcb}");

    let release = path("/secrets/alice-storage/release");
    let runner = OneOffKeyPair::generate();
    let public = STANDARD.encode(runner.public_key());
    let ask = |run: &str, evidence: String| json!({"run_id": run, "evidence": evidence, "public_key": public});
    // The attested runner of run-1 gets it, wrapped to its key.
    let (status, answer) = json_call(
        &app,
        "POST",
        &release,
        &app.carol.token,
        Some(ask("run-1", evidence(&app, RUNNER, &runner.public_key()))),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let wrapped = WrappedAnswer {
        enc: STANDARD.decode(answer["enc"].as_str().unwrap()).unwrap(),
        ciphertext: STANDARD.decode(answer["ciphertext"].as_str().unwrap()).unwrap(),
    };
    let opened = unwrap_with(runner.private_key(), &release_info(ROOM, "run-1", "alice-storage"), &wrapped).unwrap();
    assert_eq!(opened.expose(), secret);
    assert!(!answer.to_string().contains("storage-key"), "the answer is encrypted");
    assert_eq!(ledger(&app).await.last().unwrap().kind, "secret.released");

    // Without attestation; with another measurement; with report_data of another key; for
    // another run.
    let other_key = OneOffKeyPair::generate();
    for (request, code) in [
        (ask("run-1", String::new()), "attestation_required"),
        (ask("run-1", evidence(&app, "bb22", &runner.public_key())), "measurement_not_allowed"),
        (ask("run-1", evidence(&app, RUNNER, &other_key.public_key())), "report_data_mismatch"),
        (ask("run-2", evidence(&app, RUNNER, &runner.public_key())), "wrong_run"),
    ] {
        let got = json_call(&app, "POST", &release, &app.carol.token, Some(request)).await;
        assert_eq!((got.0, got.1["error"]["code"].clone()), (StatusCode::FORBIDDEN, json!(code)), "{}", got.1);
        refused_in_ledger(&ledger(&app).await, code);
        assert!(!got.1.to_string().contains("storage-key"));
    }
    // A forged report (signed by another TEE key).
    let (forger, _) = SimulatedTee::generate().unwrap();
    let forged = SimulatedReport {
        measurement: RUNNER.into(),
        host_data: "cc33".into(),
        report_data: report_data_for(&runner.public_key()),
        debuggable: false,
        issued_at: now_s(),
    };
    let got = json_call(
        &app,
        "POST",
        &release,
        &app.carol.token,
        Some(ask("run-1", STANDARD.encode(forger.issue(&forged).unwrap()))),
    )
    .await;
    assert_eq!(got.1["error"]["code"], "attestation_invalid", "{}", got.1);

    // Carol withdraws her execution consent on the contract: nothing is released any more.
    let off = signed_about(&app.carol, "consent", "consent/contract/c1/execution", &json!({"enabled": false}));
    assert_eq!(cose(&app, "PUT", &path("/consent/contract/c1/execution"), &app.carol, off).await.0, StatusCode::OK);
    let got = json_call(
        &app,
        "POST",
        &release,
        &app.carol.token,
        Some(ask("run-1", evidence(&app, RUNNER, &runner.public_key()))),
    )
    .await;
    assert_eq!(got.1["error"]["code"], "consent_withdrawn", "{}", got.1);
    refused_in_ledger(&ledger(&app).await, "consent_withdrawn");
}

#[tokio::test]
async fn tokens_carry_the_granted_subject_and_the_issuer_is_public() {
    let app = app().await;
    three_parties(&app).await;
    accepted_contract(&app).await;
    let discovery = path("/oidc/.well-known/openid-configuration");
    let got = send(&app, "GET", &discovery, None, Body::empty(), "application/json").await;
    assert_eq!(got.0, StatusCode::NOT_FOUND, "no key before the first grant: {}", got.1);
    let grant = json!({"run_id": "run-1", "subject": "analytics-alice", "audience": "api://AzureADTokenExchange",
        "policy": {"measurements": [RUNNER]}, "consent": [{"kind": "contract", "id": "c1"}]});
    let (status, g) =
        cose(&app, "POST", &path("/grants/tokens"), &app.alice, signed(&app.alice, "token-grant", &grant)).await;
    assert_eq!(status, StatusCode::CREATED, "{g}");
    // Discovery and keys need no credentials, and advertise the algorithm tokens are signed with.
    let (status, doc) = send(&app, "GET", &discovery, None, Body::empty(), "application/json").await;
    assert_eq!(status, StatusCode::OK, "{doc}");
    assert_eq!(doc["issuer"], format!("https://consort.test/v1/cleanrooms/{ROOM}/oidc"));
    let (status, jwks) =
        send(&app, "GET", &path("/oidc/.well-known/jwks.json"), None, Body::empty(), "application/json").await;
    assert_eq!(status, StatusCode::OK, "{jwks}");

    let runner = OneOffKeyPair::generate();
    let ask = |subject: Option<&str>| {
        json!({"run_id": "run-1", "evidence": evidence(&app, RUNNER, &runner.public_key()),
               "public_key": STANDARD.encode(runner.public_key()), "subject": subject})
    };
    let got = json_call(&app, "POST", &path("/oidc/token"), &app.bob.token, Some(ask(Some("analytics-bob")))).await;
    assert_eq!(got.0, StatusCode::FORBIDDEN, "a token for the wrong subject: {}", got.1);
    refused_in_ledger(&ledger(&app).await, "forbidden");
    let (status, token) = json_call(&app, "POST", &path("/oidc/token"), &app.bob.token, Some(ask(None))).await;
    assert_eq!(status, StatusCode::OK, "{token}");
    let jwt = token["token"].as_str().unwrap();
    let part = |i: usize| -> Value {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(jwt.split('.').nth(i).unwrap()).unwrap();
        serde_json::from_slice(&bytes).unwrap()
    };
    let (header, claims) = (part(0), part(1));
    assert_eq!(
        (claims["sub"].clone(), claims["aud"].clone()),
        (json!("analytics-alice"), json!("api://AzureADTokenExchange"))
    );
    assert_eq!(claims["iss"], doc["issuer"]);
    assert_eq!(header["alg"], jwks["keys"][0]["alg"], "the JWKS advertises the signing algorithm");
    assert_eq!(header["kid"], jwks["keys"][0]["kid"]);
    assert_eq!(ledger(&app).await.last().unwrap().kind, "token.issued");
}

// ---- runs --------------------------------------------------------------------------

/// Real files for two datasets and a sink directory: the probe reads them.
struct RunFiles {
    _dir: tempfile::TempDir,
    alice: String,
    bob: String,
    sink: String,
}

fn run_files() -> RunFiles {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, rows: &str| {
        let path = dir.path().join(name);
        std::fs::create_dir_all(&path).unwrap();
        std::fs::write(path.join("part-0.csv"), rows).unwrap();
        format!("file://{}", path.display())
    };
    let alice = write("alice", "a@x,1\nb@x,2\n");
    let bob = write("bob", "a@x,3\nc@x,4\n");
    let sink = format!("file://{}", dir.path().join("out").display());
    RunFiles { _dir: dir, alice, bob, sink }
}

fn dataset_at(location: &str, columns: &[&str], secrets: &[&str]) -> Value {
    json!({"contract_id": "c1", "body": {"kind": "dataset", "location": location, "format": "csv",
        "schema": columns.iter().map(|c| json!({"name": c, "type": "string"})).collect::<Vec<_>>(),
        "allowed_fields": columns, "secrets": secrets}})
}

/// Alice's and Bob's datasets, Carol's sink, Carol's query over them proposed: every approver
/// but those in `hold_out` has accepted it.
async fn runnable(app: &App, files: &RunFiles, hold_out: &[&str]) {
    three_parties(app).await;
    accepted_contract(app).await;
    // Alice's dataset needs her storage key, put in the clean room.
    let (status, answer) = json_call(
        app,
        "PUT",
        &path("/secrets/alice-key"),
        &app.alice.token,
        Some(json!({"value": STANDARD.encode(br#"{"note":"a local file needs no key"}"#)})),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{answer}");
    let d = publish(app, &app.alice, "d-alice", dataset_at(&files.alice, &["email", "x"], &["alice-key"])).await;
    assert_eq!(d["state"], "Accepted", "{d}");
    assert_eq!(
        publish(app, &app.bob, "d-bob", dataset_at(&files.bob, &["email", "y"], &[])).await["state"],
        "Accepted"
    );
    let sink = json!({"contract_id": "c1", "body": {"kind": "sink", "location": files.sink, "format": "csv",
        "allowed_fields": ["n"]}});
    assert_eq!(publish(app, &app.carol, "s-carol", sink).await["state"], "Accepted");
    let query = json!({"contract_id": "c1", "body": {"kind": "query",
        "segments": [{"execution_order": 1, "sql": "select count(*) n from a join b using (email)"}],
        "inputs": [{"dataset": "d-alice", "view": "a"}, {"dataset": "d-bob", "view": "b"}], "sink": "s-carol"}});
    let q = publish(app, &app.carol, "q1", query).await;
    assert_eq!(q["approvers"], json!(["alice", "bob", "carol"]), "{q}");
    for voter in [&app.alice, &app.bob] {
        if hold_out.contains(&voter.id) {
            continue;
        }
        let (status, doc) =
            json_call(app, "POST", &path("/documents/q1/ballots"), &voter.token, Some(json!({"vote": "accept"}))).await;
        assert_eq!(status, StatusCode::OK, "{doc}");
    }
}

async fn prepare(app: &App, by: &Party) -> Value {
    let (status, prepared) = json_call(app, "POST", &path("/prepare"), &by.token, None).await;
    assert_eq!(status, StatusCode::OK, "{prepared}");
    prepared
}

async fn run_query(app: &App, by: &Party, key: Option<&str>) -> (StatusCode, Value) {
    let mut request = Request::builder()
        .method("POST")
        .uri(path("/queries/q1/run"))
        .header("authorization", &by.token)
        .header("content-type", "application/json");
    if let Some(key) = key {
        request = request.header("idempotency-key", key);
    }
    let response = app.router.clone().oneshot(request.body(Body::empty()).unwrap()).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

/// Attests as the runner of `run` would: a report of `measurement` over the job config's hash,
/// binding a fresh one-off key. Returns the answer and the key.
async fn attest(app: &App, run: &str, measurement: &str, config: &[u8]) -> (StatusCode, Value, OneOffKeyPair) {
    use sha2::Digest;
    let one_off = OneOffKeyPair::generate();
    let report = SimulatedReport {
        measurement: measurement.into(),
        host_data: sha2::Sha256::digest(config).iter().map(|b| format!("{b:02x}")).collect(),
        report_data: report_data_for(&one_off.public_key()),
        debuggable: false,
        issued_at: now_s(),
    };
    let evidence = app.tee.issue(&report).unwrap();
    let body =
        json!({"evidence": STANDARD.encode(evidence), "one_off_public_key": STANDARD.encode(one_off.public_key())});
    let (status, answer) = send(
        app,
        "POST",
        &path(&format!("/runs/{run}/runner/attest")),
        None,
        Body::from(body.to_string()),
        "application/json",
    )
    .await;
    (status, answer, one_off)
}

fn opened(answer: &Value, key: &OneOffKeyPair, info: &[u8]) -> Vec<u8> {
    let wrapped = WrappedAnswer {
        enc: STANDARD.decode(answer["enc"].as_str().unwrap()).unwrap(),
        ciphertext: STANDARD.decode(answer["ciphertext"].as_str().unwrap()).unwrap(),
    };
    unwrap_with(key.private_key(), info, &wrapped).unwrap().expose().to_vec()
}

async fn runner_call(
    app: &App,
    method: &str,
    run: &str,
    rest: &str,
    session: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let body = body.map_or(Body::empty(), |b| Body::from(b.to_string()));
    let auth = format!("Bearer {session}");
    send(app, method, &path(&format!("/runs/{run}/runner{rest}")), Some(&auth), body, "application/json").await
}

/// The run checklist end to end (Spark left out): refused until prepared, then a run with one
/// ledger entry per step, submitted once even when retried with its idempotency key; its
/// runner attests with the prepared measurement over the job config, gets the granted key
/// through its session, reports, and the run's end has a receipt; the grant dies with the run.
#[tokio::test]
async fn a_run_passes_the_checklist_and_its_runner_gets_only_what_was_granted() {
    let app = app().await;
    let files = run_files();
    runnable(&app, &files, &[]).await;
    let (status, refused) = run_query(&app, &app.carol, None).await;
    assert_eq!((status, refused["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("not_prepared")), "{refused}");
    refused_in_ledger(&ledger(&app).await, "not_prepared");

    let prepared = prepare(&app, &app.alice).await;
    assert_eq!(prepared["runner"]["measurement"], PREPARED_RUNNER, "{prepared}");
    assert_eq!(prepared["keys"][0]["secret"], "alice-key", "{prepared}");
    let before = ledger(&app).await.len();
    let (status, run) = run_query(&app, &app.carol, Some("nightly-1")).await;
    assert_eq!(status, StatusCode::CREATED, "{run}");
    let id = run["id"].as_str().unwrap().to_string();
    assert_eq!((run["state"].as_str(), run["secrets"].clone()), (Some("STARTING"), json!(["alice-key"])), "{run}");
    let steps: Vec<String> = ledger(&app).await[before..]
        .iter()
        .filter(|e| e.kind == "run.check")
        .map(|e| serde_json::from_str::<Value>(&e.body).unwrap()["step"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        steps,
        ["authorise", "accepted", "approvals", "consent", "locations", "job_config", "run_policy", "grants"],
        "one entry per checklist step, in order"
    );
    // A retry with the same key is the same run, submitted once.
    let (status, again) = run_query(&app, &app.carol, Some("nightly-1")).await;
    assert_eq!((status, again["id"].clone()), (StatusCode::OK, json!(id)), "{again}");
    assert_eq!(*app.runs.submitted.lock().unwrap(), vec![id.clone()]);

    let (_, config) = app.governance.run_with_config(ROOM, &id).await.unwrap();
    let parsed: Value = serde_json::from_slice(&config).unwrap();
    assert_eq!(parsed["sink"]["allowedFields"], json!(["n"]), "{parsed}");
    assert_eq!(parsed["datasets"][0]["view"], "a", "{parsed}");

    // A runner of another measurement, or over another job config, is refused.
    let (status, answer, _) = attest(&app, &id, &"22".repeat(32), &config).await;
    assert_eq!((status, answer["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("measurement_not_allowed")));
    let mut modified = parsed.clone();
    modified["query"]["segments"][0]["sql"] = json!("select * from a");
    let (status, answer, _) = attest(&app, &id, PREPARED_RUNNER, modified.to_string().as_bytes()).await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("measurement_not_allowed")),
        "a modified query is another host data: {answer}"
    );

    let (status, answer, key) = attest(&app, &id, PREPARED_RUNNER, &config).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let session =
        String::from_utf8(opened(&answer["session"], &key, &consort_attest::session_info(ROOM, &id))).unwrap();
    // Without a session, or with it on another path, nothing.
    let (status, _) = runner_call(&app, "GET", &id, "/consent", "crs_forged", None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, answer) =
        send(&app, "GET", &path(&format!("/runs/{id}/runner/consent")), None, Body::empty(), "application/json").await;
    assert_eq!((status, answer["error"]["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("session_required")));
    let (status, answer) = runner_call(&app, "GET", &id, "/consent", &session, None).await;
    assert_eq!((status, answer["execution"].as_bool()), (StatusCode::OK, Some(true)), "{answer}");
    let (status, answer) = runner_call(&app, "POST", &id, "/secrets/alice-key", &session, None).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(
        opened(&answer, &key, &release_info(ROOM, &id, "alice-key")),
        br#"{"note":"a local file needs no key"}"#
    );
    let (status, answer) = runner_call(&app, "POST", &id, "/secrets/bob-key", &session, None).await;
    assert_eq!((status, answer["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("wrong_run")), "{answer}");

    let events = [
        json!({"event": "start"}),
        json!({"event": "segment", "executionOrder": 1, "rows": 1}),
        json!({"event": "end", "state": "succeeded", "rowsRead": 4, "rowsWritten": 1, "output": format!("{}/2026-01-01/{id}", files.sink)}),
    ];
    for event in events {
        let (status, answer) = runner_call(&app, "POST", &id, "/events", &session, Some(event)).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{answer}");
    }
    let (status, run) = json_call(&app, "GET", &path(&format!("/runs/{id}")), &app.bob.token, None).await;
    assert_eq!(status, StatusCode::OK, "{run}");
    assert_eq!((run["state"].as_str(), run["rows_written"].as_u64()), (Some("SUCCEEDED"), Some(1)), "{run}");
    assert_eq!(run["segments"], json!([{"execution_order": 1, "rows": 1}]));
    let seq = run["end_seq"].as_u64().unwrap();
    let ended = &ledger(&app).await[seq as usize];
    assert_eq!(ended.kind, "run.ended", "{ended:?}");
    // The grant and the session died with the run.
    let (status, answer) = runner_call(&app, "POST", &id, "/secrets/alice-key", &session, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");
    let (_, answer, _) = attest(&app, &id, PREPARED_RUNNER, &config).await;
    assert_eq!(answer["error"]["code"], "run_not_live", "{answer}");
    let (status, list) = json_call(&app, "GET", &path("/runs?query=q1"), &app.alice.token, None).await;
    assert_eq!((status, list["items"].as_array().map(Vec::len)), (StatusCode::OK, Some(1)), "{list}");
    // Outsiders and viewers see no runs.
    let (status, _) = json_call(&app, "GET", &path(&format!("/runs/{id}")), &app.outsider, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = json_call(&app, "GET", &path(&format!("/runs/{id}")), &app.viewer, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

/// Each checklist step refuses with its own code, recorded in the ledger: a missing approval
/// (the sink's owner too), consent withdrawn, an unreadable source, a changed runner, a
/// caller who is no party.
#[tokio::test]
async fn each_checklist_step_refuses_with_its_code() {
    let app = app().await;
    let files = run_files();
    runnable(&app, &files, &["bob"]).await;
    prepare(&app, &app.carol).await;
    let (status, refused) = run_query(&app, &app.carol, None).await;
    assert_eq!(
        (status, refused["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("approval_missing")),
        "{refused}"
    );
    assert!(refused["error"]["message"].as_str().unwrap().contains("bob"), "names who is missing: {refused}");
    refused_in_ledger(&ledger(&app).await, "approval_missing");
    json_call(&app, "POST", &path("/documents/q1/ballots"), &app.bob.token, Some(json!({"vote": "accept"}))).await;

    // The sink's owner withdraws its approval: refused again, naming carol.
    let (status, _) =
        json_call(&app, "PUT", &path("/documents/q1/approval"), &app.carol.token, Some(json!({"approve": false})))
            .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, refused) = run_query(&app, &app.alice, None).await;
    assert_eq!(
        (status, refused["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("approval_missing")),
        "{refused}"
    );
    assert!(refused["error"]["message"].as_str().unwrap().contains("carol"), "{refused}");
    json_call(&app, "PUT", &path("/documents/q1/approval"), &app.carol.token, Some(json!({"approve": true}))).await;

    // Consent: bob turns execution off on his dataset.
    json_call(&app, "PUT", &path("/consent/document/d-bob/execution"), &app.bob.token, Some(json!({"enabled": false})))
        .await;
    let (status, refused) = run_query(&app, &app.alice, None).await;
    assert_eq!(
        (status, refused["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("consent_withdrawn")),
        "{refused}"
    );
    refused_in_ledger(&ledger(&app).await, "consent_withdrawn");
    json_call(&app, "PUT", &path("/consent/document/d-bob/execution"), &app.bob.token, Some(json!({"enabled": true})))
        .await;

    // A changed runner needs a new prepare.
    *app.runs.measurement.lock().unwrap() = Some("33".repeat(32));
    let (status, refused) = run_query(&app, &app.alice, None).await;
    assert_eq!((status, refused["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("prepare_stale")), "{refused}");
    prepare(&app, &app.alice).await;

    // A source that cannot be read: bob's files are gone.
    std::fs::remove_dir_all(files.bob.trim_start_matches("file://")).unwrap();
    let (status, refused) = run_query(&app, &app.alice, None).await;
    assert_eq!(
        (status, refused["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("source_unreadable")),
        "{refused}"
    );
    std::fs::create_dir_all(files.bob.trim_start_matches("file://")).unwrap();
    std::fs::write(format!("{}/part-0.csv", files.bob.trim_start_matches("file://")), "a@x,3\n").unwrap();

    // Somebody who is no party, and a viewer without the role.
    let (status, refused) = json_call(&app, "POST", &path("/queries/q1/run"), &app.outsider, None).await;
    assert_eq!((status, refused["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("forbidden")), "{refused}");
    let (status, _) = json_call(&app, "POST", &path("/queries/q1/run"), &app.viewer, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = send(&app, "POST", &path("/queries/q1/run"), None, Body::empty(), "application/json").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(app.runs.submitted.lock().unwrap().is_empty(), "nothing refused was submitted");

    let (status, run) = run_query(&app, &app.alice, None).await;
    assert_eq!(status, StatusCode::CREATED, "every step passes now: {run}");
}

/// Withdrawing consent revokes the running run at once: its application is killed, its
/// runner's next call is refused and its grant is void; withdrawing an approval does the same.
#[tokio::test]
async fn a_withdrawal_revokes_running_runs_and_their_grants() {
    let app = app().await;
    let files = run_files();
    runnable(&app, &files, &[]).await;
    prepare(&app, &app.alice).await;
    let (_, run) = run_query(&app, &app.carol, None).await;
    let id = run["id"].as_str().unwrap().to_string();
    let (_, config) = app.governance.run_with_config(ROOM, &id).await.unwrap();
    let (status, answer, key) = attest(&app, &id, PREPARED_RUNNER, &config).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let session =
        String::from_utf8(opened(&answer["session"], &key, &consort_attest::session_info(ROOM, &id))).unwrap();

    // Bob turns off execution on the contract (any party may, alone).
    let (status, _) = json_call(
        &app,
        "PUT",
        &path("/consent/contract/c1/execution"),
        &app.bob.token,
        Some(json!({"enabled": false})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(*app.runs.killed.lock().unwrap(), vec![id.clone()], "its application is killed");
    let (_, run) = json_call(&app, "GET", &path(&format!("/runs/{id}")), &app.alice.token, None).await;
    assert_eq!(run["state"], "REVOKED", "{run}");
    assert!(run["failure"].as_str().unwrap().contains("withdrawn"), "{run}");
    let (status, answer) = runner_call(&app, "GET", &id, "/consent", &session, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "the session died with the run: {answer}");
    let (status, _) = runner_call(&app, "POST", &id, "/secrets/alice-key", &session, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let kinds: Vec<String> = ledger(&app).await.iter().rev().take(3).map(|e| e.kind.clone()).collect();
    assert!(kinds.contains(&"run.ended".to_string()), "the revocation is in the ledger: {kinds:?}");

    // Consent back on; a new run, then an owner withdraws its approval: revoked and killed too.
    json_call(&app, "PUT", &path("/consent/contract/c1/execution"), &app.bob.token, Some(json!({"enabled": true})))
        .await;
    let (status, run) = run_query(&app, &app.carol, None).await;
    assert_eq!(status, StatusCode::CREATED, "{run}");
    let second = run["id"].as_str().unwrap().to_string();
    let (status, _) =
        json_call(&app, "PUT", &path("/documents/q1/approval"), &app.alice.token, Some(json!({"approve": false})))
            .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, run) = json_call(&app, "GET", &path(&format!("/runs/{second}")), &app.alice.token, None).await;
    assert_eq!(run["state"], "REVOKED", "{run}");
    assert_eq!(app.runs.killed.lock().unwrap().len(), 2);
    // Nobody but an approver withdraws an approval.
    let (status, _) =
        json_call(&app, "PUT", &path("/documents/q1/approval"), &app.outsider, Some(json!({"approve": false}))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}
