//! `consort config`: load and show configuration. This is the I/O edge of
//! `consort-config`: it reads the file and the environment, the crate validates.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use consort_config::{Config, Flags, Sources};

use crate::cli::{ConfigArgs, ConfigCommand};
use crate::paths;

pub fn run(command: ConfigCommand) -> anyhow::Result<ExitCode> {
    match command {
        ConfigCommand::Show { config } => {
            let config = load(&config, Flags::default())?;
            println!("[server]");
            println!("listen = {:?}", config.listen.to_string());
            println!("data_dir = {:?}", data_dir(&config).display().to_string());
            println!("shutdown_grace_secs = {}", config.shutdown_grace_secs);
            println!("\n[log]");
            println!("level = {:?}", config.log_level);
            println!("format = {:?}", format!("{:?}", config.log_format).to_lowercase());
        }
        ConfigCommand::Reference => print!("{}", consort_config::REFERENCE),
    }
    Ok(ExitCode::SUCCESS)
}

/// The data directory: configured, or the per-user default.
pub fn data_dir(config: &Config) -> PathBuf {
    config.data_dir.clone().unwrap_or_else(paths::default_data_dir)
}

/// Reads the configuration file (explicit, `$CONSORT_CONFIG`, or the per-user
/// default if present) and the `CONSORT_*` environment, then resolves.
pub fn load(args: &ConfigArgs, flags: Flags) -> anyhow::Result<Config> {
    let explicit = args.config.clone().or_else(|| std::env::var_os("CONSORT_CONFIG").map(PathBuf::from));
    let file = match explicit {
        Some(path) => Some(read(&path)?),
        None => match paths::default_config_file() {
            Some(path) if path.exists() => Some(read(&path)?),
            _ => None,
        },
    };
    // CONSORT_* plus the standard variables the configuration honours.
    const STANDARD: [&str; 4] = ["SPARK_HOME", "PYSPARK_PYTHON", "AZURE_STORAGE_ACCOUNT", "HADOOP_CONF_DIR"];
    let env = std::env::vars().filter(|(k, _)| k.starts_with("CONSORT_") || STANDARD.contains(&k.as_str())).collect();
    let config = Config::resolve(&Sources { file, env, flags })?;
    if let Some(conf) = config.kerberos.as_ref().and_then(|k| k.krb5_conf.as_deref()) {
        // Read by the Kerberos library in this process and by the programs it starts; set
        // here, before any command starts its threads.
        consort_kerberos::use_krb5_conf(conf);
    }
    Ok(config)
}

fn read(path: &Path) -> anyhow::Result<(String, String)> {
    let text = std::fs::read_to_string(path).with_context(|| {
        format!("cannot read config file {}; check the path given to --config or CONSORT_CONFIG", path.display())
    })?;
    Ok((path.display().to_string(), text))
}
