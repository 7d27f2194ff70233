//! `consort cleanroom sandbox FILE.yaml`: every party of a collaboration played from one file
//! against a running server, each step signed with that party's own member key or called with
//! that party's own API token, so the governance is exercised exactly as separate parties would.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use consort_signing::{KeyAlgorithm, MemberKeyPair};
use reqwest::Method;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::cmd::cleanroom::{About, load_key, room, sign_with, wait_for_run, write_private};
use crate::cmd::remote::{ApiFailure, Client, s, segment};

/// The contract every sandbox's documents belong to.
const CONTRACT_ID: &str = "sandbox";

// ---- the file ---------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Collaboration {
    name: String,
    parties: Vec<Party>,
    #[serde(default)]
    datasets: Vec<Dataset>,
    sinks: Vec<Sink>,
    query: Query,
    #[serde(default = "yes")]
    run: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Party {
    name: String,
    key: PathBuf,
    #[serde(default = "yes")]
    approve: bool,
    #[serde(default = "yes")]
    consent: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Column {
    name: String,
    #[serde(rename = "type")]
    column_type: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Dataset {
    name: String,
    owner: String,
    location: String,
    format: String,
    schema: Vec<Column>,
    allowed_fields: Vec<String>,
    #[serde(default)]
    credentials: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Sink {
    name: String,
    owner: String,
    location: String,
    format: String,
    allowed_fields: Vec<String>,
    #[serde(default)]
    credentials: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Query {
    name: String,
    #[serde(default)]
    owner: Option<String>,
    inputs: Vec<String>,
    sink: String,
    segments: Vec<Segment>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Segment {
    sql: String,
    execution_order: u32,
    #[serde(default)]
    pre_conditions: Vec<Precondition>,
    #[serde(default)]
    post_filters: Vec<PostFilter>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Precondition {
    view_name: String,
    min_row_count: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct PostFilter {
    column_name: String,
    value: f64,
}

fn yes() -> bool {
    true
}

/// Reads and checks the file: every reference names something declared, every format is
/// known, and every document name is used once (datasets, sinks and the query share ids).
fn load(file: &Path) -> anyhow::Result<Collaboration> {
    let text = std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let collaboration: Collaboration = serde_saphyr::from_str(&text).map_err(|e| {
        anyhow::anyhow!(
            "{} is not a sandbox file: {e}\nfix: use only the fields of docs/cleanrooms.md#sandbox (name, parties, datasets, sinks, query, run)",
            file.display()
        )
    })?;
    check(&collaboration).with_context(|| format!("{} is not a valid sandbox file", file.display()))?;
    Ok(collaboration)
}

fn check(c: &Collaboration) -> anyhow::Result<()> {
    if c.name.trim().is_empty() {
        bail!("name: empty; give the clean room a name, e.g. `name: demo-1`");
    }
    if c.parties.is_empty() {
        bail!("parties: empty; list at least one party, e.g. `parties: [{{name: alice, key: alice.key.pem}}]`");
    }
    let mut parties = BTreeSet::new();
    for (i, p) in c.parties.iter().enumerate() {
        if p.name.trim().is_empty() {
            bail!("parties[{i}].name: empty; give every party a name");
        }
        if !parties.insert(p.name.as_str()) {
            bail!("parties[{i}].name: {:?} is listed twice; give every party its own name", p.name);
        }
    }
    let known = || c.parties.iter().map(|p| p.name.as_str()).collect::<Vec<_>>().join(", ");
    let party = |field: String, name: &str| -> anyhow::Result<()> {
        if parties.contains(name) { Ok(()) } else { bail!("{field}: {name:?} is not a party; use one of {}", known()) }
    };
    let format = |field: String, format: &str| -> anyhow::Result<()> {
        match format {
            "csv" | "parquet" | "json" => Ok(()),
            other => bail!("{field}: {other:?} is not a format; use csv, parquet or json"),
        }
    };
    let mut documents = BTreeSet::new();
    let mut unique = |field: String, name: &str| -> anyhow::Result<()> {
        if name.trim().is_empty() {
            bail!("{field}: empty; give it a name");
        }
        if !documents.insert(name.to_string()) {
            bail!("{field}: {name:?} is used twice; datasets, sinks and the query each need their own name");
        }
        Ok(())
    };
    for (i, d) in c.datasets.iter().enumerate() {
        unique(format!("datasets[{i}].name"), &d.name)?;
        party(format!("datasets[{i}].owner"), &d.owner)?;
        format(format!("datasets[{i}].format"), &d.format)?;
        let columns: BTreeSet<&str> = d.schema.iter().map(|col| col.name.as_str()).collect();
        if let Some(f) = d.allowed_fields.iter().find(|f| !columns.contains(f.as_str())) {
            bail!("datasets[{i}].allowedFields: {f:?} is not in its schema; list only schema columns");
        }
    }
    for (i, sink) in c.sinks.iter().enumerate() {
        unique(format!("sinks[{i}].name"), &sink.name)?;
        party(format!("sinks[{i}].owner"), &sink.owner)?;
        format(format!("sinks[{i}].format"), &sink.format)?;
    }
    let q = &c.query;
    unique("query.name".into(), &q.name)?;
    if let Some(owner) = &q.owner {
        party("query.owner".into(), owner)?;
    }
    if !c.sinks.iter().any(|sink| sink.name == q.sink) {
        bail!("query.sink: {:?} is not one of the sinks; name one of `sinks`", q.sink);
    }
    if q.inputs.is_empty() {
        bail!("query.inputs: empty; name the datasets the query reads");
    }
    for (i, input) in q.inputs.iter().enumerate() {
        if !c.datasets.iter().any(|d| &d.name == input) {
            bail!("query.inputs[{i}]: {input:?} is not one of the datasets; name one of `datasets`");
        }
    }
    if q.segments.is_empty() {
        bail!("query.segments: empty; give at least one SQL segment");
    }
    Ok(())
}

impl Collaboration {
    fn query_owner(&self) -> &str {
        match &self.query.owner {
            Some(owner) => owner,
            None => self.sinks.iter().find(|sink| sink.name == self.query.sink).map_or("", |sink| &sink.owner),
        }
    }
}

// ---- refusals -----------------------------------------------------------------------

/// A step the server refused: the sandbox stops there.
#[derive(Debug)]
struct Refused {
    step: String,
    code: String,
    message: String,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "step {} refused: {} ({})", self.step, self.message, self.code)
    }
}

impl std::error::Error for Refused {}

/// Names the step of a failed call: a server refusal becomes [`Refused`]; anything else (the
/// server unreachable) stays an error with the step as context.
fn at(step: &str) -> impl FnOnce(anyhow::Error) -> anyhow::Error + '_ {
    move |e| match e.downcast::<ApiFailure>() {
        Ok(failure) => Refused { step: step.to_string(), code: failure.code, message: failure.message }.into(),
        Err(e) => e.context(format!("step {step}")),
    }
}

// ---- the parties --------------------------------------------------------------------

/// A party as the sandbox plays it: its member key and its own API client.
struct Player {
    name: String,
    key: MemberKeyPair,
    client: Client,
}

impl Player {
    async fn signed(
        &self,
        method: Method,
        cleanroom: &str,
        path: &str,
        msg_type: &str,
        about: About<'_>,
        payload: &Value,
    ) -> anyhow::Result<Value> {
        let cose = sign_with(&self.key, &self.name, cleanroom, msg_type, about, payload)?;
        self.client.send_signed(method, path, cose).await
    }
}

/// The party's key: read, or made (ES256) when the file is missing. Relative paths are
/// relative to the YAML file.
fn party_key(base: &Path, party: &Party) -> anyhow::Result<MemberKeyPair> {
    let path = if party.key.is_absolute() { party.key.clone() } else { base.join(&party.key) };
    if !path.exists() {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {} for the key of {}", dir.display(), party.name))?;
        }
        let pair = MemberKeyPair::generate(KeyAlgorithm::EcdsaP256).context("generating a member key")?;
        write_private(&path, pair.to_pkcs8_pem().as_bytes())?;
        eprintln!("sandbox: made the ES256 member key of {} at {}", party.name, path.display());
        return Ok(pair);
    }
    load_key(&path).with_context(|| format!("parties: the key of {}", party.name))
}

fn token_name(cleanroom: &str, party: &str) -> String {
    format!("sandbox-{cleanroom}-{party}")
}

// ---- the play -----------------------------------------------------------------------

/// Runs the sandbox; the exit code is 0 for a run that succeeded (or no run asked for), 1 for
/// a run that ended otherwise, 2 for a refused step.
pub(crate) async fn run(admin: &Client, file: &Path) -> anyhow::Result<ExitCode> {
    let collaboration = load(file)?;
    match play(admin, file, &collaboration).await {
        Ok((result, code)) => {
            println!("{}", serde_json::to_string_pretty(&result).unwrap_or_default());
            Ok(code)
        }
        Err(e) => match e.downcast::<Refused>() {
            Ok(refused) => {
                let answer = json!({"cleanroom": collaboration.name, "step": refused.step, "code": refused.code,
                    "message": refused.message});
                println!("{}", serde_json::to_string_pretty(&answer).unwrap_or_default());
                Ok(ExitCode::from(2))
            }
            Err(e) => Err(e),
        },
    }
}

async fn play(admin: &Client, file: &Path, c: &Collaboration) -> anyhow::Result<(Value, ExitCode)> {
    let name = c.name.as_str();
    let base = file.parent().map(Path::to_path_buf).unwrap_or_default();
    let say = |text: String| eprintln!("sandbox {name}: {text}");

    // Every party's key and token first: nothing is sent before the keys are in hand.
    let mut keys = Vec::new();
    for party in &c.parties {
        keys.push(party_key(&base, party)?);
    }
    let mut players: Vec<Player> = Vec::new();
    for (party, key) in c.parties.iter().zip(keys) {
        let token_name = token_name(name, &party.name);
        let token = admin
            .call(Method::POST, "/v1/tokens", Some(json!({"name": token_name, "roles": ["cleanroom"]})))
            .await
            .map_err(at("token"))?;
        let secret = token["secret"].as_str().context("the server answered a token without its secret")?;
        say(format!("token {token_name} made for {}", party.name));
        players.push(Player { name: party.name.clone(), key, client: admin.with_token(secret) });
    }
    let player = |party: &str| players.iter().find(|p| p.name == party).expect("a checked party");
    let room = room(name);

    // The room, with the first party as its member and user.
    let first = &players[0];
    let init = json!({"name": name, "member_id": first.name, "member_public_key_pem": first.key.public_key().to_pem(),
        "user": {"id": first.name, "principal": token_name(name, &first.name)}});
    let cose = sign_with(&first.key, &first.name, name, "cleanroom.init", About::Nothing, &init)?;
    admin.send_signed(Method::POST, "/v1/cleanrooms", cose).await.map_err(at("init"))?;
    say(format!("created with {}", first.name));

    // Every other party joins as member and user; every current member accepts.
    for (joined, newcomer) in players.iter().enumerate().skip(1) {
        let actions = json!({"actions": [
            {"action": "add_member", "id": newcomer.name, "public_key_pem": newcomer.key.public_key().to_pem()},
            {"action": "add_user", "id": newcomer.name, "principal": token_name(name, &newcomer.name)},
        ]});
        let step = format!("add {}", newcomer.name);
        let proposal = first
            .signed(Method::POST, name, &format!("{room}/proposals"), "proposal", About::Nothing, &actions)
            .await
            .map_err(at(&step))?;
        let id = s(&proposal["id"]);
        vote_all(name, &room, &players[..joined], &id, &step).await?;
        say(format!("{} joined", newcomer.name));
    }

    // The contract: drafted by the first party, accepted by every member.
    let parties: Vec<&str> = c.parties.iter().map(|p| p.name.as_str()).collect();
    let draft = json!({"data": {"purpose": format!("sandbox collaboration {name}"), "parties": parties}});
    let contract = first
        .signed(
            Method::PUT,
            name,
            &format!("{room}/contracts/{CONTRACT_ID}"),
            "contract",
            About::Subject(&format!("contracts/{CONTRACT_ID}")),
            &draft,
        )
        .await
        .map_err(at("contract"))?;
    let set =
        json!({"actions": [{"action": "set_contract", "contract_id": CONTRACT_ID, "version": contract["version"]}]});
    let proposal = first
        .signed(Method::POST, name, &format!("{room}/proposals"), "proposal", About::Nothing, &set)
        .await
        .map_err(at("contract"))?;
    vote_all(name, &room, &players, &s(&proposal["id"]), "contract").await?;
    say(format!("contract {CONTRACT_ID} accepted"));

    // Datasets and sinks, each by its owner with its credentials sealed as a secret.
    for d in &c.datasets {
        let owner = player(&d.owner);
        let secrets = put_credentials(owner, &room, &d.name, d.credentials.as_ref()).await?;
        let schema: Vec<Value> =
            d.schema.iter().map(|col| json!({"name": col.name, "type": col.column_type})).collect();
        let body = json!({"kind": "dataset", "location": d.location, "format": d.format, "schema": schema,
            "allowed_fields": d.allowed_fields, "secrets": secrets});
        publish(owner, &room, &d.name, body, &format!("dataset {}", d.name)).await?;
        say(format!("dataset {} published by {}", d.name, d.owner));
    }
    for sink in &c.sinks {
        let owner = player(&sink.owner);
        let secrets = put_credentials(owner, &room, &sink.name, sink.credentials.as_ref()).await?;
        let body = json!({"kind": "sink", "location": sink.location, "format": sink.format,
            "allowed_fields": sink.allowed_fields, "secrets": secrets});
        publish(owner, &room, &sink.name, body, &format!("sink {}", sink.name)).await?;
        say(format!("sink {} published by {}", sink.name, sink.owner));
    }

    // The query, by its owner; the other approvers vote unless they hold back.
    let q = &c.query;
    let query_owner = player(c.query_owner());
    let segments: Vec<Value> = q
        .segments
        .iter()
        .map(|seg| {
            json!({"execution_order": seg.execution_order, "sql": seg.sql,
                "preconditions": seg.pre_conditions.iter().map(|p| json!({"view": p.view_name, "min_rows": p.min_row_count})).collect::<Vec<_>>(),
                "post_filters": seg.post_filters.iter().map(|f| json!({"column": f.column_name, "min": f.value})).collect::<Vec<_>>()})
        })
        .collect();
    let inputs: Vec<Value> = q.inputs.iter().map(|d| json!({"dataset": d, "view": d})).collect();
    let body = json!({"kind": "query", "segments": segments, "inputs": inputs, "sink": q.sink});
    let proposed = publish(query_owner, &room, &q.name, body, "query").await?;
    say(format!("query {} proposed by {}", q.name, query_owner.name));
    let voted: BTreeMap<String, Value> =
        proposed["ballots"].as_object().map(|b| b.clone().into_iter().collect()).unwrap_or_default();
    for approver in proposed["approvers"].as_array().into_iter().flatten().map(s) {
        if voted.contains_key(&approver) {
            continue;
        }
        let Some(party) = c.parties.iter().find(|p| p.name == approver) else { continue };
        if !party.approve {
            say(format!("{approver} does not approve {}", q.name));
            continue;
        }
        let path = format!("{room}/documents/{}/ballots", segment(&q.name));
        player(&approver)
            .client
            .call(Method::POST, &path, Some(json!({"vote": "accept"})))
            .await
            .map_err(at(&format!("approve as {approver}")))?;
        say(format!("{approver} approved {}", q.name));
    }

    // Parties that withhold consent turn execution off on the contract.
    for party in c.parties.iter().filter(|p| !p.consent) {
        let path = format!("{room}/consent/contract/{CONTRACT_ID}/execution");
        player(&party.name)
            .client
            .call(Method::PUT, &path, Some(json!({"enabled": false})))
            .await
            .map_err(at(&format!("consent as {}", party.name)))?;
        say(format!("{} withdrew execution consent", party.name));
    }

    let mut result = json!({"cleanroom": name, "query": q.name, "jobId": null, "state": null, "rowsWritten": null,
        "output": null, "receipt": null});
    if !c.run {
        return Ok((result, ExitCode::SUCCESS));
    }
    let runner = &query_owner.client;
    runner.call(Method::POST, &format!("{room}/prepare"), Some(json!({}))).await.map_err(at("prepare"))?;
    say("prepared".into());
    let idempotency = format!("sandbox-{name}-{}", q.name);
    let started = runner
        .call_with(
            Method::POST,
            &format!("{room}/queries/{}/run", segment(&q.name)),
            Some(json!({})),
            &[("Idempotency-Key", &idempotency)],
        )
        .await
        .map_err(at("run"))?;
    let run_id = s(&started["id"]);
    say(format!("run {run_id} started; waiting for its end"));
    let ended = wait_for_run(runner, name, &run_id).await.map_err(at("wait"))?;
    result["jobId"] = json!(run_id);
    result["state"] = ended["state"].clone();
    result["rowsWritten"] = ended["rows_written"].clone();
    result["output"] = ended["output"].clone();
    result["receipt"] = ended["receipt"].clone();
    if !ended["failure"].is_null() {
        result["failure"] = ended["failure"].clone();
    }
    let code = if ended["state"] == "SUCCEEDED" { ExitCode::SUCCESS } else { ExitCode::FAILURE };
    Ok((result, code))
}

/// Every one of `voters` accepts the proposal, each signing its own ballot.
async fn vote_all(cleanroom: &str, room: &str, voters: &[Player], proposal: &str, step: &str) -> anyhow::Result<()> {
    let path = format!("{room}/proposals/{}/ballots", segment(proposal));
    for voter in voters {
        voter
            .signed(Method::POST, cleanroom, &path, "ballot", About::Proposal(proposal), &json!({"vote": "accept"}))
            .await
            .map_err(at(&format!("{step}: vote of {}", voter.name)))?;
    }
    Ok(())
}

/// Seals a document's credentials as its owner's secret; the secret names it needs.
async fn put_credentials(
    owner: &Player,
    room: &str,
    document: &str,
    credentials: Option<&Value>,
) -> anyhow::Result<Vec<String>> {
    use base64::Engine;
    let Some(credentials) = credentials else {
        return Ok(Vec::new());
    };
    let secret = format!("{document}-credentials");
    let value = base64::engine::general_purpose::STANDARD.encode(credentials.to_string());
    let path = format!("{room}/secrets/{}", segment(&secret));
    owner
        .client
        .call(Method::PUT, &path, Some(json!({"value": value})))
        .await
        .map_err(at(&format!("secret {secret}")))?;
    Ok(vec![secret])
}

/// Writes a document draft as its owner and proposes it; the answer is the proposed document.
async fn publish(owner: &Player, room: &str, id: &str, body: Value, step: &str) -> anyhow::Result<Value> {
    let path = format!("{room}/documents/{}", segment(id));
    let draft = json!({"contract_id": CONTRACT_ID, "body": body});
    owner.client.call(Method::PUT, &path, Some(draft)).await.map_err(at(step))?;
    owner.client.call(Method::POST, &format!("{path}/propose"), None).await.map_err(at(step))
}
