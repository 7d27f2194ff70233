//! A real Kubernetes API server for the `kubernetes` Spark backend: etcd and the standalone CRD
//! API server (k8s.io/apiextensions-apiserver, built by scripts/setup.d/35-kube-apiserver.sh),
//! serving CRDs only (no pods, no operator). [`KubeApiServer::install_spark_crd`] installs the
//! SparkApplication CRD from rigs/kube-apiserver/crds; whoever uses the rig plays the Spark
//! Operator by writing the `status` subresource.
//!
//! TLS with a CA of the rig's own; the client certificate in the written kubeconfig is in
//! `system:masters`, the group the server always authorizes (it has no RBAC of its own). The
//! kubeconfig's context namespace is `from-context`.
//!
//! Both processes run under `sh`, which kills them when its stdin (our pipe) closes: they go
//! with the rig on drop, and with the process that started it even when that one is SIGKILLed.

use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, PostParams};
use kube::runtime::wait::{await_condition, conditions};

use crate::{cache_dir, clean_up, free_port, scratch};

/// A process under `sh` that kills it when its stdin closes.
#[derive(Debug)]
struct Supervised {
    sh: Child,
    stdin: Option<ChildStdin>,
}

impl Supervised {
    fn spawn(command: &mut Command, dir: &Path, log: &str) -> Supervised {
        let out = std::fs::File::create(dir.join(format!("{log}.out"))).unwrap();
        let err = std::fs::File::create(dir.join(format!("{log}.err"))).unwrap();
        let program = command.get_program().to_owned();
        let mut sh = Command::new("sh")
            .arg("-c")
            .arg(r#""$@" & pid=$!; cat >/dev/null; kill $pid 2>/dev/null; wait $pid"#)
            .arg("sh")
            .arg(&program)
            .args(command.get_args())
            .stdin(Stdio::piped())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("sh runs");
        let stdin = sh.stdin.take();
        Supervised { sh, stdin }
    }

    fn has_exited(&mut self) -> bool {
        matches!(self.sh.try_wait(), Ok(Some(_)))
    }

    /// Stops the process and waits until it is gone.
    fn stop(&mut self) {
        drop(self.stdin.take());
        let _ = self.sh.wait();
    }
}

/// etcd and the CRD API server on free 127.0.0.1 ports, in a scratch directory; both stopped
/// (and the directory removed) on drop.
#[derive(Debug)]
pub struct KubeApiServer {
    etcd: Supervised,
    apiserver: Option<Supervised>,
    dir: PathBuf,
    etcd_url: String,
    port: u16,
    url: String,
    kubeconfig: PathBuf,
    /// Whether the SparkApplication CRD was installed: a restart waits until it is served again.
    spark_crd: bool,
}

impl KubeApiServer {
    /// Makes the certificates and kubeconfigs, starts etcd and the API server, and waits until
    /// the server lets the kubeconfig's client in; panics with a clear message when a piece is
    /// missing (run `scripts/setup`) or does not start within two minutes.
    pub async fn start() -> KubeApiServer {
        let started = Instant::now();
        let server = apiserver_binary();
        assert!(server.is_file(), "{} missing: run scripts/setup (35-kube-apiserver.sh)", server.display());
        let dir = scratch("k8s");
        certificates(&dir);
        let (etcd_client, etcd_peer, port) = (free_port(), free_port(), free_port());
        let etcd_url = format!("http://127.0.0.1:{etcd_client}");
        let url = format!("https://127.0.0.1:{port}");
        let kubeconfig = dir.join("kubeconfig");
        std::fs::write(&kubeconfig, client_kubeconfig(&dir, &url)).unwrap();
        // The server's delegated authn/authz and its core-API informers need a kubeconfig of a
        // "core" server; like upstream's own integration fixture, point them at an address nothing
        // serves and turn off what would call it (admission plugins, priority and fairness).
        std::fs::write(
            dir.join("unused-core.kubeconfig"),
            "apiVersion: v1\nkind: Config\nclusters:\n- name: none\n  cluster:\n    server: http://127.0.0.1:1\n\
             contexts:\n- name: none\n  context:\n    cluster: none\n    user: none\ncurrent-context: none\n\
             users:\n- name: none\n  user:\n    token: unused\n",
        )
        .unwrap();

        let peer = format!("http://127.0.0.1:{etcd_peer}");
        let etcd = Supervised::spawn(
            Command::new(etcd_binary())
                .args(["--name", "consort-test", "--data-dir"])
                .arg(dir.join("etcd"))
                .args(["--listen-client-urls", &etcd_url, "--advertise-client-urls", &etcd_url])
                .args(["--listen-peer-urls", &peer, "--initial-advertise-peer-urls", &peer])
                .args(["--initial-cluster", &format!("consort-test={peer}")]),
            &dir,
            "etcd",
        );
        let mut rig = KubeApiServer { etcd, apiserver: None, dir, etcd_url, port, url, kubeconfig, spark_crd: false };
        let deadline = Instant::now() + Duration::from_secs(120);
        while !etcd_healthy(etcd_client) {
            assert!(!rig.etcd.has_exited(), "etcd exited; see {}", rig.dir.join("etcd.err").display());
            assert!(Instant::now() < deadline, "etcd did not start; see {}", rig.dir.join("etcd.err").display());
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let etcd_ready = started.elapsed();
        rig.start_apiserver(deadline).await;
        eprintln!(
            "rig: etcd ready after {:.1}s, API server after {:.1}s",
            etcd_ready.as_secs_f64(),
            started.elapsed().as_secs_f64()
        );
        rig
    }

    /// The API server's URL, `https://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A kubeconfig for the rig: its CA, a `system:masters` client certificate, namespace
    /// `from-context`.
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// The scratch directory (logs: `etcd.err`, `apiserver.err`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A client from [`KubeApiServer::kubeconfig`].
    pub async fn client(&self) -> kube::Client {
        client(&self.kubeconfig).await
    }

    /// Installs the SparkApplication CRD and waits until it is Established and in discovery.
    pub async fn install_spark_crd(&mut self) {
        let client = self.client().await;
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rigs/kube-apiserver/crds/sparkapplications.yaml");
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let crd: CustomResourceDefinition = serde_saphyr::from_str(&text).unwrap();
        let name = crd.metadata.name.clone().unwrap();
        let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
        crds.create(&PostParams::default(), &crd).await.unwrap();
        let established = await_condition(crds, &name, conditions::is_crd_established());
        tokio::time::timeout(Duration::from_secs(60), established).await.expect("CRD not Established in 60s").unwrap();
        // Discovery serves the new group a moment after Established, as on any cluster.
        spark_applications_served(&client, Instant::now() + Duration::from_secs(60)).await;
        self.spark_crd = true;
    }

    /// Stops the API server (etcd keeps its data); [`KubeApiServer::restart_apiserver`] brings
    /// it back on the same port.
    pub fn stop_apiserver(&mut self) {
        if let Some(mut server) = self.apiserver.take() {
            server.stop();
        }
    }

    /// Starts the API server again on the same port (stopping it first if it runs) and waits
    /// until it answers, and serves SparkApplications again if their CRD was installed: a
    /// restarted server registers the CRDs it finds in etcd a moment after it answers, and
    /// meanwhile answers 404 for their objects.
    pub async fn restart_apiserver(&mut self) {
        self.stop_apiserver();
        let deadline = Instant::now() + Duration::from_secs(120);
        self.start_apiserver(deadline).await;
        if self.spark_crd {
            spark_applications_served(&client(&self.kubeconfig).await, deadline).await;
        }
    }

    async fn start_apiserver(&mut self, deadline: Instant) {
        let p = |name: &str| self.dir.join(name).display().to_string();
        let server = Supervised::spawn(
            Command::new(apiserver_binary())
                .args(["--bind-address", "127.0.0.1", "--secure-port", &self.port.to_string()])
                .args(["--tls-cert-file", &p("server.crt"), "--tls-private-key-file", &p("server.key")])
                .args(["--client-ca-file", &p("ca.crt"), "--cert-dir", &p("certs")])
                .args(["--etcd-servers", &self.etcd_url, "--etcd-prefix", "/consort-test"])
                .args(["--authentication-skip-lookup"])
                .args(["--authentication-kubeconfig", &p("unused-core.kubeconfig")])
                .args(["--authorization-kubeconfig", &p("unused-core.kubeconfig")])
                .args(["--kubeconfig", &p("unused-core.kubeconfig")])
                .args(["--enable-priority-and-fairness=false"])
                .args([
                    "--disable-admission-plugins",
                    "NamespaceLifecycle,MutatingAdmissionWebhook,ValidatingAdmissionWebhook,ValidatingAdmissionPolicy,MutatingAdmissionPolicy",
                ]),
            &self.dir,
            "apiserver",
        );
        let apiserver = self.apiserver.insert(server);
        // Ready when our client is let in and the CRD API answers. (/readyz stays red: its
        // informer check waits for the core API nothing serves here.)
        let client = client(&self.kubeconfig).await;
        let log = self.dir.join("apiserver.err");
        while client.list_api_group_resources("apiextensions.k8s.io/v1").await.is_err() {
            assert!(!apiserver.has_exited(), "the API server exited; see {}", log.display());
            assert!(Instant::now() < deadline, "the API server did not start; see {}", log.display());
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

impl Drop for KubeApiServer {
    fn drop(&mut self) {
        self.stop_apiserver();
        self.etcd.stop();
        clean_up(&self.dir);
    }
}

/// Waits until discovery lists `sparkapplications` in `sparkoperator.k8s.io/v1beta2`.
async fn spark_applications_served(client: &kube::Client, deadline: Instant) {
    while !client
        .list_api_group_resources("sparkoperator.k8s.io/v1beta2")
        .await
        .is_ok_and(|list| list.resources.iter().any(|r| r.name == "sparkapplications"))
    {
        assert!(Instant::now() < deadline, "sparkoperator.k8s.io/v1beta2 is not in discovery");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn apiserver_binary() -> PathBuf {
    cache_dir().join("rigs/kube-apiserver/apiextensions-apiserver")
}

fn etcd_binary() -> PathBuf {
    ["/usr/bin/etcd", "/usr/local/bin/etcd"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .expect("etcd missing: run scripts/setup (35-kube-apiserver.sh)")
}

/// etcd's `/health` says `"health":"true"` (a plain HTTP/1.0 GET, no client library needed).
fn etcd_healthy(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else { return false };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let mut answer = String::new();
    stream.write_all(b"GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").is_ok()
        && stream.read_to_string(&mut answer).is_ok()
        && answer.contains("true")
}

async fn client(kubeconfig: &Path) -> kube::Client {
    let kubeconfig = kube::config::Kubeconfig::read_from(kubeconfig).unwrap();
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default()).await.unwrap();
    kube::Client::try_from(config).unwrap()
}

fn client_kubeconfig(dir: &Path, url: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: test\n  cluster:\n    server: {url}\n    certificate-authority: {ca}\n\
         contexts:\n- name: test\n  context:\n    cluster: test\n    user: test\n    namespace: from-context\n\
         current-context: test\nusers:\n- name: test\n  user:\n    client-certificate: {crt}\n    client-key: {key}\n",
        ca = dir.join("ca.crt").display(),
        crt = dir.join("client.crt").display(),
        key = dir.join("client.key").display(),
    )
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl").args(args).current_dir(dir).output().expect("openssl missing: run scripts/setup");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// A CA, a serving certificate for 127.0.0.1, and a client certificate in `system:masters`.
fn certificates(dir: &Path) {
    let days = ["-days", "2"];
    let ca = ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt"];
    openssl(dir, &[&ca[..], &["-subj", "/CN=consort-test-ca"], &days[..]].concat());
    std::fs::write(dir.join("server.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n")
        .unwrap();
    std::fs::write(dir.join("client.ext"), "extendedKeyUsage=clientAuth\n").unwrap();
    for (who, subject) in [("server", "/CN=127.0.0.1"), ("client", "/O=system:masters/CN=consort-test")] {
        let (key, csr, crt, ext) =
            (format!("{who}.key"), format!("{who}.csr"), format!("{who}.crt"), format!("{who}.ext"));
        openssl(dir, &["req", "-newkey", "rsa:2048", "-nodes", "-keyout", &key, "-out", &csr, "-subj", subject]);
        let mut sign = vec!["x509", "-req", "-in", &csr, "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial"];
        sign.extend(["-out", &crt, "-extfile", &ext]);
        sign.extend(days);
        openssl(dir, &sign);
    }
}
