//! The web dashboard end to end: one `consort serve` (SQLite, local Spark), jobs, triggers and
//! runs seeded through the API, then `tests/browser/dashboard.mjs` drives Debian's chromium
//! (through playwright-core, both installed by `scripts/setup.d/48-browser.sh`) over every page
//! and action. Each action's effect is read back through the API, by the script and again here.
//! Screenshots are kept under `$CONSORT_CACHE/artifacts/dashboard/` (the path is printed).
//!
//! The new routes' refusals (no token, a bad token, a role without `read`, bad parameters) and
//! the assets' headers are checked here over HTTP before the browser starts.
//!
//! The clean-room pages (`tests/browser/rooms.mjs`) get a clean room of three parties set up
//! through the API as the CLI does it (members' requests COSE-signed with their keys): a
//! contract, two datasets, a sink, a query run on Spark through the governed runner (simulated
//! TEE) to its end, a second query waiting for one ballot, and an open proposal.

mod serve;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use consort_signing::{KeyAlgorithm, MemberKeyPair, RequestHeader, sign_request};
use serde_json::{Value, json};
use serve::Serve;

/// How long the local Spark application may take to start on a loaded 2-core machine.
const SPARK_WAIT: Duration = Duration::from_secs(240);

fn cache_dir() -> PathBuf {
    consort_spark::tool_cache().expect("a cache directory")
}

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap())
}

/// `consort serve` on a fresh data directory; SIGTERM on drop.
struct Server {
    process: serve::Process,
    url: String,
    data: PathBuf,
}

impl Server {
    fn start() -> Server {
        let data = std::env::temp_dir().join(format!("consort-dashboard-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&data);
        std::fs::create_dir_all(&data).unwrap();
        // The browser and this test are one principal each, polling: the rate limit (tested in
        // crates/server/tests/auth.rs) must not turn a slow machine's bursts into failures.
        // The clean-room runs attest to a simulated TEE (the governed runner's test mode).
        let config = data.join("consort.toml");
        let tee_key = data.join("tee.key");
        std::fs::write(
            &config,
            format!(
                "[auth]\nrate_per_sec = 1000\nrate_burst = 1000\n[cleanroom]\nsimulated_tee_key_file = \"{}\"\n",
                tee_key.display()
            ),
        )
        .unwrap();
        let process = Serve::new(&data).config(config).env("SPARK_LOCAL_IP", "127.0.0.1").start();
        Server { url: process.url.clone(), process, data }
    }

    fn admin_token(&self) -> String {
        self.process.admin_token()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.process.terminate();
        let _ = std::fs::remove_dir_all(&self.data);
        let _ = std::fs::remove_file(&self.process.log);
    }
}

/// One HTTP exchange: (status, headers, body as JSON or as a string).
fn call(
    server: &Server,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, reqwest::header::HeaderMap, Value) {
    runtime().block_on(async {
        let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        let mut request = client.request(method.parse().unwrap(), format!("{}{path}", server.url));
        if let Some(t) = token {
            request = request.bearer_auth(t);
        }
        if let Some(b) = body {
            request = request.json(&b);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        (status, headers, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    })
}

fn ok(server: &Server, method: &str, path: &str, token: &str, body: Option<Value>) -> Value {
    let (status, _, body) = call(server, method, path, Some(token), body);
    assert!((200..300).contains(&status), "{method} {path}: {status} {body}");
    body
}

fn token(server: &Server, admin: &str, name: &str, role: &str) -> String {
    let created = ok(server, "POST", "/v1/tokens", admin, Some(json!({"name": name, "roles": [role]})));
    created["secret"].as_str().unwrap_or_else(|| panic!("no token in {created}")).to_string()
}

fn example_jar() -> PathBuf {
    let jar = cache_dir().join("examples/consort-examples.jar");
    assert!(jar.exists(), "{} missing: run scripts/setup (41-spark-examples.sh)", jar.display());
    jar
}

/// The new routes refuse what they must, and the assets carry their headers.
fn check_routes(server: &Server, admin: &str, viewer: &str, provisioner: &str) {
    // whoami: the roles' actions, from the one table.
    let me = ok(server, "GET", "/v1/auth/whoami", admin, None);
    assert_eq!(me["roles"], json!(["admin"]), "{me}");
    assert_eq!(me["actions"], json!(["read", "operate", "provision", "administer", "govern"]), "{me}");
    assert_eq!(me["method"], "api_token");
    let me = ok(server, "GET", "/v1/auth/whoami", viewer, None);
    assert_eq!((me["name"].as_str(), &me["actions"]), (Some("dash-viewer"), &json!(["read"])), "{me}");
    assert_eq!(me["display_name"], "token:dash-viewer");
    for path in ["/v1/auth/whoami", "/v1/dashboard/run-history"] {
        let (status, headers, body) = call(server, "GET", path, None, None);
        assert_eq!(status, 401, "{path} without a token: {body}");
        assert!(headers.contains_key("www-authenticate"), "{path}");
        let (status, _, body) = call(server, "GET", path, Some("cst_not-a-real-token"), None);
        assert_eq!((status, &body["error"]["code"]), (401, &json!("unknown_token")), "{path}: {body}");
    }
    // run-history needs `read`; whoami answers any principal about itself (a `provisioner` or
    // `cleanroom`-only one must learn what it may do).
    let (status, _, body) = call(server, "GET", "/v1/dashboard/run-history", Some(provisioner), None);
    assert_eq!(status, 403, "run-history with a provisioner token: {body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("viewer"), "{body}");
    let me = ok(server, "GET", "/v1/auth/whoami", provisioner, None);
    assert_eq!((&me["roles"], &me["actions"]), (&json!(["provisioner"]), &json!(["provision"])), "{me}");
    // run-history: its one parameter, named when wrong.
    for bad in ["hours=0", "hours=169", "hours=abc"] {
        let (status, _, body) = call(server, "GET", &format!("/v1/dashboard/run-history?{bad}"), Some(viewer), None);
        assert_eq!((status, &body["error"]["param"]), (400, &json!("hours")), "{bad}: {body}");
    }
    let (status, _, body) = call(server, "GET", "/v1/dashboard/run-history?days=1", Some(viewer), None);
    assert_eq!(status, 400, "{body}");
    let history = ok(server, "GET", "/v1/dashboard/run-history?hours=3", viewer, None);
    assert_eq!(history["hours"].as_array().unwrap().len(), 3, "{history}");
    // Both routes are in the document.
    let (_, _, doc) = call(server, "GET", "/openapi.json", None, None);
    for path in ["/v1/auth/whoami", "/v1/dashboard/run-history"] {
        assert!(doc["paths"][path]["get"]["security"].is_array(), "{path} is documented as protected");
    }

    // The assets: public, typed, under a strict policy.
    let (status, headers, _) = call(server, "GET", "/", None, None);
    assert_eq!((status, headers["location"].to_str().unwrap()), (303, "/ui/"));
    for (path, content_type) in [
        ("/ui/", "text/html; charset=utf-8"),
        ("/ui/app.js", "text/javascript; charset=utf-8"),
        ("/ui/style.css", "text/css; charset=utf-8"),
    ] {
        let (status, headers, _) = call(server, "GET", path, None, None);
        assert_eq!(status, 200, "{path}");
        assert_eq!(headers["content-type"], content_type, "{path}");
        let csp = headers["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe"), "{csp}");
        assert_eq!(headers["cache-control"], "no-cache");
        assert_eq!(headers["x-content-type-options"], "nosniff");
    }
    let (status, _, body) = call(server, "GET", "/ui/secrets.txt", None, None);
    assert_eq!((status, &body["error"]["code"]), (404, &json!("not_found")), "{body}");
}

/// Jobs, triggers and runs for the pages: returns the executing Spark run's id.
fn seed(server: &Server, admin: &str) -> i64 {
    let noop = |name: &str, triggers: Value| {
        ok(
            server,
            "PUT",
            &format!("/v1/scheduler/jobs/dash/{name}"),
            admin,
            Some(json!({"kind": "noop", "description": format!("dashboard test: {name}"), "triggers": triggers})),
        )
    };
    noop(
        "report",
        json!([
            {"group": "dash", "name": "hourly", "cron": "0 0 * * * ?", "timezone": "UTC"},
            {"group": "dash", "name": "weekdays", "cron": "0 0 12 ? * MON-FRI", "timezone": "Europe/Rome"}
        ]),
    );
    noop("nightly", json!([{"group": "dash", "name": "nightly", "cron": "0 30 2 * * ?", "timezone": "Europe/Rome"}]));
    noop("burst", json!([{"group": "dash", "name": "burst", "simple": {"repeat_count": 19, "interval_ms": 50}}]));
    ok(server, "POST", "/v1/scheduler/triggers/dash/weekdays/pause", admin, None);
    let data = json!({
        "backend": "local", "jar": example_jar().display().to_string(), "className": "consort.examples.CountRange",
        "args": ["10", "ok", "600000"], "driverMemory": "512m"
    });
    ok(
        server,
        "PUT",
        "/v1/scheduler/jobs/spark/long",
        admin,
        Some(json!({"kind": "spark", "durable": true, "data": data})),
    );
    ok(server, "POST", "/v1/scheduler/jobs/spark/long/fire", admin, Some(json!({})));
    let deadline = Instant::now() + SPARK_WAIT;
    loop {
        let runs = ok(server, "GET", "/v1/scheduler/runs?job=spark.long", admin, None);
        if let Some(run) = runs["items"].as_array().unwrap().iter().find(|r| r["application_id"].is_string()) {
            assert_eq!(run["state"], "EXECUTING", "{run}");
            return run["id"].as_i64().unwrap();
        }
        assert!(Instant::now() < deadline, "the Spark application never started: {runs}");
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// Kills a run when dropped (a 409 for one that already ended is ignored).
struct KillOnDrop<'a> {
    server: &'a Server,
    token: &'a str,
    run: i64,
}

impl Drop for KillOnDrop<'_> {
    fn drop(&mut self) {
        let _ = call(self.server, "POST", &format!("/v1/scheduler/runs/{}/kill", self.run), Some(self.token), None);
    }
}

/// A member's COSE_Sign1 request, as `consort cleanroom` sends it.
fn signed(
    server: &Server,
    bearer: &str,
    key: &MemberKeyPair,
    header: RequestHeader,
    method: &str,
    path: &str,
    payload: Value,
) -> Value {
    let body = sign_request(key, &header, payload.to_string().as_bytes()).unwrap();
    runtime().block_on(async {
        let response = reqwest::Client::new()
            .request(method.parse().unwrap(), format!("{}{path}", server.url))
            .bearer_auth(bearer)
            .header("content-type", "application/cose")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let value: Value = response.json().await.unwrap();
        assert!(status.is_success(), "{} {path}: {status} {value}", header.msg_type);
        value
    })
}

/// The clean room `dash-room` of alice, bob and carol (each a member, and a user with a
/// `cleanroom` token of its own).
struct Room {
    tokens: Vec<(&'static str, String)>,
    keys: Vec<(&'static str, MemberKeyPair)>,
    /// erin's user credentials from alice: valid, revoked by bob, expired.
    erin: ErinCredentials,
    /// dave's `cleanroom` token: invited (pending, expired, and in the open proposal).
    dave: String,
}

#[derive(Default)]
struct ErinCredentials {
    valid: String,
    revoked: String,
    expired: String,
}

const ROOM: &str = "dash-room";

impl Room {
    fn token(&self, who: &str) -> &str {
        &self.tokens.iter().find(|(id, _)| *id == who).unwrap().1
    }

    #[allow(clippy::too_many_arguments)]
    fn member(
        &self,
        server: &Server,
        who: &str,
        msg_type: &str,
        proposal: Option<&str>,
        method: &str,
        rest: &str,
        payload: Value,
    ) -> Value {
        let key = &self.keys.iter().find(|(id, _)| *id == who).unwrap().1;
        let header = RequestHeader {
            member_id: who.into(),
            msg_type: msg_type.into(),
            cleanroom: ROOM.into(),
            created_at: jiff::Timestamp::now().as_second(),
            proposal_id: proposal.map(str::to_string),
            // A contract draft or a consent names its route's subject in the signed header.
            subject: matches!(msg_type, "contract" | "consent").then(|| rest.trim_start_matches('/').to_string()),
        };
        signed(server, self.token(who), key, header, method, &format!("/v1/cleanrooms/{ROOM}{rest}"), payload)
    }

    /// Alice proposes; `voters` accept.
    fn pass(&self, server: &Server, actions: Value, voters: &[&str]) -> String {
        let p = self.member(server, "alice", "proposal", None, "POST", "/proposals", json!({"actions": actions}));
        let id = p["id"].as_str().unwrap().to_string();
        for voter in voters {
            self.member(
                server,
                voter,
                "ballot",
                Some(&id),
                "POST",
                &format!("/proposals/{id}/ballots"),
                json!({"vote": "accept"}),
            );
        }
        id
    }

    fn user(&self, server: &Server, who: &str, method: &str, rest: &str, body: Option<Value>) -> Value {
        ok(server, method, &format!("/v1/cleanrooms/{ROOM}{rest}"), self.token(who), body)
    }

    fn publish(&self, server: &Server, who: &str, id: &str, body: Value) {
        self.user(server, who, "PUT", &format!("/documents/{id}"), Some(json!({"contract_id": "c1", "body": body})));
        self.user(server, who, "POST", &format!("/documents/{id}/propose"), None);
    }
}

/// Sets the clean room up through the API and starts a run of `q-city`; returns the room and
/// the run's id. `q-second` waits for alice's ballot (cast in the browser).
fn clean_room(server: &Server, admin: &str) -> (Room, String) {
    let mut room = Room { tokens: Vec::new(), keys: Vec::new(), erin: ErinCredentials::default(), dave: String::new() };
    for id in ["alice", "bob", "carol"] {
        room.tokens.push((id, token(server, admin, &format!("{ROOM}-{id}"), "cleanroom")));
        room.keys.push((id, MemberKeyPair::generate(KeyAlgorithm::EcdsaP256).unwrap()));
    }
    let pem = |id: &str| room.keys.iter().find(|(k, _)| *k == id).unwrap().1.public_key().to_pem();
    let init = json!({"name": ROOM, "member_id": "alice", "member_public_key_pem": pem("alice"),
        "user": {"id": "alice", "principal": format!("{ROOM}-alice")}});
    let header = RequestHeader {
        member_id: "alice".into(),
        msg_type: "cleanroom.init".into(),
        cleanroom: ROOM.into(),
        created_at: jiff::Timestamp::now().as_second(),
        proposal_id: None,
        subject: None,
    };
    signed(server, admin, &room.keys[0].1, header, "POST", "/v1/cleanrooms", init);
    for (id, voters) in [("bob", vec!["alice"]), ("carol", vec!["alice", "bob"])] {
        let actions = json!([{"action": "add_member", "id": id, "public_key_pem": pem(id)},
                             {"action": "add_user", "id": id, "principal": format!("{ROOM}-{id}")}]);
        room.pass(server, actions, &voters);
    }
    // erin, a user with no token (only the credentials alice issues her), and dave, invited:
    // once to accept in the browser, once with a lifetime that is over by then.
    let invite = |id: &str, user: &str, ttl: Option<i64>| {
        let mut a =
            json!({"action": "invite_user", "invitation_id": id, "id": user, "principal": format!("{ROOM}-dave")});
        if let Some(ttl) = ttl {
            a["expires_in_s"] = json!(ttl);
        }
        a
    };
    room.pass(
        server,
        json!([{"action": "add_user", "id": "erin", "principal": format!("{ROOM}-erin")},
               invite("inv-dave", "dave", None), invite("inv-dave-late", "dave-late", Some(1))]),
        &["alice", "bob", "carol"],
    );
    room.dave = token(server, admin, &format!("{ROOM}-dave"), "cleanroom");
    let now = jiff::Timestamp::now().as_second();
    let alice_key = &room.keys[0].1;
    let issue = |id: &str, created_at: i64| {
        consort_governance::credentials::issue(alice_key, "alice", ROOM, "erin", id, created_at, 3_600).unwrap()
    };
    room.erin = ErinCredentials {
        valid: issue("cred-erin", now),
        revoked: issue("cred-erin-revoked", now),
        expired: issue("cred-erin-old", now - 7_200),
    };
    room.member(
        server,
        "bob",
        "credential.revoke",
        None,
        "POST",
        "/credentials/revocations",
        json!({"credential_id": "cred-erin-revoked"}),
    );
    room.member(server, "alice", "contract", None, "PUT", "/contracts/c1", json!({"data": {"purpose": "overlap"}}));
    room.pass(
        server,
        json!([{"action": "set_contract", "contract_id": "c1", "version": 1}]),
        &["alice", "bob", "carol"],
    );

    let lake = server.data.join("lake");
    let csv = |name: &str, rows: &str| {
        let dir = lake.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("part-0.csv"), rows).unwrap();
        format!("file://{}", dir.display())
    };
    let string = |n: &str| json!({"name": n, "type": "string"});
    let customers = csv("customers", "a@x,Rome\nb@x,Milan\nc@x,Rome\n");
    let purchases = csv("purchases", "a@x,10\nb@x,20\nc@x,30\n");
    room.publish(
        server,
        "alice",
        "customers",
        json!({"kind": "dataset", "location": customers, "format": "csv",
        "schema": [string("email"), string("city")], "allowed_fields": ["email", "city"]}),
    );
    room.publish(
        server,
        "bob",
        "purchases",
        json!({"kind": "dataset", "location": purchases, "format": "csv",
        "schema": [string("email"), {"name": "amount", "type": "integer"}], "allowed_fields": ["email", "amount"]}),
    );
    let sink = format!("file://{}", lake.join("results").display());
    room.publish(
        server,
        "carol",
        "results",
        json!({"kind": "sink", "location": sink, "format": "csv",
        "allowed_fields": ["city", "buyers"]}),
    );
    let query = |sql: &str| {
        json!({"kind": "query", "segments": [{"execution_order": 1, "sql": sql}],
            "inputs": [{"dataset": "customers", "view": "customers"}, {"dataset": "purchases", "view": "purchases"}],
            "sink": "results"})
    };
    room.publish(
        server,
        "carol",
        "q-city",
        query(
            "SELECT c.city, count(*) AS buyers FROM customers c JOIN purchases p \
        ON c.email = p.email GROUP BY c.city",
        ),
    );
    room.publish(
        server,
        "carol",
        "q-second",
        query("SELECT c.city, count(*) AS buyers FROM customers c GROUP BY c.city"),
    );
    for voter in ["alice", "bob"] {
        room.user(server, voter, "POST", "/documents/q-city/ballots", Some(json!({"vote": "accept"})));
    }
    room.user(server, "bob", "POST", "/documents/q-second/ballots", Some(json!({"vote": "accept"})));
    // erin's draft, written with her credential; she proposes it in the browser.
    let notes = csv("erin-notes", "Rome,1\n");
    let draft = json!({"contract_id": "c1", "body": {"kind": "dataset", "location": notes, "format": "csv",
        "schema": [string("city"), string("note")], "allowed_fields": ["city"]}});
    ok(server, "PUT", &format!("/v1/cleanrooms/{ROOM}/documents/erin-notes"), &room.erin.valid, Some(draft));
    // An open proposal: alice's, with no ballot yet (it would invite dave once more).
    room.member(
        server,
        "alice",
        "proposal",
        None,
        "POST",
        "/proposals",
        json!({"actions": [{"action": "set_setting", "name": "retention_days", "value": 30},
                           invite("inv-dave-next", "dave-next", None)]}),
    );
    room.user(server, "alice", "POST", "/prepare", None);
    let run = room.user(server, "carol", "POST", "/queries/q-city/run", None);
    (room, run["id"].as_str().unwrap().to_string())
}

/// Waits for a clean-room run to end.
fn wait_for_room_run(server: &Server, room: &Room, run: &str) -> Value {
    let deadline = Instant::now() + SPARK_WAIT;
    loop {
        let view = room.user(server, "carol", "GET", &format!("/runs/{run}"), None);
        if !matches!(view["state"].as_str(), Some("STARTING" | "RUNNING")) {
            return view;
        }
        assert!(Instant::now() < deadline, "clean-room run {run} did not end: {view}");
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// The clean-room routes the pages added refuse what they must; a run shows what it needs.
fn check_room_routes(server: &Server, room: &Room, viewer: &str, outsider: &str, run: &Value) {
    let path = format!("/v1/cleanrooms/{ROOM}/documents/q-city/approval");
    let (status, headers, body) = call(server, "GET", &path, None, None);
    assert_eq!(status, 401, "{body}");
    assert!(headers.contains_key("www-authenticate"));
    let (status, _, body) = call(server, "GET", &path, Some(viewer), None);
    assert_eq!((status, &body["error"]["code"]), (403, &json!("forbidden")), "a viewer: {body}");
    let (status, _, body) = call(server, "GET", &path, Some(outsider), None);
    assert_eq!(status, 403, "a cleanroom principal of no party: {body}");
    let (status, _, body) =
        call(server, "GET", &format!("/v1/cleanrooms/{ROOM}/documents/nope/approval"), Some(room.token("bob")), None);
    assert_eq!(status, 404, "{body}");
    let approvals = room.user(server, "bob", "GET", "/documents/q-city/approval", None);
    let approvers: Vec<&str> =
        approvals["items"].as_array().unwrap().iter().map(|a| a["approver"].as_str().unwrap()).collect();
    assert_eq!(approvers, ["alice", "bob", "carol"], "{approvals}");
    assert!(
        approvals["items"].as_array().unwrap().iter().all(|a| a["approved"] == true && a["withdrawn"] == false),
        "{approvals}"
    );
    // A run names what it needs: every owner's approval, consent on the query, inputs, sink, contract.
    assert_eq!(run["approvers"], json!(["alice", "bob", "carol"]), "{run}");
    let subjects: Vec<String> = run["consent"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| format!("{}/{}", s["kind"].as_str().unwrap(), s["id"].as_str().unwrap()))
        .collect();
    assert_eq!(
        subjects,
        ["document/q-city", "document/customers", "document/purchases", "document/results", "contract/c1"],
        "{run}"
    );
    // The invitations addressed to the caller: no token, a viewer, a user credential refused.
    let (status, _, body) = call(server, "GET", "/v1/invitations", None, None);
    assert_eq!(status, 401, "{body}");
    let (status, _, body) = call(server, "GET", "/v1/invitations", Some(viewer), None);
    assert_eq!((status, &body["error"]["code"]), (403, &json!("forbidden")), "a viewer: {body}");
    let (status, _, body) = call(server, "GET", "/v1/invitations", Some(&room.erin.valid), None);
    assert_eq!((status, &body["error"]["code"]), (403, &json!("credential_scope")), "a credential: {body}");
    let mine = ok(server, "GET", "/v1/invitations", &room.dave, None);
    let standing: Vec<(&str, &str)> = mine["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["id"].as_str().unwrap(), i["standing"].as_str().unwrap()))
        .collect();
    assert_eq!(
        standing,
        [("inv-dave", "Pending"), ("inv-dave-late", "Expired"), ("inv-dave-next", "Proposed")],
        "{mine}"
    );
    let theirs = ok(server, "GET", "/v1/invitations", outsider, None);
    assert_eq!(theirs["items"], json!([]), "another identity sees none: {theirs}");
    let (_, _, doc) = call(server, "GET", "/openapi.json", None, None);
    assert!(doc["paths"]["/v1/cleanrooms/{cleanroom}/documents/{id}/approval"]["get"]["security"].is_array());
    assert!(doc["paths"]["/v1/invitations"]["get"]["security"].is_array(), "the invitations route is documented");
    assert!(
        doc["components"]["schemas"]["Run"]["properties"]["spark_ui_url"].is_object(),
        "spark_ui_url is documented"
    );
}

/// The executing local run's Spark UI: its address is the running driver's, and it answers.
fn check_spark_ui(server: &Server, viewer: &str, run: i64) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    let url = loop {
        let view = ok(server, "GET", &format!("/v1/scheduler/runs/{run}"), viewer, None);
        if let Some(url) = view["spark_ui_url"].as_str() {
            break url.to_string();
        }
        assert!(Instant::now() < deadline, "no Spark UI address for the executing local run: {view}");
        std::thread::sleep(Duration::from_millis(500));
    };
    assert!(url.starts_with("http://127.0.0.1:"), "the local driver's UI, on loopback: {url}");
    // The driver logs the UI's address when its server listens, a moment before the pages are
    // attached (until then it answers 404): wait for the page, not for the port.
    let answers = Instant::now() + Duration::from_secs(30);
    loop {
        let status =
            runtime().block_on(async { reqwest::get(format!("{url}/jobs/")).await.map(|r| r.status().as_u16()) });
        if status.as_ref().ok() == Some(&200) {
            break;
        }
        assert!(Instant::now() < answers, "Spark's UI at {url} answers: {status:?}");
        std::thread::sleep(Duration::from_millis(250));
    }
    let listed = ok(server, "GET", "/v1/scheduler/runs?job=spark.long", viewer, None);
    assert!(listed["items"][0]["spark_ui_url"].is_null(), "lists do not ask the backend: {listed}");
    url
}

#[test]
fn every_page_and_action_in_chromium() {
    let chromium = PathBuf::from("/usr/bin/chromium");
    let driver = cache_dir().join("node/browser/node_modules/playwright-core");
    assert!(
        chromium.exists() && driver.exists(),
        "chromium or playwright-core is missing ({} / {}): run scripts/setup (48-browser.sh)",
        chromium.display(),
        driver.display()
    );
    let server = Server::start();
    let admin = server.admin_token();
    let viewer = token(&server, &admin, "dash-viewer", "viewer");
    let provisioner = token(&server, &admin, "dash-provisioner", "provisioner");
    check_routes(&server, &admin, &viewer, &provisioner);
    let spark_run = seed(&server, &admin);
    // A failed run of this test must not leave the 10-minute Spark application behind (local
    // runs outlive the server by design).
    let _stop_spark = KillOnDrop { server: &server, token: &admin, run: spark_run };
    let spark_ui = check_spark_ui(&server, &viewer, spark_run);
    let (room, room_run) = clean_room(&server, &admin);
    let outsider = token(&server, &admin, "dash-outsider", "cleanroom");
    let ended = wait_for_room_run(&server, &room, &room_run);
    assert_eq!(ended["state"], "SUCCEEDED", "{ended}");
    assert!(ended["receipt"].is_object(), "{ended}");
    check_room_routes(&server, &room, &viewer, &outsider, &ended);

    let artifacts = cache_dir().join("artifacts/dashboard");
    let _ = std::fs::remove_dir_all(&artifacts);
    std::fs::create_dir_all(&artifacts).unwrap();
    let profile = tempfile::tempdir().unwrap();
    let output = Command::new("node")
        .arg(repo_root().join("tests/browser/dashboard.mjs"))
        .env("CONSORT_URL", &server.url)
        .env("CONSORT_ADMIN_TOKEN", &admin)
        .env("CONSORT_VIEWER_TOKEN", &viewer)
        .env("CONSORT_SPARK_RUN", spark_run.to_string())
        .env("CONSORT_SPARK_UI", &spark_ui)
        .env("CONSORT_ARTIFACTS", &artifacts)
        .env("CONSORT_PROFILE", profile.path())
        .env("CONSORT_PLAYWRIGHT", &driver)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    eprintln!("{stderr}");
    println!("dashboard screenshots: {}", artifacts.display());
    assert!(output.status.success(), "the browser script failed:\n{stdout}\n{stderr}");
    for step in [
        "signin-refused",
        "signin",
        "jobs-explained",
        "pause",
        "resume",
        "fire-now",
        "job-component",
        "runs-live",
        "run-log",
        "spark-ui",
        "kill",
        "cluster",
        "chart",
        "viewer-no-buttons",
        "signout",
    ] {
        assert!(stdout.lines().any(|l| l == format!("STEP {step} ok")), "step {step} did not pass:\n{stdout}");
    }
    for shot in ["signin-refused.png", "jobs.png", "runs.png", "cluster.png", "viewer-jobs.png"] {
        let size = std::fs::metadata(artifacts.join(shot)).map(|m| m.len()).unwrap_or(0);
        assert!(size > 1000, "screenshot {shot} missing or empty");
    }

    // The effects, read back once more through the API.
    let nightly = ok(&server, "GET", "/v1/scheduler/triggers/dash/nightly", &viewer, None);
    assert_eq!(nightly["state"], "PAUSED", "{nightly}");
    let weekdays = ok(&server, "GET", "/v1/scheduler/triggers/dash/weekdays", &viewer, None);
    assert_eq!(weekdays["state"], "WAITING", "{weekdays}");
    let fired = ok(&server, "GET", "/v1/scheduler/runs?job=dash.report", &viewer, None);
    assert!(
        fired["items"].as_array().unwrap().iter().any(|r| r["trigger"]["group"] == "MANUAL_TRIGGER"),
        "no fire-now run of dash.report: {fired}"
    );
    let killed = ok(&server, "GET", &format!("/v1/scheduler/runs/{spark_run}"), &viewer, None);
    assert_eq!(killed["state"], "FAILED", "{killed}");
    assert!(killed["error"].as_str().unwrap_or("").contains("kill"), "{killed}");
    // ---- the clean-room pages -----------------------------------------------------------
    let output = Command::new("node")
        .arg(repo_root().join("tests/browser/rooms.mjs"))
        .env("CONSORT_URL", &server.url)
        .env("CONSORT_ADMIN_TOKEN", &admin)
        .env("CONSORT_VIEWER_TOKEN", &viewer)
        .env("CONSORT_OUTSIDER_TOKEN", &outsider)
        .env("CONSORT_ALICE_TOKEN", room.token("alice"))
        .env("CONSORT_DAVE_TOKEN", &room.dave)
        .env("CONSORT_ERIN_CREDENTIAL", &room.erin.valid)
        .env("CONSORT_ERIN_REVOKED", &room.erin.revoked)
        .env("CONSORT_ERIN_EXPIRED", &room.erin.expired)
        .env("CONSORT_ROOM", ROOM)
        .env("CONSORT_ROOM_RUN", &room_run)
        .env("CONSORT_ARTIFACTS", &artifacts)
        .env("CONSORT_PROFILE", tempfile::tempdir().unwrap().path())
        .env("CONSORT_PLAYWRIGHT", &driver)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("{stdout}");
    eprintln!("{}", String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "the clean-room browser script failed:\n{stdout}");
    for step in [
        "rooms-load",
        "rooms-parties",
        "rooms-proposals",
        "rooms-documents",
        "document-vote",
        "consent-toggle",
        "run-checklist",
        "approval-withdraw",
        "approval-give-back",
        "run-receipt",
        "ledger-verify",
        "receipt-tampered",
        "credential-signin",
        "credential-publish",
        "credential-consent",
        "credential-refused",
        "invitations-mine",
        "invitation-accept",
        "invitations-room",
        "rooms-read-only",
        "rooms-refused",
    ] {
        assert!(stdout.lines().any(|l| l == format!("STEP {step} ok")), "step {step} did not pass:\n{stdout}");
    }
    for shot in ["rooms.png", "room-run.png", "rooms-admin.png", "rooms-credential.png", "rooms-invited.png"] {
        let size = std::fs::metadata(artifacts.join(shot)).map(|m| m.len()).unwrap_or(0);
        assert!(size > 1000, "screenshot {shot} missing or empty");
    }
    // The effects, read back once more: alice's ballot, her approval given back, her logging on.
    let q = room.user(&server, "bob", "GET", "/documents/q-second", None);
    assert_eq!((&q["state"], &q["ballots"]["alice"]), (&json!("Accepted"), &json!("accept")), "{q}");
    let approvals = room.user(&server, "bob", "GET", "/documents/q-city/approval", None);
    let alice = approvals["items"].as_array().unwrap().iter().find(|a| a["approver"] == "alice").unwrap().clone();
    assert_eq!((&alice["approved"], &alice["withdrawn"]), (&json!(true), &json!(false)), "{approvals}");
    let consent = room.user(&server, "bob", "GET", "/consent/document/customers", None);
    let logging = consent["options"].as_array().unwrap().iter().find(|o| o["option"] == "logging").unwrap().clone();
    assert!(!logging["off_by"].as_array().unwrap().contains(&json!("user:alice")), "{consent}");
    let ledger = room.user(&server, "bob", "GET", "/ledger?limit=10000", None);
    let approval_entries = ledger["items"].as_array().unwrap().iter().filter(|e| e["kind"] == "approval").count();
    assert!(approval_entries >= 2, "the withdrawal and the approval given back are in the ledger: {approval_entries}");
    // erin's acts with her credential: her dataset proposed (so accepted), her telemetry consent on.
    let notes = room.user(&server, "bob", "GET", "/documents/erin-notes", None);
    assert_eq!((&notes["state"], &notes["owner"]), (&json!("Accepted"), &json!("erin")), "{notes}");
    let consent = room.user(&server, "bob", "GET", "/consent/contract/c1", None);
    let telemetry = consent["options"].as_array().unwrap().iter().find(|o| o["option"] == "telemetry").unwrap().clone();
    assert!(!telemetry["off_by"].as_array().unwrap().contains(&json!("user:erin")), "{consent}");
    // dave accepted his invitation in the browser: an active user, the invitation used.
    let users = room.user(&server, "bob", "GET", "/users", None);
    assert!(users["items"].as_array().unwrap().iter().any(|u| u["id"] == "dave" && u["status"] == "active"), "{users}");
    let invitations = room.user(&server, "bob", "GET", "/invitations", None);
    let dave = invitations["items"].as_array().unwrap().iter().find(|i| i["id"] == "inv-dave").unwrap().clone();
    assert_eq!(dave["state"], "Accepted", "{invitations}");
    // The refused credentials' sign-ins are in the ledger with their codes.
    let refused: Vec<String> = ledger["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "refused")
        .filter_map(|e| serde_json::from_str::<Value>(e["body"].as_str()?).ok()?["code"].as_str().map(str::to_string))
        .collect();
    for code in ["credential_revoked", "credential_expired"] {
        assert!(refused.iter().any(|c| c == code), "{code} in the ledger: {refused:?}");
    }

    // The viewer's session changed nothing: its refusals are in the audit trail only if it tried.
    let audit = ok(&server, "GET", "/v1/audit?limit=1000", &admin, None);
    let by_viewer = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["principal"] == "token:dash-viewer" && r["method"] != "GET")
        .count();
    assert_eq!(by_viewer, 0, "the viewer's page sent writes: {audit}");
}
