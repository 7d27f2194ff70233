//! The Helm chart, `deploy/helm/consort`: `helm lint --strict`, `helm template` with several
//! value sets, every rendered object decoded strictly into the Kubernetes API's Go types
//! (`rigs/kube-validate`), the rendered `consort.toml` checked by this very binary
//! (`consort config show`, which parses and validates the whole configuration), and the
//! semantics a chart edit could break: SQLite refuses replicas, the Role grants exactly what
//! the kubernetes backend calls, no secret lands in the ConfigMap, every configured file is
//! mounted. helm v3.22.0 and kube-validate are built by scripts/setup.d/49-helm.sh.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine;
use serde_json::Value;

const CHART: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../deploy/helm/consort");
const NAMESPACE: &str = "data-platform";

fn tool(name: &str) -> PathBuf {
    let cache = std::env::var_os("CONSORT_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/consort"));
    let path = cache.join("helm").join(name);
    assert!(path.is_file(), "{} missing: run scripts/setup (49-helm.sh)", path.display());
    path
}

fn helm(args: &[&str]) -> std::process::Output {
    // A private Helm home: no repositories, plugins or caches of the machine's user.
    let home = tempfile::tempdir().unwrap();
    Command::new(tool("helm"))
        .args(args)
        .env("HELM_CACHE_HOME", home.path().join("cache"))
        .env("HELM_CONFIG_HOME", home.path().join("config"))
        .env("HELM_DATA_HOME", home.path().join("data"))
        .output()
        .expect("running helm")
}

fn values_file(name: &str) -> String {
    format!("{CHART}/ci/{name}-values.yaml")
}

/// `helm template` with value files and `--set` pairs: the manifests, or helm's error.
fn template(files: &[&str], sets: &[&str]) -> Result<String, String> {
    let mut args = vec!["template", "consort", CHART, "--namespace", NAMESPACE];
    let files: Vec<String> = files.iter().map(|f| values_file(f)).collect();
    for f in &files {
        args.extend(["--values", f]);
    }
    for s in sets {
        args.extend(["--set", s]);
    }
    let out = helm(&args);
    if out.status.success() {
        Ok(String::from_utf8(out.stdout).unwrap())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// Every document strictly decoded by kube-validate; the objects as JSON.
fn validate(manifests: &str) -> Vec<Value> {
    let mut child = Command::new(tool("kube-validate"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running kube-validate");
    child.stdin.take().unwrap().write_all(manifests.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "kube-validate refused the rendered manifests:\n{}\n{manifests}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// The rendered release: its objects by `Kind/name`.
struct Release {
    objects: Vec<Value>,
}

impl Release {
    fn render(files: &[&str], sets: &[&str]) -> Release {
        let manifests = template(files, sets).unwrap_or_else(|e| panic!("helm template {files:?} {sets:?}: {e}"));
        Release { objects: validate(&manifests) }
    }

    fn find(&self, kind: &str) -> Vec<&Value> {
        self.objects.iter().filter(|o| o["kind"] == kind).collect()
    }

    fn one(&self, kind: &str) -> &Value {
        let found = self.find(kind);
        assert_eq!(found.len(), 1, "expected one {kind}, found {}", found.len());
        found[0]
    }

    fn named(&self, kind: &str, name: &str) -> Option<&Value> {
        self.objects.iter().find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
    }

    fn config_toml(&self) -> String {
        self.one("ConfigMap")["data"]["consort.toml"].as_str().unwrap().to_string()
    }

    fn container(&self) -> &Value {
        &self.one("Deployment")["spec"]["template"]["spec"]["containers"][0]
    }

    /// The consort container's environment as the kubelet would set it: literal values, the pod
    /// name for field references, a chart-made Secret's value, or `stand_in` for a Secret that
    /// must already exist in the cluster.
    fn container_env(&self, stand_in: &BTreeMap<&str, &str>) -> Vec<(String, String)> {
        let mut env = Vec::new();
        for var in self.container()["env"].as_array().unwrap() {
            let name = var["name"].as_str().unwrap().to_string();
            let value = if let Some(v) = var["value"].as_str() {
                v.to_string()
            } else if var["valueFrom"]["fieldRef"].is_object() {
                "consort-7d9f8-x2x4z".to_string()
            } else {
                let reference = &var["valueFrom"]["secretKeyRef"];
                let (secret, key) = (reference["name"].as_str().unwrap(), reference["key"].as_str().unwrap());
                match self.named("Secret", secret) {
                    Some(s) => decode(s["data"][key].as_str().unwrap_or_else(|| panic!("{secret} has no key {key}"))),
                    None => stand_in.get(name.as_str()).unwrap_or_else(|| panic!("no stand-in for {name}")).to_string(),
                }
            };
            env.push((name, value));
        }
        env
    }

    /// Paths the container has mounted.
    fn mount_paths(&self) -> Vec<String> {
        let mut paths: Vec<String> = self.container()["volumeMounts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["mountPath"].as_str().unwrap().to_string())
            .collect();
        paths.sort();
        paths
    }
}

fn decode(b64: &str) -> String {
    String::from_utf8(base64::engine::general_purpose::STANDARD.decode(b64).unwrap()).unwrap()
}

/// Runs `consort config show` on the rendered consort.toml with the container's environment:
/// the configuration consort would start with, parsed and validated by consort itself.
fn consort_config_check(toml: &str, env: &[(String, String)]) -> Result<(), String> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("consort.toml");
    std::fs::write(&file, toml).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_consort"))
        .args(["config", "show", "--config"])
        .arg(&file)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .output()
        .unwrap();
    if out.status.success() { Ok(()) } else { Err(String::from_utf8_lossy(&out.stderr).into_owned()) }
}

/// The TOML string values of `key` anywhere in the file (paths the configuration names).
fn toml_values(toml: &str, key: &str) -> Vec<String> {
    toml.lines()
        .filter_map(|l| l.trim().strip_prefix(key)?.trim_start().strip_prefix('='))
        .map(|v| v.trim().trim_matches('"').to_string())
        .collect()
}

/// Configuration file names that are paths consort opens: each must be inside a mount.
fn assert_configured_files_are_mounted(release: &Release) {
    let toml = release.config_toml();
    let mounts = release.mount_paths();
    for key in ["cert", "key", "client_ca", "key_file", "data_dir"] {
        for path in toml_values(&toml, key) {
            assert!(
                mounts.iter().any(|m| Path::new(&path).starts_with(m)),
                "{key} = {path} is not under any mount of the consort container ({mounts:?})"
            );
        }
    }
}

/// The security posture every value set must keep.
fn assert_hardened(release: &Release) {
    let pod = &release.one("Deployment")["spec"]["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    let container = release.container();
    assert_eq!(container["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(container["securityContext"]["allowPrivilegeEscalation"], false);
    assert_eq!(container["securityContext"]["capabilities"]["drop"][0], "ALL");
    assert_eq!(container["args"][0], "serve");
    for probe in ["startupProbe", "readinessProbe", "livenessProbe"] {
        assert_eq!(container[probe]["httpGet"]["path"], "/health", "{probe}");
    }
    assert!(container["resources"]["limits"]["memory"].is_string(), "a memory limit");
}

/// The verbs consort's kubernetes backend uses, read from its source: each kube call it makes
/// and the verb it needs. A new call there (a patch, say) without the Role's verb fails here.
fn backend_verbs() -> (BTreeSet<String>, bool) {
    let source = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../spark/src/kubernetes.rs")).unwrap();
    let code = source.split("#[cfg(test)]").next().unwrap();
    let calls: [(&str, &[&str]); 8] = [
        ("api.create(", &["create"]),
        ("api.get(", &["get"]),
        ("api.list(", &["list"]),
        ("api.delete(", &["delete"]),
        ("api.patch(", &["patch"]),
        ("api.replace(", &["update"]),
        // kube's wait helpers list and then watch the object.
        ("await_condition(", &["list", "watch"]),
        ("watcher(", &["list", "watch"]),
    ];
    let verbs = calls.iter().filter(|(call, _)| code.contains(call)).flat_map(|(_, v)| v.iter().map(|s| s.to_string()));
    (verbs.collect(), code.contains("pods.logs("))
}

fn rules_for<'a>(role: &'a Value, group: &str, resource: &str) -> BTreeSet<&'a str> {
    role["rules"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| {
            r["apiGroups"].as_array().unwrap().iter().any(|g| g == group)
                && r["resources"].as_array().unwrap().iter().any(|x| x == resource)
        })
        .flat_map(|r| r["verbs"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()))
        .collect()
}

#[test]
fn helm_lint_passes_strictly_for_the_defaults_and_every_value_set() {
    for files in [vec![], vec!["sqlite-single"], vec!["postgres-ha"], vec!["existing-secrets"], vec!["upstream-tls"]] {
        let mut args = vec!["lint", "--strict", CHART, "--namespace", NAMESPACE];
        let paths: Vec<String> = files.iter().map(|f| values_file(f)).collect();
        for p in &paths {
            args.extend(["--values", p]);
        }
        let out = helm(&args);
        assert!(
            out.status.success(),
            "helm lint --strict {files:?}:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn sqlite_single_renders_one_recreated_replica_on_a_volume_with_the_spark_role() {
    let release = Release::render(&["sqlite-single"], &[]);
    let deployment = release.one("Deployment");
    assert_eq!(deployment["spec"]["replicas"], 1);
    assert_eq!(deployment["spec"]["strategy"]["type"], "Recreate");
    let pvc = release.one("PersistentVolumeClaim");
    assert_eq!(pvc["spec"]["resources"]["requests"]["storage"], "5Gi");
    let volumes = deployment["spec"]["template"]["spec"]["volumes"].as_array().unwrap();
    let data = volumes.iter().find(|v| v["name"] == "data").unwrap();
    assert_eq!(data["persistentVolumeClaim"]["claimName"], pvc["metadata"]["name"]);
    assert!(release.find("PodDisruptionBudget").is_empty(), "no PDB for one replica");
    assert_hardened(&release);
    assert_eq!(release.container()["startupProbe"]["httpGet"]["scheme"], "HTTPS", "self-signed TLS by default");
    assert_eq!(release.one("Secret")["type"], "kubernetes.io/tls");

    let toml = release.config_toml();
    assert!(toml.contains("store_url = \"sqlite:///var/lib/consort/consort.db\""), "{toml}");
    assert!(toml.contains("kubernetes_namespace = \"spark-jobs\""), "{toml}");
    consort_config_check(&toml, &release.container_env(&BTreeMap::new()))
        .unwrap_or_else(|e| panic!("consort refused the rendered consort.toml: {e}\n{toml}"));
    assert_configured_files_are_mounted(&release);

    // The Role, in the Spark namespace, grants exactly what the backend calls.
    let role = release.named("Role", "consort-spark").expect("the SparkApplication Role");
    assert_eq!(role["metadata"]["namespace"], "spark-jobs");
    let (verbs, reads_logs) = backend_verbs();
    assert_eq!(
        verbs,
        BTreeSet::from(["create", "delete", "get", "list", "watch"].map(String::from)),
        "the backend's calls changed: update this list, docs/kubernetes.md and templates/rbac.yaml together"
    );
    let granted: BTreeSet<String> =
        rules_for(role, "sparkoperator.k8s.io", "sparkapplications").into_iter().map(String::from).collect();
    assert_eq!(granted, verbs, "the Role's verbs on sparkapplications");
    assert!(reads_logs);
    assert_eq!(rules_for(role, "", "pods/log"), BTreeSet::from(["get"]));
    assert_eq!(role["rules"].as_array().unwrap().len(), 2, "nothing else granted");
    let binding = release.named("RoleBinding", "consort-spark").unwrap();
    assert_eq!(binding["roleRef"]["name"], "consort-spark");
    assert_eq!(binding["subjects"][0]["name"], release.one("ServiceAccount")["metadata"]["name"]);
    assert_eq!(binding["subjects"][0]["namespace"], NAMESPACE);
    assert_eq!(deployment["spec"]["template"]["spec"]["serviceAccountName"], "consort");
}

#[test]
fn postgres_ha_renders_three_replicas_with_tls_ingress_and_no_secret_in_the_config() {
    let release = Release::render(&["postgres-ha"], &[]);
    let deployment = release.one("Deployment");
    assert_eq!(deployment["spec"]["replicas"], 3);
    assert_eq!(deployment["spec"]["strategy"]["type"], "RollingUpdate");
    assert!(release.find("PersistentVolumeClaim").is_empty());
    let pdb = release.one("PodDisruptionBudget");
    assert_eq!(pdb["spec"]["minAvailable"], 1);
    let pod_labels = &deployment["spec"]["template"]["metadata"]["labels"];
    for (k, v) in pdb["spec"]["selector"]["matchLabels"].as_object().unwrap() {
        assert_eq!(&pod_labels[k], v, "the PDB selects the pods");
    }
    let ingress = release.one("Ingress");
    assert_eq!(ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["port"]["name"], "https");
    let service = release.one("Service");
    assert_eq!(service["spec"]["ports"][0]["name"], "https");
    assert_hardened(&release);

    // Secrets live in Secrets: the store URL (with its password), the TLS key.
    let toml = release.config_toml();
    for secret in ["s3cret-pw", "postgres://", "PRIVATE KEY", "CERTIFICATE"] {
        assert!(!toml.contains(secret), "`{secret}` inlined in the ConfigMap:\n{toml}");
    }
    let store = release.named("Secret", "consort-store").expect("the store URL's Secret");
    assert_eq!(
        decode(store["data"]["url"].as_str().unwrap()),
        "postgres://consort:s3cret-pw@db.example.internal:5432/consort"
    );
    let env = release.container_env(&BTreeMap::new());
    assert!(env.contains(&(
        "CONSORT_STORE_URL".into(),
        "postgres://consort:s3cret-pw@db.example.internal:5432/consort".into()
    )));
    let tls = release.named("Secret", "consort-tls").unwrap();
    assert!(decode(tls["data"]["tls.key"].as_str().unwrap()).contains("BEGIN PRIVATE KEY"));

    assert!(toml.contains("client_ca = \"/etc/consort/client-ca/ca.crt\""), "{toml}");
    assert!(toml.contains("key_file = \"/run/consort/keys/cleanroom.key\""), "{toml}");
    assert!(toml.contains("runner_callback_url = \"https://consort.data-platform.svc:8093\""), "{toml}");
    consort_config_check(&toml, &env)
        .unwrap_or_else(|e| panic!("consort refused the rendered consort.toml: {e}\n{toml}"));
    assert_configured_files_are_mounted(&release);
    // The key file is copied with mode 0600 before consort starts.
    let init = &deployment["spec"]["template"]["spec"]["initContainers"][0];
    assert_eq!(init["command"][0], "install");
    assert_eq!(init["command"][2], "0600");

    // The driver's own account and Role, in the Spark namespace.
    let driver_role = release.named("Role", "spark-driver-driver").unwrap();
    assert_eq!(driver_role["metadata"]["namespace"], "spark-jobs");
    assert!(rules_for(driver_role, "", "pods").contains("create"));
    assert!(toml.contains("kubernetes_service_account = \"spark-driver\""), "{toml}");
}

#[test]
fn existing_secrets_are_referenced_and_none_is_made() {
    let release = Release::render(&["existing-secrets"], &[]);
    assert!(release.find("Secret").is_empty(), "the chart made a Secret though all exist");
    assert_eq!(release.one("Deployment")["spec"]["replicas"], 2);
    let volumes = release.one("Deployment")["spec"]["template"]["spec"]["volumes"].to_string();
    for secret in ["consort-tls", "consort-admin", "consort-cleanroom-key"] {
        assert!(volumes.contains(&format!("\"secretName\":\"{secret}\"")), "{secret} not mounted: {volumes}");
    }
    assert!(release.mount_paths().contains(&"/var/lib/consort/admin.token".to_string()), "admin token mounted");
    assert!(release.container()["envFrom"][0]["secretRef"]["name"] == "consort-s3-credentials");
    // No kubernetes backend: no Role, and no service-account token in the pod.
    assert!(release.find("Role").is_empty());
    assert_eq!(release.one("Deployment")["spec"]["template"]["spec"]["automountServiceAccountToken"], false);
    let stand_in = BTreeMap::from([("CONSORT_STORE_URL", "postgres://consort:pw@db:5432/consort")]);
    let toml = release.config_toml();
    assert!(toml.contains("default_backend = \"local\"") && !toml.contains("kubernetes_image"), "{toml}");
    consort_config_check(&toml, &release.container_env(&stand_in))
        .unwrap_or_else(|e| panic!("consort refused the rendered consort.toml: {e}\n{toml}"));
    assert_configured_files_are_mounted(&release);

    let upstream = Release::render(&["upstream-tls"], &[]);
    let toml = upstream.config_toml();
    assert!(toml.contains("terminated_upstream = true"), "{toml}");
    assert!(upstream.find("Secret").is_empty());
    assert_eq!(upstream.container()["readinessProbe"]["httpGet"]["scheme"], "HTTP");
    consort_config_check(&toml, &upstream.container_env(&BTreeMap::new())).unwrap();
}

#[test]
fn unworkable_values_are_refused_with_the_value_and_the_fix() {
    let refused = |files: &[&str], sets: &[&str], expected: &str| {
        let error = template(files, sets).err().unwrap_or_else(|| panic!("{sets:?} rendered"));
        assert!(error.contains(expected), "{sets:?}: expected `{expected}` in:\n{error}");
    };
    refused(&[], &["replicaCount=3"], "replicaCount=3 with store.type=sqlite");
    refused(&["sqlite-single"], &["replicaCount=2"], "set store.type=postgresql");
    refused(&[], &["store.type=postgresql", "cleanroom.keyFile.existingSecret=k"], "store.postgresql.existingSecret");
    refused(
        &[],
        &["store.type=postgresql", "store.postgresql.url=postgres://u:p@h/d"],
        "cleanroom.keyFile.existingSecret",
    );
    refused(&[], &["tls.mode=secret"], "tls.mode=secret needs tls.existingSecret");
    refused(&[], &["spark.kubernetes.enabled=false"], "spark.defaultBackend=kubernetes needs spark.kubernetes.enabled");
    // The schema: a wrong enum value and a misspelt value name.
    refused(&[], &["store.type=mysql"], "/store/type");
    refused(&[], &["replicas=3"], "additional properties 'replicas' not allowed");
    refused(&[], &["spark.kubernetes.namespace=Spark_Jobs"], "/spark/kubernetes/namespace");

    // A value set the chart renders but consort itself refuses: the config check is real.
    let release = Release::render(&[], &["spark.defaultBackend=livy"]);
    let error = consort_config_check(&release.config_toml(), &release.container_env(&BTreeMap::new()))
        .expect_err("livy without livy_url");
    assert!(error.contains("spark.default_backend"), "{error}");
}

/// The Kubernetes API server rig (`k8s.io/apiextensions-apiserver` with the SparkApplication
/// CRD) checks the Role against what a server really serves: the resource's name and group exist
/// and allow every verb granted. The chart's own kinds (core, apps, RBAC, policy, networking)
/// are not served by that server, which this asserts too: none can be applied there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_spark_role_names_a_served_resource_and_the_rig_serves_none_of_the_charts_kinds() {
    let release = Release::render(&["postgres-ha"], &[]);
    let mut rig = consort_rigs::KubeApiServer::start().await;
    rig.install_spark_crd().await;
    let client = rig.client().await;
    let served = client.list_api_group_resources("sparkoperator.k8s.io/v1beta2").await.unwrap();
    let role = release.named("Role", "consort-spark").unwrap();
    let granted = rules_for(role, "sparkoperator.k8s.io", "sparkapplications");
    let resource = served.resources.iter().find(|r| r.name == "sparkapplications").expect("sparkapplications served");
    for verb in &granted {
        assert!(resource.verbs.iter().any(|v| v == verb), "the server does not allow `{verb}` on sparkapplications");
    }

    // This server has no `/apis` index: ask for each group version the chart uses.
    let kinds: BTreeSet<(String, String)> = release
        .objects
        .iter()
        .map(|o| (o["apiVersion"].as_str().unwrap().to_string(), o["kind"].as_str().unwrap().to_string()))
        .collect();
    for (api_version, kind) in &kinds {
        let resources = match api_version.as_str() {
            "v1" => client.list_core_api_resources("v1").await,
            group_version => client.list_api_group_resources(group_version).await,
        };
        let is_served = resources.is_ok_and(|list| list.resources.iter().any(|r| &r.kind == kind));
        assert!(
            !is_served,
            "the rig now serves {kind} ({api_version}): apply the chart's objects of that kind to it with a strict \
             server-side dry run"
        );
    }
}
