//! Clean-room runs end to end: the real `consort serve` (SQLite, local Spark, a simulated TEE)
//! and the governed PySpark runner it ships. Three parties — two dataset owners and the sink's
//! owner — agree on a query; the runner attests, gets its keys through its grant, reads only
//! the allowed columns and writes only the sink's; consent withdrawn mid-run stops the job.
//! On the real object-store emulators too: datasets on S3 (moto) and Azure Blob (azurite), the
//! sink on S3, each read and written with its owner's key released only to the attested runner.

mod serve;
#[path = "../../storage/tests/support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use consort_signing::{KeyAlgorithm, MemberKeyPair, RequestHeader, sign_request};
use reqwest::Method;
use serde_json::{Value, json};

/// A `consort serve` on a fresh data directory with a simulated TEE; stopped when dropped.
struct Server {
    process: serve::Process,
    url: String,
    dir: PathBuf,
    admin: String,
}

impl Server {
    fn start() -> Server {
        // One directory per server: the tests of this binary run side by side.
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("consort-cleanroom-spark-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let config = dir.join("consort.toml");
        std::fs::write(
            &config,
            format!("[cleanroom]\nsimulated_tee_key_file = \"{}\"\n", dir.join("tee.key").display()),
        )
        .unwrap();
        let process = serve::Serve::new(dir.join("data"))
            .config(&config)
            .log(dir.join("server.log"))
            .env("SPARK_LOCAL_IP", "127.0.0.1")
            .start();
        let (url, admin) = (process.url.clone(), process.admin_token());
        Server { process, url, dir, admin }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.process.terminate();
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

struct Party {
    id: &'static str,
    key: MemberKeyPair,
    token: String,
}

struct Room<'a> {
    server: &'a Server,
    http: reqwest::Client,
    name: String,
    parties: Vec<Party>,
}

impl Room<'_> {
    fn party(&self, id: &str) -> &Party {
        self.parties.iter().find(|p| p.id == id).unwrap()
    }

    fn path(&self, rest: &str) -> String {
        format!("{}/v1/cleanrooms/{}{rest}", self.server.url, self.name)
    }

    async fn call(&self, method: Method, url: &str, token: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self.http.request(method, url).bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    async fn user(&self, who: &str, method: Method, rest: &str, body: Option<Value>) -> (u16, Value) {
        self.call(method, &self.path(rest), &self.party(who).token, body).await
    }

    async fn signed(
        &self,
        who: &str,
        method: Method,
        url: &str,
        msg_type: &str,
        proposal: Option<&str>,
        payload: Value,
    ) -> Value {
        let party = self.party(who);
        let header = RequestHeader {
            member_id: who.into(),
            msg_type: msg_type.into(),
            cleanroom: self.name.clone(),
            created_at: jiff::Timestamp::now().as_second(),
            proposal_id: proposal.map(str::to_string),
            // A contract draft or a consent names its route's subject in the signed header.
            subject: matches!(msg_type, "contract" | "consent")
                .then(|| url.split_once(&format!("/v1/cleanrooms/{}/", self.name)).map(|(_, rest)| rest.to_string()))
                .flatten(),
        };
        let body = sign_request(&party.key, &header, payload.to_string().as_bytes()).unwrap();
        let response = self
            .http
            .request(method, url)
            .bearer_auth(if msg_type == "cleanroom.init" { &self.server.admin } else { &party.token })
            .header("content-type", "application/cose")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let value: Value = response.json().await.unwrap();
        assert!(status.is_success(), "{msg_type}: {status} {value}");
        value
    }

    /// Proposes `actions` as alice; every current member accepts.
    async fn pass(&self, actions: Value, voters: &[&str]) {
        let p = self
            .signed("alice", Method::POST, &self.path("/proposals"), "proposal", None, json!({"actions": actions}))
            .await;
        let id = p["id"].as_str().unwrap().to_string();
        for voter in voters {
            let url = self.path(&format!("/proposals/{id}/ballots"));
            self.signed(voter, Method::POST, &url, "ballot", Some(&id), json!({"vote": "accept"})).await;
        }
    }

    async fn secret(&self, who: &str, name: &str, value: Value) {
        use base64::Engine;
        let body = json!({"value": base64::engine::general_purpose::STANDARD.encode(value.to_string())});
        let (status, answer) = self.user(who, Method::PUT, &format!("/secrets/{name}"), Some(body)).await;
        assert_eq!(status, 204, "{answer}");
    }

    async fn publish(&self, who: &str, id: &str, body: Value) {
        let (status, doc) = self
            .user(who, Method::PUT, &format!("/documents/{id}"), Some(json!({"contract_id": "c1", "body": body})))
            .await;
        assert_eq!(status, 200, "{doc}");
        let (status, doc) = self.user(who, Method::POST, &format!("/documents/{id}/propose"), None).await;
        assert_eq!(status, 200, "{doc}");
    }

    /// Polls the run until it ends.
    async fn wait(&self, run: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(240);
        loop {
            let (status, view) = self.user("carol", Method::GET, &format!("/runs/{run}"), None).await;
            assert_eq!(status, 200, "{view}");
            let state = view["state"].as_str().unwrap();
            if !matches!(state, "STARTING" | "RUNNING") {
                return view;
            }
            assert!(Instant::now() < deadline, "run {run} did not end: {view}\n{}", self.log());
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.server.dir.join("server.log")).unwrap_or_default()
    }
}

async fn token(server: &Server, http: &reqwest::Client, name: &str) -> String {
    // Carol schedules queries too: the scheduler's operator role besides the clean room's.
    let roles = if name.ends_with("-carol") { json!(["cleanroom", "operator"]) } else { json!(["cleanroom"]) };
    let response = http
        .post(format!("{}/v1/tokens", server.url))
        .bearer_auth(&server.admin)
        .json(&json!({"name": name, "roles": roles}))
        .send()
        .await
        .unwrap();
    let created: Value = response.json().await.unwrap();
    created["secret"].as_str().unwrap_or_else(|| panic!("{created}")).to_string()
}

fn write_csv(dir: &Path, name: &str, rows: &str) -> String {
    let path = dir.join(name);
    std::fs::create_dir_all(&path).unwrap();
    std::fs::write(path.join("part-0.csv"), rows).unwrap();
    format!("file://{}", path.display())
}

/// A clean room `name` of alice, bob and carol (each a member and a user with its own token),
/// with the contract `c1` all three accepted.
async fn three_parties<'a>(server: &'a Server, name: &str) -> Room<'a> {
    let http = reqwest::Client::new();
    let mut parties = Vec::new();
    for id in ["alice", "bob", "carol"] {
        let token = token(server, &http, &format!("{name}-{id}")).await;
        parties.push(Party { id, key: MemberKeyPair::generate(KeyAlgorithm::EcdsaP256).unwrap(), token });
    }
    let room = Room { server, http, name: name.into(), parties };
    let pem = |id: &str| room.party(id).key.public_key().to_pem();
    let init = json!({"name": name, "member_id": "alice", "member_public_key_pem": pem("alice"),
        "user": {"id": "alice", "principal": format!("{name}-alice")}});
    room.signed("alice", Method::POST, &format!("{}/v1/cleanrooms", server.url), "cleanroom.init", None, init).await;
    for (id, voters) in [("bob", vec!["alice"]), ("carol", vec!["alice", "bob"])] {
        let actions = json!([{"action": "add_member", "id": id, "public_key_pem": pem(id)},
                             {"action": "add_user", "id": id, "principal": format!("{name}-{id}")}]);
        room.pass(actions, &voters).await;
    }
    room.signed(
        "alice",
        Method::PUT,
        &room.path("/contracts/c1"),
        "contract",
        None,
        json!({"data": {"purpose": "overlap"}}),
    )
    .await;
    room.pass(json!([{"action": "set_contract", "contract_id": "c1", "version": 1}]), &["alice", "bob", "carol"]).await;
    room
}

/// Alice's customers and Bob's purchases, joined for Carol: the overlap per city.
async fn room<'a>(server: &'a Server, name: &str, data: &Path) -> Room<'a> {
    let room = three_parties(server, name).await;

    let customers =
        write_csv(data, "customers", "a@x,alice-a,Rome\nb@x,alice-b,Milan\nc@x,alice-c,Rome\nd@x,alice-d,Turin\n");
    let purchases = write_csv(data, "purchases", "a@x,10\nb@x,20\nc@x,30\ne@x,40\n");
    let string = |n: &str| json!({"name": n, "type": "string"});
    room.publish(
        "alice",
        "customers",
        json!({"kind": "dataset", "location": customers, "format": "csv",
        "schema": [string("email"), string("name"), string("city")], "allowed_fields": ["email", "city"]}),
    )
    .await;
    room.publish(
        "bob",
        "purchases",
        json!({"kind": "dataset", "location": purchases, "format": "csv",
        "schema": [string("email"), {"name": "amount", "type": "integer"}], "allowed_fields": ["email", "amount"]}),
    )
    .await;
    let sink = format!("file://{}", data.join("results").display());
    room.publish(
        "carol",
        "results",
        json!({"kind": "sink", "location": sink, "format": "csv",
        "allowed_fields": ["city", "buyers", "spent"]}),
    )
    .await;
    room
}

/// Carol's query (SQL selecting `email` too, which the sink does not allow), accepted by all.
async fn query(room: &Room<'_>, id: &str, segments: Value) {
    room.publish(
        "carol",
        id,
        json!({"kind": "query", "segments": segments,
        "inputs": [{"dataset": "customers", "view": "customers"}, {"dataset": "purchases", "view": "purchases"}],
        "sink": "results"}),
    )
    .await;
    for voter in ["alice", "bob"] {
        let (status, doc) =
            room.user(voter, Method::POST, &format!("/documents/{id}/ballots"), Some(json!({"vote": "accept"}))).await;
        assert_eq!(status, 200, "{doc}");
    }
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(files_under(&path));
        } else {
            found.push(path);
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_parties_run_a_query_on_spark_through_the_governed_runner() {
    let server = Server::start();
    let data = server.dir.join("lake");
    let room = room(&server, "overlap", &data).await;
    query(
        &room,
        "q-city",
        json!([{"execution_order": 1, "sql": "SELECT c.email, c.city, count(*) AS buyers, sum(p.amount) AS spent \
            FROM customers c JOIN purchases p ON c.email = p.email GROUP BY c.email, c.city",
            "preconditions": [{"view": "purchases", "min_rows": 2}]},
               {"execution_order": 2, "sql": "SELECT city, sum(buyers) AS buyers, sum(spent) AS spent, min(email) AS email \
            FROM segment1 GROUP BY city", "post_filters": [{"column": "buyers", "min": 1.0}]}]),
    )
    .await;
    let (status, prepared) = room.user("alice", Method::POST, "/prepare", None).await;
    assert_eq!(status, 200, "{prepared}");
    let started = Instant::now();
    let (status, run) = room.user("carol", Method::POST, "/queries/q-city/run", None).await;
    assert_eq!(status, 201, "{run}");
    let run_id = run["id"].as_str().unwrap().to_string();
    let done = room.wait(&run_id).await;
    eprintln!("clean-room run end to end: {:.1} s", started.elapsed().as_secs_f64());
    assert_eq!(done["state"], "SUCCEEDED", "{done}\n{}", room.log());
    assert_eq!(done["rows_written"], 2, "Rome and Milan: {done}");
    assert_eq!(done["rows_read"], 8, "{done}");
    assert!(done["receipt"].is_object(), "the end has a receipt: {done}");
    let output = done["output"].as_str().unwrap().trim_start_matches("file://").to_string();
    assert!(output.ends_with(&run_id), "{output}");
    let mut rows = Vec::new();
    for file in files_under(Path::new(&output)) {
        if file.extension().is_some_and(|e| e == "csv") {
            rows.extend(std::fs::read_to_string(&file).unwrap().lines().map(str::to_string));
        }
    }
    rows.sort();
    assert_eq!(rows.len(), 2, "{rows:?}");
    let written = rows.join("\n");
    assert!(
        !written.contains("@x"),
        "email, selected by the SQL but not allowed in the sink, never reaches it: {written}"
    );
    assert!(written.contains("Rome") && written.contains("40"), "{written}");
    assert!(
        !written.contains("alice-"),
        "a column outside the dataset's allowedFields is never even loaded: {written}"
    );

    // The same query scheduled like any other job: each fire runs the whole checklist as the
    // user who scheduled it. Nobody schedules a query in another party's name.
    let job = |run_as: &str| {
        json!({"kind": "cleanroom", "data": {"cleanroom": "overlap", "query": "q-city", "runAs": run_as},
            "triggers": [{"name": "now", "once": true}]})
    };
    let jobs = format!("{}/v1/scheduler/jobs/cleanroom-overlap/nightly", server.url);
    let (status, refused) = room.call(Method::PUT, &jobs, &server.admin, Some(job("overlap-carol"))).await;
    assert_eq!((status, refused["error"]["code"].as_str()), (403, Some("forbidden")), "{refused}");
    let (status, stored) = room.call(Method::PUT, &jobs, &room.party("carol").token, Some(job("overlap-carol"))).await;
    assert_eq!(status, 200, "{stored}");
    let deadline = Instant::now() + Duration::from_secs(120);
    let scheduled = loop {
        let (_, list) = room.user("carol", Method::GET, "/runs?query=q-city", None).await;
        let items = list["items"].as_array().unwrap();
        if let Some(run) = items.iter().find(|r| r["id"] != json!(run_id)) {
            break run["id"].as_str().unwrap().to_string();
        }
        assert!(Instant::now() < deadline, "the scheduled query never started: {list}\n{}", room.log());
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    let done = room.wait(&scheduled).await;
    assert_eq!(
        (done["state"].as_str(), done["requested_by"].as_str()),
        (Some("SUCCEEDED"), Some("user:carol")),
        "{done}"
    );
    assert_eq!(done["rows_written"], 2, "{done}");

    // Consent withdrawn mid-run: the run is revoked and its application killed; nothing written.
    let slow = (1..=40)
        .map(|n| {
            json!({"execution_order": n, "sql": if n == 40 {
                "SELECT city, count(*) AS buyers, 0 AS spent FROM customers GROUP BY city".to_string()
            } else {
                format!("SELECT count(*) AS n{n} FROM customers CROSS JOIN purchases")
            }})
        })
        .collect::<Vec<_>>();
    query(&room, "q-slow", json!(slow)).await;
    let (status, run) = room.user("carol", Method::POST, "/queries/q-slow/run", None).await;
    assert_eq!(status, 201, "{run}");
    let slow_id = run["id"].as_str().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let (_, view) = room.user("carol", Method::GET, &format!("/runs/{slow_id}"), None).await;
        if view["state"] == "RUNNING" && !view["segments"].as_array().unwrap().is_empty() {
            break;
        }
        assert!(view["state"] == "STARTING" || view["state"] == "RUNNING", "{view}\n{}", room.log());
        assert!(Instant::now() < deadline, "the slow run never got going: {view}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (status, consent) =
        room.user("bob", Method::PUT, "/consent/document/purchases/execution", Some(json!({"enabled": false}))).await;
    assert_eq!(status, 200, "{consent}");
    let stopped = room.wait(&slow_id).await;
    assert!(matches!(stopped["state"].as_str(), Some("REVOKED") | Some("STOPPED")), "{stopped}");
    assert!(stopped["segments"].as_array().unwrap().len() < 40, "it stopped before its last segment: {stopped}");
    let slow_output = data.join("results");
    let written: Vec<PathBuf> =
        files_under(&slow_output).into_iter().filter(|p| p.to_string_lossy().contains(&slow_id)).collect();
    assert!(written.is_empty(), "nothing of the revoked run was written: {written:?}");
    // And while consent is off, no new run starts.
    let (status, refused) = room.user("carol", Method::POST, "/queries/q-city/run", None).await;
    assert_eq!((status, refused["error"]["code"].as_str()), (403, Some("consent_withdrawn")), "{refused}");
}

/// The same three parties with their data on object stores: Alice's customers on S3, Bob's
/// purchases on Azure Blob, Carol's sink on S3, each readable only with its owner's key, which
/// only the attested runner of the run gets.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_over_s3_and_azure_blob_writes_to_s3() {
    let s3 = support::S3::start();
    let azure = support::Azurite::start();
    s3.create_bucket("lake").await;
    s3.create_bucket("results").await;
    azure.create_container("lake").await;
    s3.put("lake", "customers/part-0.csv", b"a@x,alice-a,Rome\nb@x,alice-b,Milan\nc@x,alice-c,Rome\n".to_vec()).await;
    azure.put("lake", "purchases/part-0.csv", b"a@x,10\nb@x,20\nc@x,30\n".to_vec()).await;

    let server = Server::start();
    let room = three_parties(&server, "stores").await;

    let s3_key =
        json!({"endpoint": s3.endpoint, "region": "us-east-1", "accessKeyId": "test", "secretAccessKey": "test"});
    room.secret("alice", "alice-s3", s3_key.clone()).await;
    room.secret("carol", "carol-s3", s3_key).await;
    room.secret(
        "bob",
        "bob-azure",
        json!({"endpoint": azure.endpoint, "account": support::AZURITE_ACCOUNT,
        "accountKey": support::AZURITE_KEY}),
    )
    .await;
    let string = |n: &str| json!({"name": n, "type": "string"});
    room.publish(
        "alice",
        "customers",
        json!({"kind": "dataset", "location": "s3://lake/customers", "format": "csv",
        "schema": [string("email"), string("name"), string("city")], "allowed_fields": ["email", "city"],
        "secrets": ["alice-s3"]}),
    )
    .await;
    room.publish(
        "bob",
        "purchases",
        json!({"kind": "dataset",
        "location": format!("abfs://lake@{}.dfs.core.windows.net/purchases", support::AZURITE_ACCOUNT), "format": "csv",
        "schema": [string("email"), {"name": "amount", "type": "integer"}], "allowed_fields": ["email", "amount"],
        "secrets": ["bob-azure"]}),
    )
    .await;
    room.publish(
        "carol",
        "results",
        json!({"kind": "sink", "location": "s3://results/overlap", "format": "json",
        "allowed_fields": ["city", "spent"], "secrets": ["carol-s3"]}),
    )
    .await;
    query(
        &room,
        "q-city",
        json!([{"execution_order": 1, "sql": "SELECT c.city, sum(p.amount) AS spent, min(c.email) AS email \
        FROM customers c JOIN purchases p ON c.email = p.email GROUP BY c.city"}]),
    )
    .await;
    let (status, prepared) = room.user("carol", Method::POST, "/prepare", None).await;
    assert_eq!(status, 200, "{prepared}");
    assert_eq!(prepared["keys"].as_array().unwrap().len(), 3, "every dataset's and sink's key is bound: {prepared}");
    let (status, run) = room.user("carol", Method::POST, "/queries/q-city/run", Some(json!({}))).await;
    assert_eq!(status, 201, "{run}");
    let id = run["id"].as_str().unwrap().to_string();
    let done = room.wait(&id).await;
    assert_eq!(done["state"], "SUCCEEDED", "{done}\n{}", room.log());
    assert_eq!(done["rows_written"], 2, "{done}");
    let output = done["output"].as_str().unwrap();
    assert!(output.starts_with("s3://results/overlap/") && output.ends_with(&id), "{output}");
    // Read the result back from S3 with Carol's key: two cities, no emails.
    let storage = consort_storage::Storage::from_uri(output, &s3.config()).await.unwrap();
    let mut text = String::new();
    for entry in storage.list(output).await.unwrap() {
        if !entry.is_dir && entry.uri.ends_with(".json") {
            text.push_str(std::str::from_utf8(&storage.read(&entry.uri).await.unwrap()).unwrap());
        }
    }
    let rows: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(rows.len(), 2, "{text}");
    assert!(rows.iter().all(|r| r.get("email").is_none() && r.get("city").is_some()), "{text}");
    let spent: i64 = rows.iter().map(|r| r["spent"].as_i64().unwrap()).sum();
    assert_eq!(spent, 60, "{text}");
    // No credential reached the server's log.
    let log = room.log();
    assert!(!log.contains(support::AZURITE_KEY) && !log.contains("crs_"), "a secret reached the log");
}
