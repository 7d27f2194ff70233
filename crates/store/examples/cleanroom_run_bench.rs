//! The governance overhead of a clean-room run call, with every check and no Spark: three
//! parties, two datasets on real local files, a sink, an accepted query and a prepared policy;
//! then `start_run` (authorise → accepted → approvals → consent → locations → job config →
//! run policy → grants, one ledger entry per step, committed together) timed one call after
//! another, on embedded SQLite (a file, synced ledger transactions) and PostgreSQL. Ends with
//! one line per store:
//!
//!   cleanroom: store=S run_calls=N overhead_p50_ms=X overhead_p99_ms=Y
//!
//! `cargo run --release -p consort-store --example cleanroom_run_bench`; CONSORT_BENCH_RUNS
//! (300), CONSORT_BENCH_ONLY=sqlite|postgres.

#[path = "../tests/common/mod.rs"]
mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use consort_attest::{SealingKey, StaticKeyProvider};
use consort_governance::model::{
    Action, DataFormat, DatasetSpec, DocumentBody, Field, QueryInput, QuerySpec, Segment, SinkSpec, Vote,
};
use consort_governance::runs::{LocationProbe, RunnerIdentity};
use consort_governance::{Caller, DocumentDraft, Governance, MemberRequest};
use consort_store::Stores;

use common::Pg;

const ROOM: &str = "bench";
const T0: i64 = 1_767_225_600_000;

/// Lists the local directory a `file://` location names, as the server's probe does.
struct LocalFiles;

#[async_trait::async_trait]
impl LocationProbe for LocalFiles {
    async fn readable(&self, dataset: &DatasetSpec, _: &[Vec<u8>]) -> Result<(), String> {
        let dir = dataset.location.trim_start_matches("file://");
        let files = std::fs::read_dir(dir).map_err(|e| e.to_string())?.count();
        if files == 0 { Err("empty".into()) } else { Ok(()) }
    }
    async fn writable(&self, sink: &SinkSpec, _: &[Vec<u8>]) -> Result<(), String> {
        let parent = Path::new(sink.location.trim_start_matches("file://")).parent().ok_or("no parent")?;
        std::fs::metadata(parent).map(|_| ()).map_err(|e| e.to_string())
    }
}

fn member(id: &str, n: u32) -> MemberRequest {
    MemberRequest {
        member: id.into(),
        msg_type: "bench".into(),
        digest: format!("{id}-{n}"),
        created_at_s: T0 / 1000,
        oldest_fresh_s: T0 / 1000 - 300,
    }
}

fn dataset(dir: &Path, name: &str) -> DocumentBody {
    let path = dir.join(name);
    std::fs::create_dir_all(&path).expect("dataset dir");
    std::fs::write(path.join("part-0.csv"), "a@x,1\n").expect("dataset file");
    DocumentBody::Dataset(DatasetSpec {
        location: format!("file://{}", path.display()),
        format: DataFormat::Csv,
        schema: vec![
            Field { name: "email".into(), field_type: "string".into() },
            Field { name: "v".into(), field_type: "integer".into() },
        ],
        allowed_fields: vec!["email".into(), "v".into()],
        secrets: vec![],
    })
}

/// A clean room ready to run: alice and bob own datasets, carol the sink and the query.
async fn ready(governance: &Governance, dir: &Path) {
    let pem = "-----BEGIN PUBLIC KEY-----\nbench\n-----END PUBLIC KEY-----\n";
    governance.create_cleanroom(ROOM, "alice", pem, Some(("alice", "alice")), T0).await.expect("create");
    let mut n = 0;
    let mut pass = async |actions: Vec<Action>, voters: &[&str]| {
        n += 1;
        let p = governance.propose(ROOM, &member("alice", n), actions, T0).await.expect("propose");
        for voter in voters {
            n += 1;
            governance.vote(ROOM, &member(voter, n), &p.id, Vote::Accept, T0).await.expect("vote");
        }
    };
    for (id, voters) in [("bob", vec!["alice"]), ("carol", vec!["alice", "bob"])] {
        let actions = vec![
            Action::AddMember { id: id.into(), public_key_pem: pem.into() },
            Action::AddUser { id: id.into(), principal: id.into() },
        ];
        pass(actions, &voters).await;
    }
    governance
        .put_contract(ROOM, &member("alice", 1000), "c1", None, serde_json::json!({"purpose": "bench"}), T0)
        .await
        .expect("contract");
    pass(vec![Action::SetContract { contract_id: "c1".into(), version: 1 }], &["alice", "bob", "carol"]).await;
    let publish = async |owner: &str, id: &str, body: DocumentBody| {
        let draft = DocumentDraft { id: id.into(), contract_id: "c1".into(), version: None, body };
        governance.put_document(ROOM, owner, draft, T0).await.expect("draft");
        governance.propose_document(ROOM, owner, id, T0).await.expect("propose")
    };
    publish("alice", "d-alice", dataset(dir, "alice")).await;
    publish("bob", "d-bob", dataset(dir, "bob")).await;
    let sink = SinkSpec {
        location: format!("file://{}", dir.join("out").display()),
        format: DataFormat::Csv,
        allowed_fields: vec!["n".into()],
        secrets: vec![],
    };
    publish("carol", "s-carol", DocumentBody::Sink(sink)).await;
    let query = QuerySpec {
        segments: vec![Segment {
            execution_order: 1,
            sql: "SELECT count(*) AS n FROM a JOIN b USING (email)".into(),
            preconditions: vec![],
            post_filters: vec![],
        }],
        inputs: vec![
            QueryInput { dataset: "d-alice".into(), view: "a".into() },
            QueryInput { dataset: "d-bob".into(), view: "b".into() },
        ],
        sink: "s-carol".into(),
    };
    publish("carol", "q1", DocumentBody::Query(query)).await;
    for voter in ["alice", "bob"] {
        governance.vote_document(ROOM, voter, "q1", Vote::Accept, T0).await.expect("approve");
    }
}

async fn run(label: &str, stores: &Stores, runs: usize) {
    let dir = tempfile::tempdir().expect("tempdir");
    let sealing = StaticKeyProvider::new(vec![SealingKey::new("bench", &[9; 32]).expect("key")]).expect("provider");
    let governance = Governance::new(stores.governance.clone(), Arc::new(sealing));
    ready(&governance, dir.path()).await;
    let runner = RunnerIdentity { measurement: "11".repeat(32), backend: "local".into(), platform: None };
    let carol = Caller::User("carol".into());
    governance.prepare(ROOM, &carol, runner.clone(), T0).await.expect("prepare");
    let mut took = Vec::with_capacity(runs);
    let mut entries = BTreeMap::new();
    for i in 0..runs {
        let start = Instant::now();
        let started = governance
            .start_run(ROOM, &carol, "q1", Some(&format!("bench-{i}")), &runner, &LocalFiles, T0 + i as i64)
            .await
            .expect("the run passes every check");
        took.push(start.elapsed().as_secs_f64() * 1000.0);
        assert!(started.created);
        *entries.entry("runs").or_insert(0) += 1;
    }
    took.sort_by(f64::total_cmp);
    let at = |q: f64| took[((took.len() as f64 * q) as usize).min(took.len() - 1)];
    println!(
        "cleanroom: store={label} run_calls={} overhead_p50_ms={:.2} overhead_p99_ms={:.2}",
        entries["runs"],
        at(0.5),
        at(0.99)
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let runs = std::env::var("CONSORT_BENCH_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(300);
    let only = std::env::var("CONSORT_BENCH_ONLY").unwrap_or_default();
    if only.is_empty() || only == "sqlite" {
        let dir = tempfile::tempdir().expect("tempdir");
        let stores = consort_store::open_all(&format!("sqlite://{}", dir.path().join("bench.db").display()))
            .await
            .expect("sqlite");
        run("sqlite", &stores, runs).await;
    }
    if only.is_empty() || only == "postgres" {
        let pg = Pg::start();
        let stores = consort_store::open_all(&pg.fresh_db().await).await.expect("postgres");
        run("postgres", &stores, runs).await;
    }
}
