//! The `livy` backend against a kerberized Livy (issue 13): an MIT KDC and a Livy server with
//! `livy.server.auth.type = kerberos` (SPNEGO as `HTTP/localhost`), impersonation on and
//! `consort` a superuser. The scenarios are those of `livy.rs` (`support/livy_scenarios.rs`), run
//! as `consort@CONSORT.TEST` from a keytab; before them, an unauthenticated caller is refused
//! naming the fix, and a batch for `proxyUser` `etl` runs as `etl`.

use std::time::Instant;

use consort_kerberos::{KerberosSettings, use_krb5_conf};
use consort_rigs::Kdc;
use consort_spark::{AppState, Launcher, LivyAuth, LivyConfig, LivyLauncher, SparkError, wait_until_final};

#[path = "support/fire.rs"]
mod fire;
#[path = "support/livy_scenarios.rs"]
mod livy_scenarios;
#[path = "support/lossy_proxy.rs"]
mod lossy_proxy;
#[path = "support/sleeper.rs"]
mod sleeper;

use livy_scenarios::{POLL, ServerAuth, WAIT, job, launcher, raw_get};

// A plain #[test] with its own runtime: KRB5_CONFIG is set before any other thread exists.
#[test]
fn batches_against_a_kerberized_livy_server() {
    let test_started = Instant::now();
    let kdc = Kdc::start();
    use_krb5_conf(kdc.krb5_conf());
    for name in ["consort", "HTTP/localhost"] {
        if !kdc.has_principal(name) {
            kdc.add_principal(name);
        }
    }
    let keytabs = kdc.dir().join("keytabs");
    std::fs::create_dir_all(&keytabs).unwrap();
    let (client_keytab, http_keytab) = (keytabs.join("consort.keytab"), keytabs.join("http.keytab"));
    kdc.export_keytab(&["consort"], &client_keytab);
    kdc.export_keytab(&["HTTP/localhost"], &http_keytab);
    let settings = KerberosSettings {
        principal: Some("consort@CONSORT.TEST".into()),
        keytab: Some(client_keytab),
        krb5_conf: Some(kdc.krb5_conf().to_path_buf()),
        ..Default::default()
    };
    let server_auth = ServerAuth::Kerberos {
        principal: "HTTP/localhost@CONSORT.TEST".into(),
        keytab: http_keytab,
        java_option: kdc.java_option(),
        superuser: "consort".into(),
    };

    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(async move {
        let (server, startup) = livy_scenarios::start_livy(&server_auth).await;
        eprintln!("kerberized Livy answered GET /batches {:.1} s after start", startup.as_secs_f64());
        assert!(server.url.starts_with("http://localhost:"), "{}", server.url);
        let auth = LivyAuth::Kerberos(settings);

        // Without credentials Livy answers 401: refused, naming the settings to fix.
        let anonymous = launcher(&server.url, Some("consort"), &LivyAuth::None);
        for err in [anonymous.health().await.unwrap_err(), anonymous.submit(&job("anon", &["1"])).await.unwrap_err()] {
            let text = err.to_string();
            assert!(matches!(err, SparkError::Rejected { .. }) && !err.is_retryable(), "{err:?}");
            assert!(text.contains("401") && text.contains("check the [kerberos] settings"), "{text}");
        }

        // Impersonation: a batch for proxyUser etl runs as etl; one without runs as the caller.
        let as_etl = LivyLauncher::new(LivyConfig {
            url: server.url.clone(),
            requested_by: Some("consort".into()),
            auth: auth.clone(),
            proxy_user: Some("etl".into()),
            request_timeout: std::time::Duration::from_secs(30),
            python_launcher: None,
        })
        .unwrap();
        let own = launcher(&server.url, Some("consort"), &auth);
        let etl_id = as_etl.submit(&job("livy-etl", &["10", "ok"])).await.unwrap().id;
        let own_id = own.submit(&job("livy-own", &["10", "ok"])).await.unwrap().id;
        let etl_batch = raw_get(&format!("{}/batches/{etl_id}", server.url), &auth).await;
        assert_eq!(etl_batch["proxyUser"], "etl", "{etl_batch}");
        let own_batch = raw_get(&format!("{}/batches/{own_id}", server.url), &auth).await;
        assert_eq!(own_batch["proxyUser"], "consort", "the authenticated caller: {own_batch}");
        for (launcher, id) in [(&as_etl, &etl_id), (&own, &own_id)] {
            let done = wait_until_final(launcher, id, POLL, WAIT).await.unwrap();
            let logs = launcher.logs(id, 1 << 20).await.unwrap();
            assert_eq!(done.state, AppState::Succeeded, "{done:?}\n{logs}");
            assert!(logs.contains("COUNT=10"), "{logs}");
        }
        let server_log = server.server_log();
        let etl_name = format!("spark.app.name=livy-etl-{}", std::process::id());
        let command = server_log
            .lines()
            .find(|l| l.contains("spark-submit") && l.contains(&etl_name))
            .unwrap_or_else(|| panic!("no spark-submit line for the etl batch in Livy's log:\n{server_log}"));
        assert!(command.contains("'--proxy-user' 'etl'"), "{command}");

        livy_scenarios::batches(server, auth).await;
    });
    drop(runtime);
    drop(kdc);
    eprintln!("whole test {:?}", test_started.elapsed());
}
