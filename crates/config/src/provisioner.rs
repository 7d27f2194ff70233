//! `[provisioner]`: how the Witboost Specific Provisioner answers.

use serde::Deserialize;

use crate::{ConfigError, Origin};

/// `[provisioner]`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProvisionerSettings {
    /// Answer provision, unprovision and updateacl with 202 and a token polled at
    /// `/v1/provision/{token}/status`, instead of the final 200.
    pub asynchronous: bool,
    /// The zone of a component's cron schedule when its descriptor names none (IANA; checked
    /// against the time-zone database when the server starts).
    pub default_timezone: String,
    /// Check upstream's job-name rule: `specific.jobName` is the component id without
    /// `urn:dmb:cmp:`, then `-` and the environment, every other character than a letter or a
    /// digit replaced by `-`.
    pub job_name_rule: bool,
    /// On unprovision, kill a Spark application of the job that is still running; by
    /// default it is left to finish, and the answer says so.
    pub kill_running_on_unprovision: bool,
    /// How many next fire times validate and provision report.
    pub next_fire_count: usize,
    /// The base URL under which callers reach this server (for the links in `publicInfo`),
    /// e.g. `https://consort.example.com`; without it the links are relative paths.
    pub public_url: Option<String>,
}

impl Default for ProvisionerSettings {
    fn default() -> Self {
        ProvisionerSettings {
            asynchronous: false,
            default_timezone: "UTC".into(),
            job_name_rule: true,
            kill_running_on_unprovision: false,
            next_fire_count: 5,
            public_url: None,
        }
    }
}

impl ProvisionerSettings {
    /// Checks what serde cannot; `path` is the configuration file, for messages.
    pub(crate) fn validate(&self, path: &str) -> Result<(), ConfigError> {
        let invalid = |option: &'static str, value: String, problem: &str| ConfigError::Invalid {
            option,
            value,
            origin: Origin::File(path.to_string()),
            problem: problem.to_string(),
        };
        if !(1..=50).contains(&self.next_fire_count) {
            return Err(invalid(
                "provisioner.next_fire_count",
                self.next_fire_count.to_string(),
                "must be between 1 and 50",
            ));
        }
        if let Some(url) = &self.public_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(invalid(
                "provisioner.public_url",
                url.clone(),
                "must be an http:// or https:// URL, e.g. https://consort.example.com",
            ));
        }
        Ok(())
    }
}
