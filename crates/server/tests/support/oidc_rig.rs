//! The real OpenID provider (`rigs/oidc`, the certified `oidc-provider` package) for the
//! server's JWT test and the auth benchmark: started on 127.0.0.1 with one client per
//! signing algorithm (`c-rs256`, ...; each a `viewer` by its `groups` claim), tokens by real
//! `client_credentials` requests. The rotation scenarios live in `crates/auth/tests/oidc.rs`.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::{Value, json};

/// The audience of every token the rig issues.
pub const AUD: &str = "https://consort.test/api";

/// Signing algorithms of the clients the rig knows (`c-rs256` …), all `viewer`s.
pub const ALGS: [(&str, &str); 4] = [("RS256", "rsa"), ("PS256", "rsa"), ("ES256", "ec-p256"), ("EdDSA", "ed25519")];

fn client_id(alg: &str) -> String {
    format!("c-{}", alg.to_ascii_lowercase())
}

fn tool_cache() -> PathBuf {
    std::env::var_os("CONSORT_CACHE")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/consort")))
        .expect("neither CONSORT_CACHE nor HOME is set")
}

fn rig_source() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rigs/oidc")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A private JWK made by the rig's keygen.
fn keygen(kind: &str, kid: &str) -> Value {
    let out =
        Command::new("node").args(["keygen.mjs", kind, kid]).current_dir(rig_source()).output().expect("node runs");
    assert!(out.status.success(), "keygen failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The real provider on 127.0.0.1, killed when dropped.
pub struct Rig {
    dir: PathBuf,
    port: u16,
    child: Child,
}

impl Rig {
    pub fn start() -> Rig {
        let modules = tool_cache().join("rigs/oidc/node_modules");
        assert!(
            modules.join("oidc-provider/package.json").is_file(),
            "the OpenID provider rig is not installed ({} is missing): run scripts/setup (45-oidc-provider.sh)",
            modules.display()
        );
        let dir = std::env::temp_dir().join(format!("consort-oidc-rig-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let keys = [keygen("rsa", "rsa-a"), keygen("ec-p256", "ec-e"), keygen("ed25519", "ed-d")];
        std::fs::write(dir.join("keys.json"), json!({ "keys": keys }).to_string()).unwrap();
        let clients: Vec<Value> = ALGS
            .iter()
            .map(|(alg, _)| {
                json!({"client_id": client_id(alg), "client_secret": format!("secret-{}", client_id(alg)),
                       "alg": alg, "claims": {"groups": ["viewer"]}})
            })
            .collect();
        std::fs::write(dir.join("clients.json"), Value::from(clients).to_string()).unwrap();
        let port = free_port();
        let log = dir.join("provider.log");
        let mut child = Command::new("node")
            .arg(rig_source().join("server.mjs"))
            .args(["--port", &port.to_string()])
            .arg("--keys")
            .arg(dir.join("keys.json"))
            .arg("--clients")
            .arg(dir.join("clients.json"))
            .args(["--access-token-ttl", "3600"])
            .arg("--node-modules")
            .arg(&modules)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("node starts");
        let stdout = child.stdout.take().unwrap();
        let ready = BufReader::new(stdout).lines().map_while(Result::ok).any(|l| l.starts_with("oidc rig ready on "));
        let rig = Rig { dir, port, child };
        assert!(ready, "the OpenID provider did not start:\n{}", std::fs::read_to_string(&log).unwrap_or_default());
        rig
    }

    pub fn issuer(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// An access token for `alg`'s client by a real `client_credentials` request.
    pub async fn token(&self, http: &reqwest::Client, alg: &str) -> String {
        let client = client_id(alg);
        let response = http
            .post(format!("{}/token", self.issuer()))
            .basic_auth(&client, Some(format!("secret-{client}")))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("grant_type=client_credentials&resource=https%3A%2F%2Fconsort.test%2Fapi")
            .send()
            .await
            .unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        assert!(status.is_success(), "token request for {client} answered {status}: {text}");
        serde_json::from_str::<Value>(&text).unwrap()["access_token"].as_str().unwrap().to_string()
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
