//! Proves the Kerberos rig with Hadoop's own clients: an MIT KDC and the kerberized HDFS HA pair +
//! YARN, started once; the rig's `put`, Hadoop's `FsShell` with and without a ticket, WebHDFS and
//! the ResourceManager's REST with and without SPNEGO (curl --negotiate), and spark-submit in YARN
//! cluster mode with a principal and keytab.
//!
//! On failure the scratch directories are kept (their paths are printed): `hdfs.log`, `yarn.log`,
//! and the NodeManager's container logs under `yarn/`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Instant;

use consort_rigs::{Kdc, SecureHadoop, cache_dir};

fn text(out: &Output) -> String {
    format!(
        "exit {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Hadoop's FsShell (`hadoop fs`) from the rig's classpath, with the rig's client configuration.
fn fs_shell(kdc: &Kdc, rig: &SecureHadoop, ccache: &Path, args: &[&str]) -> Output {
    let classpath = std::fs::read_to_string(cache_dir().join("rigs/hadoop/classpath.txt")).unwrap();
    // The `hadoop` script puts HADOOP_CONF_DIR on the classpath; so do we.
    let cp = format!("{}:{}", rig.conf_dir.display(), classpath.trim());
    Command::new("java")
        .args(["-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"])
        .arg(kdc.java_option())
        .args(["-cp", &cp, "org.apache.hadoop.fs.FsShell"])
        // A failed login is not worth fifteen failovers between the NameNodes.
        .args(["-D", "dfs.client.failover.max.attempts=1", "-D", "ipc.client.connect.max.retries=1"])
        .args(args)
        .env("HADOOP_CONF_DIR", &rig.conf_dir)
        .env("KRB5CCNAME", format!("FILE:{}", ccache.display()))
        .env("KRB5_CONFIG", kdc.krb5_conf())
        .output()
        .expect("java runs")
}

/// `curl --negotiate` against `url`: (HTTP status, body).
fn curl(kdc: &Kdc, ccache: &Path, url: &str) -> (u16, String) {
    let out = Command::new("curl")
        .args(["-sS", "--negotiate", "-u", ":", "-w", "\n%{http_code}", url])
        .env("KRB5_CONFIG", kdc.krb5_conf())
        .env("KRB5CCNAME", format!("FILE:{}", ccache.display()))
        .output()
        .expect("curl runs (run scripts/setup: 33-kdc.sh)");
    assert!(out.status.success(), "curl {url}: {}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = stdout.rsplit_once('\n').unwrap();
    (code.trim().parse().unwrap(), body.to_string())
}

/// The pyspark venv's SPARK_HOME (scripts/setup.d/40-spark.sh).
fn spark_home() -> PathBuf {
    let lib = cache_dir().join("venvs/spark/lib");
    let python = std::fs::read_dir(&lib)
        .unwrap_or_else(|_| panic!("{} is missing: run scripts/setup (40-spark.sh)", lib.display()))
        .flatten()
        .find(|e| e.file_name().to_string_lossy().starts_with("python3"))
        .expect("a python3.x in the Spark venv");
    let home = python.path().join("site-packages/pyspark");
    assert!(home.join("bin/spark-submit").is_file(), "no spark-submit in {}: run scripts/setup", home.display());
    home
}

#[test]
fn kerberized_hdfs_and_yarn_with_hadoops_own_clients_and_spark() {
    let test_started = Instant::now();
    let kdc = Kdc::start();
    let mut rig = SecureHadoop::start(&kdc);
    eprintln!("KDC + secure Hadoop up in {:?} (rig {:?})", test_started.elapsed(), rig.started_in);
    assert_eq!(rig.namenodes.len(), 2, "an HA pair");
    assert!(rig.namenodes.iter().all(|(rpc, http)| rpc.starts_with("localhost:") && http.starts_with("localhost:")));
    assert!(rig.rm_webapp.starts_with("localhost:"), "{}", rig.rm_webapp);
    for site in ["core-site.xml", "hdfs-site.xml", "yarn-site.xml"] {
        let xml = std::fs::read_to_string(rig.conf_dir.join(site)).unwrap();
        assert!(!xml.contains("keytab"), "{site} names no keytab for clients");
    }
    let hdfs_site = std::fs::read_to_string(rig.conf_dir.join("hdfs-site.xml")).unwrap();
    assert!(hdfs_site.contains("hdfs/localhost@CONSORT.TEST") && hdfs_site.contains(&rig.nameservice));

    let scratch = kdc.dir().join("client");
    std::fs::create_dir_all(&scratch).unwrap();
    kdc.add_principal("consort");
    let keytab = scratch.join("consort.keytab");
    kdc.export_keytab(&["consort"], &keytab);
    let ccache = scratch.join("consort.ccache");
    let no_ticket = scratch.join("none.ccache");

    // (a) The rig's own put, as hdfs/localhost.
    let examples = cache_dir().join("examples/consort-examples.jar");
    assert!(examples.is_file(), "{} is missing: run scripts/setup (41-spark-examples.sh)", examples.display());
    let jar = rig.put(&examples, "/jobs/consort-examples.jar");
    assert_eq!(jar, format!("hdfs://{}/jobs/consort-examples.jar", rig.nameservice));

    // (b) Hadoop's FsShell: no ticket, a Kerberos failure; with consort's ticket, the listing.
    let denied = fs_shell(&kdc, &rig, &no_ticket, &["-ls", &format!("hdfs://{}/", rig.nameservice)]);
    let denied_text = text(&denied);
    assert!(!denied.status.success(), "{denied_text}");
    assert!(
        denied_text.contains("Client cannot authenticate via:[TOKEN, KERBEROS]") || denied_text.contains("GSS"),
        "a Kerberos error: {denied_text}"
    );
    kdc.kinit("consort", &keytab, &format!("FILE:{}", ccache.display()), None);
    let ls = fs_shell(&kdc, &rig, &ccache, &["-ls", &format!("hdfs://{}/", rig.nameservice)]);
    let ls_text = text(&ls);
    assert!(ls.status.success(), "{ls_text}");
    assert!(ls_text.contains("/jobs") && ls_text.contains("/user"), "{ls_text}");
    // Blocks too (SASL data transfer with block tokens): consort writes and reads back a file.
    let local = scratch.join("hello.txt");
    std::fs::write(&local, "hello kerberos\n").unwrap();
    let put = fs_shell(&kdc, &rig, &ccache, &["-put", local.to_str().unwrap(), "/user/consort/hello.txt"]);
    assert!(put.status.success(), "{}", text(&put));
    let cat = fs_shell(&kdc, &rig, &ccache, &["-cat", "/user/consort/hello.txt"]);
    assert_eq!(String::from_utf8_lossy(&cat.stdout), "hello kerberos\n", "{}", text(&cat));
    let owner = fs_shell(&kdc, &rig, &ccache, &["-stat", "%u", "/user/consort/hello.txt"]);
    assert_eq!(String::from_utf8_lossy(&owner.stdout).trim(), "consort", "{}", text(&owner));
    // The DataNode insists on SASL: a client configured without data transfer protection gets
    // the block's location from the NameNode but no bytes from the DataNode.
    assert_eq!(rig.data_transfer_protection, "authentication");
    let started = Instant::now();
    let plain = fs_shell(
        &kdc,
        &rig,
        &ccache,
        &[
            "-D",
            "dfs.data.transfer.protection=",
            "-D",
            "dfs.client.retry.window.base=100",
            "-cat",
            "/user/consort/hello.txt",
        ],
    );
    let plain_text = text(&plain);
    assert!(!plain.status.success() && plain.stdout.is_empty(), "{plain_text}");
    assert!(plain_text.contains("Could not obtain block"), "{plain_text}");
    eprintln!("a read without SASL failed in {:?}", started.elapsed());

    // (c) SPNEGO: WebHDFS on the active NameNode and the ResourceManager's REST.
    let webhdfs = format!("http://{}/webhdfs/v1/?op=LISTSTATUS", rig.namenodes[rig.active].1);
    let rm_info = format!("http://{}/ws/v1/cluster/info", rig.rm_webapp);
    for url in [&webhdfs, &rm_info] {
        let (code, body) = curl(&kdc, &no_ticket, url);
        assert_eq!(code, 401, "{url} without a ticket: {body}");
    }
    let (code, body) = curl(&kdc, &ccache, &webhdfs);
    assert_eq!(code, 200, "{body}");
    let listing: serde_json::Value = serde_json::from_str(&body).unwrap();
    let names: Vec<&str> = listing["FileStatuses"]["FileStatus"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["pathSuffix"].as_str())
        .collect();
    assert!(names.contains(&"jobs") && names.contains(&"user"), "{body}");
    let (code, body) = curl(&kdc, &ccache, &rm_info);
    assert_eq!(code, 200, "{body}");
    let info: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(info["clusterInfo"]["state"], "STARTED", "{body}");
    let (code, body) = curl(&kdc, &ccache, &format!("http://{}/ws/v1/node/info", rig.nm_webapp));
    assert_eq!(code, 200, "NodeManager REST: {body}");

    // (d) spark-submit in YARN cluster mode, logging in from consort's keytab.
    let spark_home = spark_home();
    let krb5 = kdc.java_option();
    let java_opts = format!("{krb5} -XX:+UseSerialGC -XX:TieredStopAtLevel=1");
    let submit_started = Instant::now();
    let out = Command::new(spark_home.join("bin/spark-submit"))
        .args(["--master", "yarn", "--deploy-mode", "cluster", "--name", "kerberized-count"])
        .args(["--principal", "consort@CONSORT.TEST", "--keytab"])
        .arg(&keytab)
        .args(["--driver-memory", "512m", "--executor-memory", "512m", "--num-executors", "1"])
        .args(["--conf", &format!("spark.yarn.jars=local:{}/jars/*", spark_home.display())])
        .args(["--conf", &format!("spark.driver.extraJavaOptions={java_opts}")])
        .args(["--conf", &format!("spark.executor.extraJavaOptions={java_opts}")])
        .args(["--conf", "spark.yarn.submit.waitAppCompletion=true", "--conf", "spark.yarn.maxAppAttempts=1"])
        .args(["--conf", "spark.ui.enabled=false"])
        .args(["--class", "consort.examples.CountRange", &jar, "1000", "ok"])
        .env("SPARK_HOME", &spark_home)
        .env("HADOOP_CONF_DIR", &rig.conf_dir)
        .env("YARN_CONF_DIR", &rig.conf_dir)
        .env("KRB5_CONFIG", kdc.krb5_conf())
        .env("SPARK_SUBMIT_OPTS", &krb5)
        .env("SPARK_LOCAL_IP", "127.0.0.1")
        // The keytab, not a ticket cache, is the credential.
        .env("KRB5CCNAME", format!("FILE:{}", no_ticket.display()))
        .env_remove("HADOOP_USER_NAME")
        .output()
        .expect("spark-submit runs");
    let submit_text = text(&out);
    eprintln!("spark-submit took {:?}", submit_started.elapsed());
    let app_id = submit_text
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .find(|w| w.starts_with("application_"))
        .unwrap_or_else(|| panic!("no application id in spark-submit's output: {submit_text}"))
        .to_string();
    let (code, body) = curl(&kdc, &ccache, &format!("http://{}/ws/v1/cluster/apps/{app_id}", rig.rm_webapp));
    assert_eq!(code, 200, "{body}");
    let app: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(app["app"]["finalStatus"], "SUCCEEDED", "{body}\n{submit_text}");
    assert_eq!(app["app"]["user"], "consort", "{body}");
    assert!(out.status.success(), "{submit_text}");
    assert!(submit_text.contains("final status: SUCCEEDED"), "{submit_text}");
    let driver_log = find_container_log(&rig.yarn_work_dir, &app_id);
    assert!(driver_log.contains("COUNT=1000"), "the driver's output: {driver_log}");
    // The application master logged in from the keytab it was shipped (so it found the realm).
    assert!(driver_log.contains("Successfully logged into KDC"), "the driver's output: {driver_log}");
    eprintln!("test done in {:?}", test_started.elapsed());
}

/// The stdout and stderr of every container of `app_id` under the NodeManager's log dirs, concatenated.
fn find_container_log(root: &Path, app_id: &str) -> String {
    let mut found = String::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.file_name().is_some_and(|n| n == "stdout" || n == "stderr")
                && path.to_string_lossy().contains(app_id)
            {
                found.push_str(&std::fs::read_to_string(&path).unwrap_or_default());
            }
        }
    }
    found
}
