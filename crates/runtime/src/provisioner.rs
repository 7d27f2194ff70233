//! The provisioner's settings from the configuration.

use anyhow::anyhow;
use consort_config::Config;
use consort_provisioner::Settings;

/// How descriptors are read on this server: the default zone and backend, the configured
/// backends (`backends`, as descriptors name them), the job-name rule.
pub fn provisioner_settings(config: &Config, backends: &[String]) -> anyhow::Result<Settings> {
    let zone = &config.provisioner.default_timezone;
    consort_cron::Zone::get(zone).map_err(|e| {
        anyhow!(
            "provisioner.default_timezone {zone:?} is not a time zone ({e}); use an IANA name like UTC or Europe/Rome"
        )
    })?;
    Ok(Settings {
        default_timezone: zone.clone(),
        default_backend: config.spark.default_backend.clone(),
        backends: backends.to_vec(),
        next_fire_count: config.provisioner.next_fire_count,
        job_name_rule: config.provisioner.job_name_rule,
    })
}
