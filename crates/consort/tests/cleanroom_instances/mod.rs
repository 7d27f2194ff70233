//! Clean-room governance through two `consort serve` instances on one PostgreSQL database: the
//! instances share the store and the key file and nothing else, and the parties talk to both.
//!
//! A clean room is created on one instance; members' signed proposals, ballots and consent and
//! users' documents and consent go to both, alternately and concurrently (several writers per
//! instance). Then: both serve the same entries and the same signed roots; the export verifies
//! offline (`consort ledger verify` and the ledger crate); the ledger holds exactly the entries
//! of the acknowledged writes plus one per refusal (nothing lost, nothing doubled); a signed
//! request replayed to the *other* instance is refused, and of one request sent to both at once
//! exactly one is accepted; a proposal whose ballots are split across the instances is Accepted
//! exactly once; receipts from either instance verify. One instance is then killed (SIGKILL) in
//! the middle of a stream of signed writes: the other goes on, a write the dead one never
//! answered is sent again to the survivor (accepted if it was lost, refused as a replay if the
//! dead one had committed it, so the tally stays exact), and the restarted instance serves the
//! same ledger.
//!
//! Included by `tests/provisioner.rs`, whose one PostgreSQL it runs on (a database of its own).
//! Nothing waits a fixed time; the only retries are the server's documented `busy` answers (503,
//! nothing committed).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use consort_ledger::{PublicKey, Receipt, verify_export_bytes};
use consort_signing::{KeyAlgorithm, MemberKeyPair, RequestHeader, parse_request, sign_request};
use reqwest::Method;
use serde_json::{Value, json};
use tokio::task::JoinSet;

use crate::serve::{Process, Serve};

const ROOM: &str = "shared";
/// The members, each also a user with an API token of its name.
const PARTIES: [&str; 3] = ["alice", "bob", "carol"];
/// The consent members sign in the writers' rounds (its path below the clean room).
const CONSENT: &str = "/consent/contract/c1/logging";
/// Concurrent writers while both instances run (half start on each), and their rounds.
const WRITERS: usize = 6;
const ROUNDS: usize = 8;
/// Writers of signed requests around the kill, their rounds, and how many of their writes are
/// acknowledged before one instance is killed.
const KILL_WRITERS: usize = 4;
const KILL_ROUNDS: usize = 10;
const ACKED_BEFORE_KILL: usize = 8;

/// One `consort serve` on the shared store.
struct Instance {
    process: Process,
    config: PathBuf,
    env: Vec<(String, String)>,
}

impl Instance {
    fn start(name: &str, dir: &Path, store_url: &str, key_file: &Path) -> Instance {
        // Short check-ins: a restarted instance waits for its previous life's row to go stale.
        let toml = format!(
            "[scheduler]\ninstance_id = \"cleanroom-{name}\"\ncheckin_interval_ms = 1000\nfailure_grace_ms = 1000\n\n\
             [auth]\nrate_per_sec = 10000\nrate_burst = 10000\n\n[cleanroom]\nkey_file = \"{}\"\n",
            key_file.display()
        );
        let config = dir.join(format!("{name}.toml"));
        std::fs::write(&config, toml).unwrap();
        let env = vec![("CONSORT_STORE_URL".to_string(), store_url.to_string())];
        let process = Instance::launch(&dir.join(name), &config, &env);
        Instance { process, config, env }
    }

    fn launch(data: &Path, config: &Path, env: &[(String, String)]) -> Process {
        Serve::new(data).config(config).envs(env.to_vec()).append_log().watchdog().start()
    }

    /// SIGKILL: no graceful stop, connections cut, transactions in flight rolled back.
    fn kill(&mut self) {
        self.process.child.kill().unwrap();
        self.process.child.wait().unwrap();
    }

    /// Starts again on the same data directory and configuration (the old process is gone).
    fn restart(&mut self) {
        self.process = Instance::launch(&self.process.data.clone(), &self.config, &self.env);
    }
}

/// A request body: a member's signed request or a user's JSON.
#[derive(Clone)]
enum Body {
    None,
    Json(Value),
    Cose(Vec<u8>),
}

/// What a write's answer was: an answer, or none (the connection failed or was cut).
type Answer = Result<(u16, Value), String>;

struct Party {
    id: &'static str,
    key: MemberKeyPair,
    token: String,
}

/// The clean room as its parties see it: the two instances' addresses and their own keys.
struct Room {
    http: reqwest::Client,
    /// The instances' base URLs; a restarted one gets a new port.
    urls: RwLock<[String; 2]>,
    parties: Vec<Party>,
    admin: String,
    /// Answers of 503 `busy` (a unit of work that lost every optimistic retry; nothing was
    /// committed) that were sent again.
    busy: AtomicUsize,
    /// Signed consent requests made so far, and when the room was made, seconds since the epoch
    /// (see `sign_consent`).
    consents: AtomicUsize,
    made_at: i64,
}

/// Every write the test made, to check the ledger against: the entries acknowledged writes
/// produced, the refusals (one entry each), and the proposals to vote on.
#[derive(Default)]
struct Tally {
    entries: AtomicUsize,
    refusals: AtomicUsize,
    proposals: Mutex<Vec<String>>,
    /// Writes the killed instance never answered: (committed before it died, lost).
    unanswered: Mutex<(usize, usize)>,
}

impl Tally {
    fn add(&self, entries: usize) {
        self.entries.fetch_add(entries, Ordering::Relaxed);
    }
    fn refused(&self) {
        self.refusals.fetch_add(1, Ordering::Relaxed);
    }
}

impl Room {
    fn party(&self, id: &str) -> &Party {
        self.parties.iter().find(|p| p.id == id).unwrap()
    }

    fn url(&self, instance: usize, rest: &str) -> String {
        format!("{}/v1/cleanrooms/{ROOM}{rest}", self.urls.read().unwrap()[instance])
    }

    /// Sends one request to `instance`; a `busy` answer is sent again (nothing was committed).
    async fn send(&self, instance: usize, method: Method, url: &str, token: &str, body: Body) -> Answer {
        for _ in 0..50 {
            let mut request = self.http.request(method.clone(), url).bearer_auth(token);
            request = match body.clone() {
                Body::None => request,
                Body::Json(v) => request.json(&v),
                Body::Cose(bytes) => request.header("content-type", "application/cose").body(bytes),
            };
            let response = request.send().await.map_err(|e| format!("instance {instance}: {e}"))?;
            let status = response.status().as_u16();
            let text = response.text().await.map_err(|e| format!("instance {instance}: {e}"))?;
            let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
            if status == 503 && value["error"]["code"] == "busy" {
                self.busy.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
            return Ok((status, value));
        }
        panic!("instance {instance} answered busy 50 times to {method} {url}")
    }

    /// A user's request (or a read) as `who`.
    async fn user(&self, instance: usize, who: &str, method: Method, rest: &str, body: Body) -> (u16, Value) {
        let url = self.url(instance, rest);
        self.send(instance, method, &url, &self.party(who).token, body).await.unwrap()
    }

    /// `who`'s signed request, created now.
    fn sign(&self, who: &str, msg_type: &str, proposal: Option<&str>, payload: Value) -> Vec<u8> {
        let (proposal, now) = (proposal.map(str::to_string), jiff::Timestamp::now().as_second());
        self.sign_at(who, msg_type, proposal, None, payload, now)
    }

    /// `who`'s signed request whose route names its subject (`contracts/c1`), created now.
    fn sign_about(&self, who: &str, msg_type: &str, subject: &str, payload: Value) -> Vec<u8> {
        let now = jiff::Timestamp::now().as_second();
        self.sign_at(who, msg_type, None, Some(subject.to_string()), payload, now)
    }

    fn sign_at(
        &self,
        who: &str,
        msg_type: &str,
        proposal_id: Option<String>,
        subject: Option<String>,
        payload: Value,
        created_at: i64,
    ) -> Vec<u8> {
        let header = RequestHeader {
            member_id: who.into(),
            msg_type: msg_type.into(),
            cleanroom: ROOM.into(),
            created_at,
            proposal_id,
            subject,
        };
        sign_request(&self.party(who).key, &header, payload.to_string().as_bytes()).unwrap()
    }

    /// `who`'s signed consent on the contract's logging (`CONSENT`). A request is its signed
    /// header and payload (the signature aside), and a consent's payload is only
    /// `{"enabled"}`: two of one member on one subject within one second would be one request,
    /// the second a replay. Each is dated its own second before
    /// the room was made instead, well inside the 5-minute freshness window.
    fn sign_consent(&self, who: &str, enabled: bool) -> Vec<u8> {
        let earlier = self.consents.fetch_add(1, Ordering::Relaxed) as i64;
        assert!(earlier < 60, "more consent requests than this test dates");
        let subject = CONSENT.trim_start_matches('/').to_string();
        self.sign_at(who, "consent", None, Some(subject), json!({"enabled": enabled}), self.made_at - 1 - earlier)
    }

    async fn signed(&self, instance: usize, who: &str, method: Method, rest: &str, bytes: Vec<u8>) -> Answer {
        let url = self.url(instance, rest);
        self.send(instance, method, &url, &self.party(who).token, Body::Cose(bytes)).await
    }

    /// A new proposal by `who` on `instance`; its id.
    async fn propose(&self, instance: usize, who: &str, actions: Value) -> String {
        let bytes = self.sign(who, "proposal", None, json!({"actions": actions}));
        let (status, p) = self.signed(instance, who, Method::POST, "/proposals", bytes).await.unwrap();
        assert_eq!(status, 201, "{p}");
        p["id"].as_str().unwrap().to_string()
    }

    /// Every member in `voters` accepts proposal `id` at once, voter `n` on instance
    /// `(first + n) % 2`. Each ballot is answered 200; exactly one answer resolves the proposal
    /// (the ballot that completed unanimity), whichever instance it went to.
    async fn accept_split(self: &Arc<Self>, id: &str, voters: &[&'static str], first: usize) {
        let mut ballots = JoinSet::new();
        for (n, voter) in voters.iter().enumerate() {
            let (room, id, voter) = (self.clone(), id.to_string(), *voter);
            ballots.spawn(async move {
                let bytes = room.sign(voter, "ballot", Some(&id), json!({"vote": "accept"}));
                let rest = format!("/proposals/{id}/ballots");
                room.signed((first + n) % 2, voter, Method::POST, &rest, bytes).await.unwrap()
            });
        }
        let answers: Vec<(u16, Value)> = ballots.join_all().await;
        assert!(answers.iter().all(|(status, _)| *status == 200), "{answers:?}");
        let accepted = answers.iter().filter(|(_, p)| p["state"] == "Accepted").count();
        assert_eq!(accepted, 1, "exactly one ballot accepts proposal {id}: {answers:?}");
    }

    /// Every entry an instance serves, page by page.
    async fn entries(&self, instance: usize) -> Vec<Value> {
        let mut out: Vec<Value> = Vec::new();
        loop {
            let (status, page) =
                self.user(instance, "carol", Method::GET, &format!("/ledger?from={}", out.len()), Body::None).await;
            assert_eq!(status, 200, "{page}");
            out.extend(page["items"].as_array().unwrap().iter().cloned());
            if page["next_from"].is_null() {
                assert_eq!(page["size"], out.len(), "{page}");
                return out;
            }
        }
    }

    /// The signed roots an instance serves, by size.
    async fn roots(&self, instance: usize) -> BTreeMap<u64, Value> {
        let (status, page) = self.user(instance, "bob", Method::GET, "/ledger/roots", Body::None).await;
        assert_eq!(status, 200, "{page}");
        page["items"].as_array().unwrap().iter().map(|r| (r["size"].as_u64().unwrap(), r.clone())).collect()
    }

    async fn bytes(&self, instance: usize, rest: &str) -> Vec<u8> {
        let response =
            self.http.get(self.url(instance, rest)).bearer_auth(&self.party("alice").token).send().await.unwrap();
        assert_eq!(response.status(), 200, "{rest}");
        response.bytes().await.unwrap().to_vec()
    }
}

fn dataset(owner: &str) -> Value {
    json!({"contract_id": "c1", "body": {"kind": "dataset", "location": format!("file:///data/{owner}"),
        "format": "csv", "schema": [{"name": "email", "type": "string"}, {"name": "x", "type": "string"}],
        "allowed_fields": ["email"]}})
}

/// One writer while both instances run: `ROUNDS` writes of every kind, alternating instances.
async fn writer(room: Arc<Room>, tally: Arc<Tally>, w: usize) {
    let who = PARTIES[w % PARTIES.len()];
    for k in 0..ROUNDS {
        let (here, there) = ((w + k) % 2, (w + k + 1) % 2);
        match k % 4 {
            // A proposal; the same signed bytes to the other instance are a replay. Half the
            // writers send both copies at once: exactly one of them is accepted.
            0 => {
                let actions = json!([{"action": "set_setting", "name": format!("w{w}-k{k}"), "value": k}]);
                let bytes = room.sign(who, "proposal", None, json!({"actions": actions}));
                let (first, second) = if w.is_multiple_of(2) {
                    tokio::join!(
                        room.signed(here, who, Method::POST, "/proposals", bytes.clone()),
                        room.signed(there, who, Method::POST, "/proposals", bytes.clone())
                    )
                } else {
                    let first = room.signed(here, who, Method::POST, "/proposals", bytes.clone()).await;
                    (first, room.signed(there, who, Method::POST, "/proposals", bytes).await)
                };
                let mut answers = [first.unwrap(), second.unwrap()];
                answers.sort_by_key(|(status, _)| *status);
                let [(created, p), (refused, r)] = answers;
                assert_eq!((created, refused), (201, 403), "{p} {r}");
                assert_eq!(r["error"]["code"], "replayed_request", "{r}");
                tally.add(1);
                tally.refused();
                tally.proposals.lock().unwrap().push(p["id"].as_str().unwrap().to_string());
            }
            // A user's dataset: drafted on one instance, proposed on the other (accepted at
            // once: its owner is its only approver).
            1 => {
                let id = format!("d-w{w}-k{k}");
                let (status, d) =
                    room.user(here, who, Method::PUT, &format!("/documents/{id}"), Body::Json(dataset(who))).await;
                assert_eq!((status, &d["state"]), (200, &json!("Draft")), "{d}");
                let (status, d) =
                    room.user(there, who, Method::POST, &format!("/documents/{id}/propose"), Body::None).await;
                assert_eq!((status, &d["state"]), (200, &json!("Accepted")), "{d}");
                tally.add(3); // document.draft, document.proposed, document.accepted
            }
            // A member's signed consent on the contract.
            2 => {
                let bytes = room.sign_consent(who, k % 8 == 2);
                let (status, c) = room.signed(here, who, Method::PUT, CONSENT, bytes).await.unwrap();
                assert_eq!(status, 200, "{c}");
                tally.add(1);
            }
            // A user's consent on the contract.
            _ => {
                let body = Body::Json(json!({"enabled": k % 8 == 3}));
                let (status, c) = room.user(here, who, Method::PUT, "/consent/contract/c1/telemetry", body).await;
                assert_eq!(status, 200, "{c}");
                tally.add(1);
            }
        }
    }
}

/// One writer of signed requests while instance 0 may be killed: a write instance 0 does not
/// answer goes to instance 1 with the same bytes, and from then on everything does.
async fn kill_writer(room: Arc<Room>, tally: Arc<Tally>, down: Arc<AtomicBool>, acked: Arc<AtomicUsize>, w: usize) {
    let who = PARTIES[w % PARTIES.len()];
    for k in 0..KILL_ROUNDS {
        let (method, rest, bytes, is_proposal) = if k.is_multiple_of(2) {
            let actions = json!([{"action": "set_setting", "name": format!("kill-w{w}-k{k}"), "value": k}]);
            (Method::POST, "/proposals", room.sign(who, "proposal", None, json!({"actions": actions})), true)
        } else {
            (Method::PUT, CONSENT, room.sign_consent(who, k % 4 == 1), false)
        };
        let here = if down.load(Ordering::SeqCst) { 1 } else { (w + k) % 2 };
        let answer = match room.signed(here, who, method.clone(), rest, bytes.clone()).await {
            Ok(answer) => answer,
            Err(lost) => {
                assert_eq!(here, 0, "only the killed instance fails to answer: {lost}");
                down.store(true, Ordering::SeqCst);
                let again = room.signed(1, who, method, rest, bytes.clone()).await.unwrap();
                let mut unanswered = tally.unanswered.lock().unwrap();
                if again.1["error"]["code"] == "replayed_request" {
                    // The dead instance had committed it: its entry is in, plus this refusal.
                    unanswered.0 += 1;
                    tally.refused();
                    tally.add(1);
                    if is_proposal {
                        let id = parse_request(&bytes).unwrap().digest().to_hex();
                        tally.proposals.lock().unwrap().push(id);
                    }
                    acked.fetch_add(1, Ordering::SeqCst);
                    continue;
                }
                unanswered.1 += 1;
                again
            }
        };
        let (status, value) = answer;
        assert_eq!(status, if is_proposal { 201 } else { 200 }, "{value}");
        tally.add(1);
        if is_proposal {
            tally.proposals.lock().unwrap().push(value["id"].as_str().unwrap().to_string());
        }
        acked.fetch_add(1, Ordering::SeqCst);
    }
}

/// The ledger the instances serve, checked against the tally: both serve the same entries in
/// one order with contiguous places, exactly `base + entries + refusals` of them; every
/// proposal created once and accepted once with one ballot per member; every refusal a replay.
async fn check_one_ledger(room: &Room, tally: &Tally, base: usize) -> Vec<Value> {
    let (a, b) = tokio::join!(room.entries(0), room.entries(1));
    assert_eq!(a.len(), b.len(), "both instances serve the same number of entries");
    assert!(a == b, "both instances serve the same entries in the same order");
    assert!(a.iter().enumerate().all(|(i, e)| e["seq"] == i), "places are contiguous from 0");
    let (entries, refusals) = (tally.entries.load(Ordering::Relaxed), tally.refusals.load(Ordering::Relaxed));
    let kinds = |from: usize| {
        let mut count: BTreeMap<String, usize> = BTreeMap::new();
        for e in &a[from..] {
            *count.entry(e["kind"].as_str().unwrap().to_string()).or_default() += 1;
        }
        count
    };
    assert_eq!(a.len(), base + entries + refusals, "nothing lost or doubled after the set-up: {:?}", kinds(base));
    let body = |e: &Value| serde_json::from_str::<Value>(e["body"].as_str().unwrap()).unwrap();
    let refused: Vec<Value> = a[base..].iter().filter(|e| e["kind"] == "refused").map(body).collect();
    assert_eq!(refused.len(), refusals, "{refused:?}");
    assert!(refused.iter().all(|r| r["code"] == "replayed_request"), "{refused:?}");
    for id in tally.proposals.lock().unwrap().iter() {
        let count = |kind: &str, field: &str| {
            a.iter()
                .filter(|e| e["kind"] == kind)
                .map(body)
                .filter(|b| b[field] == *id || b[field]["id"] == *id)
                .count()
        };
        assert_eq!(count("proposal.created", "proposal"), 1, "proposal {id} created once");
        assert_eq!(count("ballot", "proposal"), PARTIES.len(), "proposal {id}: one ballot per member");
        assert_eq!(count("proposal.accepted", "proposal"), 1, "proposal {id} accepted once");
    }
    a
}

/// Signed roots both instances serve agree on every size both have (the first root of a size
/// is kept, whoever signed it); returns the sizes.
async fn check_same_roots(room: &Room) -> usize {
    let (a, b) = tokio::join!(room.roots(0), room.roots(1));
    let common: Vec<&u64> = a.keys().filter(|size| b.contains_key(size)).collect();
    assert!(!common.is_empty(), "no signed root served by both: {a:?} {b:?}");
    for size in &common {
        assert_eq!(a[size], b[size], "the root of size {size}");
    }
    common.len()
}

pub async fn scenario(store_url: &str, scratch: &Path) {
    let key_file = scratch.join("cleanroom.key");
    let mut instances =
        [Instance::start("a", scratch, store_url, &key_file), Instance::start("b", scratch, store_url, &key_file)];
    let http = reqwest::Client::new();
    let admin = instances[0].process.admin_token();
    let mut parties = Vec::new();
    for (id, algorithm) in
        PARTIES.into_iter().zip([KeyAlgorithm::EcdsaP384, KeyAlgorithm::EcdsaP256, KeyAlgorithm::Ed25519])
    {
        // Tokens are in the shared store: made on one instance, honoured by both.
        let response = http
            .post(format!("{}/v1/tokens", instances[1].process.url))
            .bearer_auth(&admin)
            .json(&json!({"name": id, "roles": ["cleanroom"]}))
            .send()
            .await
            .unwrap();
        let created: Value = response.json().await.unwrap();
        let token = created["secret"].as_str().unwrap_or_else(|| panic!("{created}")).to_string();
        parties.push(Party { id, key: MemberKeyPair::generate(algorithm).unwrap(), token });
    }
    let urls = RwLock::new([instances[0].process.url.clone(), instances[1].process.url.clone()]);
    let room = Arc::new(Room {
        http,
        urls,
        parties,
        admin,
        busy: AtomicUsize::new(0),
        consents: AtomicUsize::new(0),
        made_at: jiff::Timestamp::now().as_second(),
    });
    let alice_pem = room.party("alice").key.public_key().to_pem();
    let member = |id: &str| {
        let pem = room.party(id).key.public_key().to_pem();
        json!([{"action": "add_member", "id": id, "public_key_pem": pem}, {"action": "add_user", "id": id, "principal": id}])
    };

    // ---- set-up: created on A; bob and carol join and a contract is accepted, ballots split.
    let init = json!({"name": ROOM, "member_id": "alice", "member_public_key_pem": alice_pem,
                      "user": {"id": "alice", "principal": "alice"}});
    let bytes = room.sign("alice", "cleanroom.init", None, init);
    let url = format!("{}/v1/cleanrooms", room.urls.read().unwrap()[0]);
    let (status, created) = room.send(0, Method::POST, &url, &room.admin, Body::Cose(bytes)).await.unwrap();
    assert_eq!(status, 201, "{created}");
    let (status, seen) = room.user(1, "alice", Method::GET, "/members", Body::None).await;
    assert_eq!(status, 200, "the other instance serves the new clean room: {seen}");
    let id = room.propose(0, "alice", member("bob")).await;
    room.accept_split(&id, &["alice"], 1).await;
    let id = room.propose(1, "bob", member("carol")).await;
    room.accept_split(&id, &["alice", "bob"], 0).await;
    let draft = room.sign_about("alice", "contract", "contracts/c1", json!({"data": {"purpose": "two instances"}}));
    let (status, c) = room.signed(1, "alice", Method::PUT, "/contracts/c1", draft).await.unwrap();
    assert_eq!((status, &c["state"]), (200, &json!("Draft")), "{c}");
    let id = room.propose(0, "bob", json!([{"action": "set_contract", "contract_id": "c1", "version": 1}])).await;
    room.accept_split(&id, &PARTIES, 1).await;
    let (_, c) = room.user(0, "carol", Method::GET, "/contracts/c1", Body::None).await;
    assert_eq!(c["state"], "Accepted", "{c}");
    let base = room.entries(1).await.len();

    // ---- both instances up: every kind of write, concurrently, to both.
    let tally = Arc::new(Tally::default());
    let mut writers = JoinSet::new();
    for w in 0..WRITERS {
        writers.spawn(writer(room.clone(), tally.clone(), w));
    }
    writers.join_all().await;
    let proposals = tally.proposals.lock().unwrap().clone();
    let mut ballots = JoinSet::new();
    for (n, id) in proposals.iter().enumerate() {
        let (room, id) = (room.clone(), id.clone());
        ballots.spawn(async move { room.accept_split(&id, &PARTIES, n).await });
    }
    ballots.join_all().await;
    tally.add(proposals.len() * (PARTIES.len() + 1)); // the ballots and each acceptance
    check_one_ledger(&room, &tally, base).await;

    // ---- instance A killed mid-stream: B goes on; what A never answered is sent to B again.
    let (down, acked) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicUsize::new(0)));
    let mut writers = JoinSet::new();
    for w in 0..KILL_WRITERS {
        writers.spawn(kill_writer(room.clone(), tally.clone(), down.clone(), acked.clone(), w));
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    while acked.load(Ordering::SeqCst) < ACKED_BEFORE_KILL {
        assert!(Instant::now() < deadline, "the writers made no progress");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    instances[0].kill();
    let at_kill = acked.load(Ordering::SeqCst);
    writers.join_all().await;
    let total = KILL_WRITERS * KILL_ROUNDS;
    assert_eq!(acked.load(Ordering::SeqCst), total, "every write was acknowledged, by A or by B");
    assert!(at_kill < total, "the kill came mid-stream ({at_kill} of {total} acknowledged)");

    // ---- A restarted: the same ledger; the kill phase's proposals accepted across both.
    instances[0].restart();
    room.urls.write().unwrap()[0] = instances[0].process.url.clone();
    let new = tally.proposals.lock().unwrap()[proposals.len()..].to_vec();
    let mut ballots = JoinSet::new();
    for (n, id) in new.iter().enumerate() {
        let (room, id) = (room.clone(), id.clone());
        ballots.spawn(async move { room.accept_split(&id, &PARTIES, n).await });
    }
    ballots.join_all().await;
    tally.add(new.len() * (PARTIES.len() + 1));
    let entries = check_one_ledger(&room, &tally, base).await;

    // The export verifies offline, with the ledger crate and with `consort ledger verify`;
    // receipts from either instance verify and prove the same entry.
    let pem = room.bytes(1, "/ledger/public-key").await;
    let key = PublicKey::parse(std::str::from_utf8(&pem).unwrap()).unwrap();
    let export = room.bytes(0, "/ledger/export").await;
    let report = verify_export_bytes(&export, &key).unwrap();
    assert_eq!(report.entries, entries.len() as u64, "{report:?}");
    let (export_file, key_path) = (scratch.join("shared.ledger"), scratch.join("shared.pub"));
    std::fs::write(&export_file, &export).unwrap();
    std::fs::write(&key_path, &pem).unwrap();
    let out = crate::serve::consort()
        .args(["ledger", "verify"])
        .arg(&export_file)
        .arg("--public-key")
        .arg(&key_path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    for seq in [0, base, entries.len() / 2, entries.len() - 1] {
        let rest = format!("/ledger/receipts/{seq}");
        let (a, b) = tokio::join!(room.bytes(0, &rest), room.bytes(1, &rest));
        let (a, b) = (Receipt::parse(&a).unwrap(), Receipt::parse(&b).unwrap());
        a.verify(&key).unwrap();
        b.verify(&key).unwrap();
        assert_eq!(a.entry, b.entry, "entry {seq}");
        assert_eq!(a.entry.body, entries[seq]["body"].as_str().unwrap(), "entry {seq}");
    }
    let shared_roots = check_same_roots(&room).await;

    let (committed, lost) = *tally.unanswered.lock().unwrap();
    eprintln!(
        "two instances: {} entries ({} after the set-up: {} from acknowledged writes, {} refusals), {} proposals, \
         {shared_roots} signed roots served by both, {} busy answers sent again; the kill after {at_kill} of {total} \
         writes left {committed} committed and {lost} lost unanswered writes",
        entries.len(),
        entries.len() - base,
        tally.entries.load(Ordering::Relaxed),
        tally.refusals.load(Ordering::Relaxed),
        tally.proposals.lock().unwrap().len(),
        room.busy.load(Ordering::Relaxed),
    );
    for instance in &mut instances {
        instance.process.terminate();
    }
}
