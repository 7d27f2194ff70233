//! What validation and planning take from the server's configuration.

/// The server's choices for descriptors that leave them open.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// The IANA time zone of schedules whose `specific.timezone` is absent, e.g. `UTC`.
    pub default_timezone: String,
    /// The Spark backend of components whose `specific.backend` is absent; one of
    /// [`Settings::backends`].
    pub default_backend: String,
    /// The Spark backends configured on this server (`local`, `standalone`, `yarn`, `livy`,
    /// `kubernetes`).
    pub backends: Vec<String>,
    /// How many upcoming fire times a plan lists.
    pub next_fire_count: usize,
    /// Whether `specific.jobName` must follow upstream's rule: the component id without
    /// `urn:dmb:cmp:`, then `-` and the environment, every character other than
    /// `[a-zA-Z0-9]` replaced by `-`.
    pub job_name_rule: bool,
}

impl Default for Settings {
    /// UTC, the `local` backend only, five fire times, the job-name rule on.
    fn default() -> Self {
        Settings {
            default_timezone: "UTC".into(),
            default_backend: "local".into(),
            backends: vec!["local".into()],
            next_fire_count: 5,
            job_name_rule: true,
        }
    }
}
