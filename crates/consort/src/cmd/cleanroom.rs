//! `consort cleanroom ...` and `consort member keygen`: clean-room governance from the command
//! line. Member requests are signed here with the member's key file (COSE_Sign1); user
//! requests go with the API token like every other command.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use consort_signing::{KeyAlgorithm, MemberKeyPair, RequestHeader};
use reqwest::Method;
use serde_json::{Value, json};

use crate::cli::{CleanroomCommand, MemberCommand, MemberKeyArgs, RemoteArgs};
use crate::cmd::remote::{self, s, segment};

pub fn member(command: MemberCommand) -> anyhow::Result<ExitCode> {
    match command {
        MemberCommand::Keygen { algorithm, certificate, subject, days, out } => {
            let algorithm = match algorithm.to_ascii_lowercase().as_str() {
                "es256" | "p256" | "p-256" => KeyAlgorithm::EcdsaP256,
                "es384" | "p384" | "p-384" => KeyAlgorithm::EcdsaP384,
                "ed25519" | "eddsa" => KeyAlgorithm::Ed25519,
                other => bail!("--algorithm {other:?} is not one of es256, es384, ed25519"),
            };
            let pair = MemberKeyPair::generate(algorithm).context("generating the key pair")?;
            let public = if certificate {
                consort_signing::self_signed_certificate(&pair, &subject, jiff::Timestamp::now().as_second(), days)
                    .context("making the self-signed certificate")?
            } else {
                pair.public_key().to_pem()
            };
            let key_file = with_suffix(&out, ".key.pem");
            let public_file = with_suffix(&out, ".pub.pem");
            write_private(&key_file, pair.to_pkcs8_pem().as_bytes())?;
            std::fs::write(&public_file, public).with_context(|| format!("cannot write {}", public_file.display()))?;
            println!("private key: {} (keep it; mode 0600)", key_file.display());
            println!(
                "public {}: {} (give it to the other members)",
                if certificate { "certificate" } else { "key" },
                public_file.display()
            );
            println!("key id: {}", pair.key_id());
        }
        MemberCommand::IssueCredential { member_id, key, cleanroom, user, ttl, id } => {
            let key = load_key(&key)?;
            let ttl_s = crate::cmd::tokens::parse_duration("--ttl", &ttl)?;
            let ttl_s = i64::try_from(ttl_s).context("--ttl is too long")?;
            let id = match id {
                Some(id) => id,
                None => consort_governance::credentials::random_id().map_err(|e| anyhow::anyhow!("{e}"))?,
            };
            let now = jiff::Timestamp::now().as_second();
            let credential =
                consort_governance::credentials::issue(&key, &member_id, &cleanroom, &user, &id, now, ttl_s)
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("{credential}");
            let expires = jiff::Timestamp::from_second(now + ttl_s).map(|t| t.to_string()).unwrap_or_default();
            eprintln!("credential id: {id} (user {user} of {cleanroom}, expires {expires})");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn with_suffix(prefix: &Path, suffix: &str) -> PathBuf {
    let mut name = prefix.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut file = options.open(path).with_context(|| {
        format!("cannot create {} (it must not exist yet: keys are never overwritten)", path.display())
    })?;
    file.write_all(bytes).with_context(|| format!("cannot write {}", path.display()))
}

pub(crate) fn load_key(path: &Path) -> anyhow::Result<MemberKeyPair> {
    let text = std::fs::read_to_string(path).with_context(|| {
        format!("cannot read the member key {}; make one with `consort member keygen`", path.display())
    })?;
    MemberKeyPair::from_pem(&text).with_context(|| format!("{} is not a member private key", path.display()))
}

/// What a signed request names besides its clean room and type (the server checks it).
#[derive(Clone, Copy, Debug)]
pub(crate) enum About<'a> {
    /// Nothing more.
    Nothing,
    /// The proposal of a ballot or withdrawal.
    Proposal(&'a str),
    /// The route's path below the clean room, unencoded: `contracts/c1`, `consent/document/d1/logging`.
    Subject(&'a str),
}

/// Signs `payload` as a governance request of `msg_type` for `cleanroom`.
fn sign(
    member: &MemberKeyArgs,
    cleanroom: &str,
    msg_type: &str,
    about: About<'_>,
    payload: &Value,
) -> anyhow::Result<Vec<u8>> {
    let key = load_key(&member.member_key)?;
    sign_with(&key, &member.member_id, cleanroom, msg_type, about, payload)
}

/// Signs `payload` with a key already loaded (the sandbox holds every party's).
pub(crate) fn sign_with(
    key: &MemberKeyPair,
    member_id: &str,
    cleanroom: &str,
    msg_type: &str,
    about: About<'_>,
    payload: &Value,
) -> anyhow::Result<Vec<u8>> {
    let (proposal_id, subject) = match about {
        About::Nothing => (None, None),
        About::Proposal(id) => (Some(id.to_string()), None),
        About::Subject(subject) => (None, Some(subject.to_string())),
    };
    let header = RequestHeader {
        member_id: member_id.to_string(),
        msg_type: msg_type.to_string(),
        cleanroom: cleanroom.to_string(),
        created_at: jiff::Timestamp::now().as_second(),
        proposal_id,
        subject,
    };
    consort_signing::sign_request(key, &header, payload.to_string().as_bytes()).context("signing the request")
}

pub(crate) fn room(name: &str) -> String {
    format!("/v1/cleanrooms/{}", segment(name))
}

fn vote_of(text: &str) -> anyhow::Result<&'static str> {
    match text.to_ascii_lowercase().as_str() {
        "accept" | "yes" => Ok("accept"),
        "reject" | "no" => Ok("reject"),
        other => bail!("{other:?} is not a vote: use accept or reject"),
    }
}

/// The states a run does not leave.
pub(crate) const FINAL_STATES: [&str; 4] = ["SUCCEEDED", "FAILED", "STOPPED", "REVOKED"];

/// Polls a run until its state is final; returns the last answer.
pub(crate) async fn wait_for_run(client: &remote::Client, cleanroom: &str, run: &str) -> anyhow::Result<Value> {
    let path = format!("{}/runs/{}", room(cleanroom), segment(run));
    let mut pause = std::time::Duration::from_millis(250);
    let mut progress = crate::progress::Progress::new(format!("run {run}"));
    loop {
        let answer = client.call(Method::GET, &path, None).await?;
        let state = s(&answer["state"]);
        progress.state(&state);
        if FINAL_STATES.contains(&state.as_str()) {
            progress.done();
            return Ok(answer);
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(std::time::Duration::from_secs(2));
    }
}

fn on_off(text: &str) -> anyhow::Result<bool> {
    match text.to_ascii_lowercase().as_str() {
        "on" | "enable" | "true" => Ok(true),
        "off" | "disable" | "false" => Ok(false),
        other => bail!("{other:?} is not a state: use on or off"),
    }
}

pub fn run(args: RemoteArgs<CleanroomCommand>) -> anyhow::Result<ExitCode> {
    remote::run_with_code(args, async |client, command| {
        match command {
            CleanroomCommand::Init { name, member, member_public, user, principal } => {
                let public = std::fs::read_to_string(&member_public)
                    .with_context(|| format!("cannot read {}", member_public.display()))?;
                let mut payload = json!({"name": name, "member_id": member.member_id, "member_public_key_pem": public});
                if let (Some(id), Some(principal)) = (user, principal) {
                    payload["user"] = json!({"id": id, "principal": principal});
                }
                let cose = sign(&member, &name, "cleanroom.init", About::Nothing, &payload)?;
                let answer = client.send_signed(Method::POST, "/v1/cleanrooms", cose).await?;
                client.print(&answer, |v| {
                    println!("clean room {} created with member {}", s(&v["name"]), member.member_id)
                });
            }
            CleanroomCommand::List => {
                let answer = client.call(Method::GET, "/v1/cleanrooms", None).await?;
                client.print(&answer, |v| {
                    for name in v["items"].as_array().into_iter().flatten() {
                        println!("{}", s(name));
                    }
                });
            }
            CleanroomCommand::Show { name } => {
                let base = room(&name);
                let mut all = json!({});
                for part in ["members", "users", "proposals", "contracts", "documents"] {
                    all[part] = client.call(Method::GET, &format!("{base}/{part}"), None).await?["items"].clone();
                }
                client.print(&all, print_room);
            }
            CleanroomCommand::Propose { name, member, actions, add_member } => {
                let mut list = Vec::new();
                for text in &actions {
                    let action: Value = serde_json::from_str(text).with_context(|| {
                        format!("--action {text:?} is not JSON; e.g. '{{\"action\":\"remove_user\",\"id\":\"bob\"}}'")
                    })?;
                    list.push(action);
                }
                for spec in &add_member {
                    let (id, file) = spec.split_once('=').context("--add-member takes ID=PUBLIC_KEY_FILE")?;
                    let pem = std::fs::read_to_string(file).with_context(|| format!("cannot read {file}"))?;
                    list.push(json!({"action": "add_member", "id": id, "public_key_pem": pem}));
                }
                if list.is_empty() {
                    bail!("nothing to propose: give --action JSON or --add-member ID=FILE");
                }
                let cose = sign(&member, &name, "proposal", About::Nothing, &json!({"actions": list}))?;
                let answer = client.send_signed(Method::POST, &format!("{}/proposals", room(&name)), cose).await?;
                client.print(&answer, print_proposal);
            }
            CleanroomCommand::Vote { name, proposal, vote, member } => {
                let vote = vote_of(&vote)?;
                let cose = sign(&member, &name, "ballot", About::Proposal(&proposal), &json!({"vote": vote}))?;
                let path = format!("{}/proposals/{}/ballots", room(&name), segment(&proposal));
                let answer = client.send_signed(Method::POST, &path, cose).await?;
                client.print(&answer, print_proposal);
            }
            CleanroomCommand::Withdraw { name, proposal, member } => {
                let cose = sign(&member, &name, "withdrawal", About::Proposal(&proposal), &json!({}))?;
                let path = format!("{}/proposals/{}/withdraw", room(&name), segment(&proposal));
                let answer = client.send_signed(Method::POST, &path, cose).await?;
                client.print(&answer, print_proposal);
            }
            CleanroomCommand::Contract { name, id, data, version, member } => {
                let text = std::fs::read_to_string(&data).with_context(|| format!("cannot read {}", data.display()))?;
                let data: Value =
                    serde_json::from_str(&text).with_context(|| format!("{} is not JSON", data.display()))?;
                let mut payload = json!({"data": data});
                if let Some(v) = version {
                    payload["version"] = json!(v);
                }
                let cose = sign(&member, &name, "contract", About::Subject(&format!("contracts/{id}")), &payload)?;
                let path = format!("{}/contracts/{}", room(&name), segment(&id));
                let answer = client.send_signed(Method::PUT, &path, cose).await?;
                client.print(&answer, |v| {
                    println!("contract {} version {}: {}", s(&v["id"]), s(&v["version"]), s(&v["state"]))
                });
            }
            CleanroomCommand::Publish { name, id, file, propose } => {
                let text = std::fs::read_to_string(&file).with_context(|| format!("cannot read {}", file.display()))?;
                let draft: Value =
                    serde_json::from_str(&text).with_context(|| format!("{} is not JSON", file.display()))?;
                let path = format!("{}/documents/{}", room(&name), segment(&id));
                let mut answer = client.call(Method::PUT, &path, Some(draft)).await?;
                if propose {
                    answer = client.call(Method::POST, &format!("{path}/propose"), None).await?;
                }
                client.print(&answer, print_document);
            }
            CleanroomCommand::Approve { name, id, vote } => {
                let vote = vote_of(&vote)?;
                let path = format!("{}/documents/{}/ballots", room(&name), segment(&id));
                let answer = client.call(Method::POST, &path, Some(json!({"vote": vote}))).await?;
                client.print(&answer, print_document);
            }
            CleanroomCommand::Secret { name, secret, value_file } => {
                use base64::Engine;
                let value =
                    std::fs::read(&value_file).with_context(|| format!("cannot read {}", value_file.display()))?;
                let body = json!({"value": base64::engine::general_purpose::STANDARD.encode(&value)});
                let path = format!("{}/secrets/{}", room(&name), segment(&secret));
                client.call(Method::PUT, &path, Some(body)).await?;
                client.print(&json!({"secret": secret, "cleanroom": name}), |_| {
                    println!("secret {secret} sealed in {name}");
                });
            }
            CleanroomCommand::Grant { name, secret, run, measurements, consent } => {
                let mut subjects = Vec::new();
                for c in &consent {
                    let (kind, id) = c.split_once(':').context("--consent takes contract:ID or document:ID")?;
                    subjects.push(json!({"kind": kind, "id": id}));
                }
                let body = json!({"run_id": run, "secret": secret, "policy": {"measurements": measurements},
                    "consent": subjects});
                let answer = client.call(Method::POST, &format!("{}/grants/secrets", room(&name)), Some(body)).await?;
                client.print(&answer, |v| println!("secret {} granted to run {}", s(&v["secret"]), s(&v["run_id"])));
            }
            CleanroomCommand::Consent { name, kind, id, option, state, member_id, member_key } => {
                let enabled = on_off(&state).context("the consent state")?;
                let path = format!("{}/consent/{}/{}/{}", room(&name), segment(&kind), segment(&id), segment(&option));
                let body = json!({"enabled": enabled});
                let answer = match (member_id, member_key) {
                    (Some(member_id), Some(member_key)) => {
                        let member = MemberKeyArgs { member_id, member_key };
                        let subject = format!("consent/{kind}/{id}/{option}");
                        let cose = sign(&member, &name, "consent", About::Subject(&subject), &body)?;
                        client.send_signed(Method::PUT, &path, cose).await?
                    }
                    _ => client.call(Method::PUT, &path, Some(body)).await?,
                };
                client.print(&answer, print_consent);
            }
            CleanroomCommand::Prepare { name, backend, member_id, member_key } => {
                let body = match &backend {
                    Some(b) => json!({"backend": b}),
                    None => json!({}),
                };
                let path = format!("{}/prepare", room(&name));
                let answer = match (member_id, member_key) {
                    (Some(member_id), Some(member_key)) => {
                        let member = MemberKeyArgs { member_id, member_key };
                        let cose = sign(&member, &name, "prepare", About::Nothing, &body)?;
                        client.send_signed(Method::POST, &path, cose).await?
                    }
                    _ => client.call(Method::POST, &path, Some(body)).await?,
                };
                client.print(&answer, print_prepared);
            }
            CleanroomCommand::Run { name, query, backend, idempotency_key, wait } => {
                let body = match &backend {
                    Some(b) => json!({"backend": b}),
                    None => json!({}),
                };
                let path = format!("{}/queries/{}/run", room(&name), segment(&query));
                let headers: Vec<(&str, &str)> =
                    idempotency_key.as_deref().map(|k| ("Idempotency-Key", k)).into_iter().collect();
                let mut answer = client.call_with(Method::POST, &path, Some(body), &headers).await?;
                if wait {
                    if !client.json() {
                        println!("run {} of {query}: {} (waiting for its end)", s(&answer["id"]), s(&answer["state"]));
                    }
                    answer = wait_for_run(client, &name, &s(&answer["id"])).await?;
                }
                client.print(&answer, |v| print_runs(&json!([v])));
                if wait && answer["state"] != "SUCCEEDED" {
                    return Ok(ExitCode::FAILURE);
                }
            }
            CleanroomCommand::Runs { name, query } => {
                let filter = query.map(|q| format!("?query={}", segment(&q))).unwrap_or_default();
                let answer = client.call(Method::GET, &format!("{}/runs{filter}", room(&name)), None).await?;
                client.print(&answer, |v| print_runs(&v["items"]));
            }
            CleanroomCommand::Status { name, run } => {
                let path = format!("{}/runs/{}", room(&name), segment(&run));
                let answer = client.call(Method::GET, &path, None).await?;
                client.print(&answer, print_run);
            }
            CleanroomCommand::Logs { name, run } => {
                let path = format!("{}/runs/{}/log", room(&name), segment(&run));
                let bytes = client.get_bytes(&path).await?;
                let text = String::from_utf8_lossy(&bytes);
                client.print(&json!({"run": run, "log": text}), |_| print!("{text}"));
            }
            CleanroomCommand::Approval { name, query, state } => {
                let approve = on_off(&state).context("the approval state")?;
                let path = format!("{}/documents/{}/approval", room(&name), segment(&query));
                client.call(Method::PUT, &path, Some(json!({"approve": approve}))).await?;
                client.print(&json!({"cleanroom": name, "query": query, "approve": approve}), |_| {
                    if approve {
                        println!("approval of {query} given back");
                    } else {
                        println!("approval of {query} withdrawn; its running runs are revoked");
                    }
                });
            }
            CleanroomCommand::RevokeCredential { name, id, credential, member } => {
                let mut payload = json!({"credential_id": id});
                if let Some(file) = &credential {
                    payload["credential"] = json!(read_presented_credential(file)?);
                }
                let cose = sign(&member, &name, "credential.revoke", About::Nothing, &payload)?;
                let path = format!("{}/credentials/revocations", room(&name));
                let answer = client.send_signed(Method::POST, &path, cose).await?;
                client.print(&answer, print_revocation);
            }
            CleanroomCommand::Invitations { name } => {
                let answer = client.call(Method::GET, &format!("{}/invitations", room(&name)), None).await?;
                client.print(&answer, |v| {
                    for i in v["items"].as_array().into_iter().flatten() {
                        println!(
                            "{}  user {}  for {}{}  {}",
                            s(&i["id"]),
                            s(&i["user_id"]),
                            s(&i["principal"]),
                            i["issuer"].as_str().map(|iss| format!(" ({iss})")).unwrap_or_default(),
                            s(&i["state"])
                        );
                    }
                });
            }
            CleanroomCommand::AcceptInvitation { name, id } => {
                let path = format!("{}/invitations/{}/accept", room(&name), segment(&id));
                let answer = client.call(Method::POST, &path, None).await?;
                client.print(&answer, |v| println!("you are user {} of {name}", s(&v["id"])));
            }
            CleanroomCommand::Sandbox { file } => return crate::cmd::sandbox::run(client, &file).await,
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// Reads the `ccu_…` credential a revocation presents, refusing a file that cannot be read or
/// holds no credential before anything is sent. Whether it is this clean room's and this id's,
/// and signed by its member, is the server's to say (it holds the members' keys).
fn read_presented_credential(file: &Path) -> anyhow::Result<String> {
    const FIX: &str = "give the file `consort member issue-credential` printed the credential to, \
                       or leave --credential out to revoke by id alone";
    let bytes =
        std::fs::read(file).with_context(|| format!("--credential {}: cannot read it; {FIX}", file.display()))?;
    let Ok(text) = String::from_utf8(bytes) else {
        bail!("--credential {}: it is not text, so holds no `ccu_…` credential; {FIX}", file.display());
    };
    let text = text.trim();
    // The parse error says what is wrong, and how to fix it, without repeating the credential.
    if let Err(e) = consort_governance::credentials::parse(text) {
        bail!("--credential {}: {e}, or leave --credential out to revoke by id alone", file.display());
    }
    Ok(text.to_string())
}

fn print_revocation(v: &Value) {
    let id = s(&v["credential_id"]);
    println!("credential {id} revoked by {}", s(&v["by"]));
    match v["expires_at"].as_i64().and_then(|at| jiff::Timestamp::from_second(at).ok()) {
        Some(at) => println!("  it expires at {at}; the revocation is forgotten an hour after"),
        None => println!("  kept for good (revoke with --credential FILE to let it be forgotten once it expired)"),
    }
}

fn print_prepared(v: &Value) {
    println!(
        "prepared {} by {}: runner {} on backend {}",
        s(&v["id"]),
        s(&v["prepared_by"]),
        s(&v["runner"]["measurement"]),
        s(&v["runner"]["backend"])
    );
    for k in v["keys"].as_array().into_iter().flatten() {
        println!("  key {} of {} (owner {})", s(&k["secret"]), s(&k["document"]), s(&k["owner"]));
    }
}

fn print_runs(list: &Value) {
    println!(
        "{:<18} {:<20} {:<10} {:>9} {:>9} {:<14} OUTPUT / FAILURE",
        "RUN", "QUERY", "STATE", "READ", "WRITTEN", "BY"
    );
    for r in list.as_array().into_iter().flatten() {
        let outcome = if r["failure"].is_string() { s(&r["failure"]) } else { s(&r["output"]) };
        println!(
            "{:<18} {:<20} {:<10} {:>9} {:>9} {:<14} {outcome}",
            s(&r["id"]),
            s(&r["query"]),
            s(&r["state"]),
            s(&r["rows_read"]),
            s(&r["rows_written"]),
            s(&r["requested_by"]),
        );
    }
}

fn print_run(v: &Value) {
    print_runs(&json!([v]));
    for segment in v["segments"].as_array().into_iter().flatten() {
        println!("  segment {}: {} rows", s(&segment["execution_order"]), s(&segment["rows"]));
    }
    println!("  backend {}  policy {}", s(&v["backend"]), s(&v["run_policy"]));
    if let Some(seq) = v["end_seq"].as_u64() {
        println!("  ended at ledger entry {seq} (`consort cleanroom status --json` shows its receipt)");
    }
}

fn print_room(v: &Value) {
    let list = |key: &str| v[key].as_array().cloned().unwrap_or_default();
    println!("members:");
    for m in list("members") {
        println!("  {:<24} {}", s(&m["id"]), s(&m["status"]));
    }
    println!("users:");
    for u in list("users") {
        println!("  {:<24} {:<10} principal {}", s(&u["id"]), s(&u["status"]), s(&u["principal"]));
    }
    println!("proposals:");
    for p in list("proposals") {
        println!("  {:<66} {:<9} by {}", s(&p["id"]), s(&p["state"]), s(&p["proposer"]));
    }
    println!("contracts:");
    for c in list("contracts") {
        println!("  {:<24} v{:<4} {}", s(&c["id"]), s(&c["version"]), s(&c["state"]));
    }
    println!("documents:");
    for d in list("documents") {
        println!(
            "  {:<24} {:<8} v{:<4} {:<9} owner {}",
            s(&d["id"]),
            s(&d["body"]["kind"]),
            s(&d["version"]),
            s(&d["state"]),
            s(&d["owner"])
        );
    }
}

fn print_proposal(v: &Value) {
    println!("proposal {}: {}", s(&v["id"]), s(&v["state"]));
    if let Some(ballots) = v["ballots"].as_object() {
        for (member, vote) in ballots {
            println!("  {member}: {}", s(vote));
        }
    }
}

fn print_document(v: &Value) {
    println!("document {} ({}) version {}: {}", s(&v["id"]), s(&v["body"]["kind"]), s(&v["version"]), s(&v["state"]));
    let approvers: Vec<String> = v["approvers"].as_array().into_iter().flatten().map(s).collect();
    if !approvers.is_empty() {
        println!("  approvers: {}", approvers.join(", "));
    }
}

fn print_consent(v: &Value) {
    for o in v["options"].as_array().into_iter().flatten() {
        let off: Vec<String> = o["off_by"].as_array().into_iter().flatten().map(s).collect();
        let state = if o["enabled"].as_bool() == Some(true) {
            "on".to_string()
        } else {
            format!("off (by {})", off.join(", "))
        };
        println!("{:<10} {state}", s(&o["option"]));
    }
}
