//! The Spark backends `consort serve` hands to the `spark` job kind, and the CLI's
//! `consort spark` commands use.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, anyhow};
use consort_config::Config;
use consort_spark::{
    KubernetesConfig, KubernetesLauncher, Launcher, LivyAuth, LivyConfig, LivyLauncher, LocalConfig, LocalLauncher,
    StandaloneConfig, StandaloneLauncher, YarnConfig, YarnLauncher, installed_pyspark, is_yarn_conf_dir,
};

/// Every backend the configuration enables: always `local`; `standalone`, `yarn`, `livy` and `kubernetes` when
/// configured.
pub fn spark_backends(config: &Config, data_dir: &Path) -> anyhow::Result<Vec<Arc<dyn Launcher>>> {
    let spark = &config.spark;
    let found = installed_pyspark();
    let spark_home = spark
        .spark_home
        .clone()
        .or_else(|| found.as_ref().map(|f| f.spark_home.clone()))
        .unwrap_or_else(|| PathBuf::from("/opt/spark"));
    let python = spark.python.clone().or_else(|| found.map(|f| f.python));
    let work_dir = spark.work_dir.clone().unwrap_or_else(|| data_dir.join("spark-runs"));
    let mut list: Vec<Arc<dyn Launcher>> = vec![Arc::new(LocalLauncher::new(LocalConfig {
        spark_home: spark_home.clone(),
        python: python.clone(),
        work_dir,
        master: spark.local_master.clone(),
        hadoop_conf_dir: config.storage.hdfs.config_dir.clone(),
        kerberos: config.kerberos.as_ref().map(|k| k.settings()),
    }))];
    if let (Some(rest_url), Some(master_url)) = (&spark.standalone_rest_url, &spark.standalone_master_url) {
        list.push(Arc::new(StandaloneLauncher::new(StandaloneConfig {
            rest_url: rest_url.clone(),
            master_url: master_url.clone(),
            spark_version: "4.3.0".into(),
            request_timeout: Duration::from_secs(30),
            ui_url: spark.standalone_ui_url.clone(),
            python: python.clone(),
        })?));
    }
    // YARN: an explicit yarn_conf_dir, or a HADOOP_CONF_DIR that is a YARN client configuration
    // (or is the only one there is while yarn is asked for).
    let yarn_conf_dir = spark.yarn_conf_dir.clone().or_else(|| {
        let dir = config.storage.hdfs.config_dir.clone()?;
        let wanted = spark.default_backend == "yarn" || spark.yarn_rm_url.is_some();
        (wanted || is_yarn_conf_dir(&dir)).then_some(dir)
    });
    if let Some(conf_dir) = yarn_conf_dir {
        let mut yarn = YarnConfig::from_conf_dir(spark_home, conf_dir, spark.yarn_rm_url.clone())
            .context("configuring the yarn backend ([spark] yarn_conf_dir, yarn_rm_url)")?;
        if let Some(jars) = &spark.yarn_jars {
            yarn.spark_conf.insert("spark.yarn.jars".into(), jars.clone());
        }
        yarn.user = config.storage.hdfs.user.clone();
        yarn.kerberos = config.kerberos.as_ref().map(|k| k.settings());
        yarn.python = python;
        list.push(Arc::new(YarnLauncher::new(yarn)?));
    }
    if let Some(image) = &spark.kubernetes_image {
        let mut k8s = KubernetesConfig::new(image.clone());
        k8s.kubeconfig = spark.kubernetes_kubeconfig.clone();
        k8s.namespace = spark.kubernetes_namespace.clone();
        k8s.service_account = spark.kubernetes_service_account.clone();
        k8s.batch_scheduler = spark.kubernetes_batch_scheduler.clone();
        list.push(Arc::new(KubernetesLauncher::new(k8s)?));
    }
    if let Some(url) = &spark.livy_url {
        list.push(Arc::new(LivyLauncher::new(LivyConfig {
            url: url.clone(),
            requested_by: Some(spark.livy_requested_by.clone()).filter(|v| !v.is_empty()),
            auth: livy_auth(config)?,
            request_timeout: Duration::from_secs(30),
            proxy_user: spark.livy_proxy_user.clone(),
            python_launcher: spark.livy_python_launcher.clone(),
        })?));
    }
    Ok(list)
}

/// Livy credentials, from the environment only (never the file, never logged); without any,
/// SPNEGO when `[kerberos]` is set.
fn livy_auth(config: &Config) -> anyhow::Result<LivyAuth> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    match (var("CONSORT_LIVY_TOKEN"), var("CONSORT_LIVY_USER"), var("CONSORT_LIVY_PASSWORD")) {
        (None, None, None) => Ok(match &config.kerberos {
            Some(k) => LivyAuth::Kerberos(k.settings()),
            None => LivyAuth::None,
        }),
        (Some(token), None, None) => Ok(LivyAuth::Bearer { token }),
        (None, Some(user), Some(password)) => Ok(LivyAuth::Basic { user, password }),
        (Some(_), _, _) => Err(anyhow!(
            "CONSORT_LIVY_TOKEN and CONSORT_LIVY_USER/CONSORT_LIVY_PASSWORD are both set; keep one way of signing in to Livy"
        )),
        (None, _, _) => {
            Err(anyhow!("Livy basic auth needs both CONSORT_LIVY_USER and CONSORT_LIVY_PASSWORD; set the missing one"))
        }
    }
}
