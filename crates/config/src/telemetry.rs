//! `[telemetry]`: OpenTelemetry traces, exported over OTLP when an endpoint is configured.

use serde::Deserialize;

use crate::{ConfigError, Origin};

/// `[telemetry]`. Off unless `otlp_endpoint` is set.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetrySettings {
    /// The OTLP/HTTP endpoint's base URL (e.g. `http://127.0.0.1:4318`); spans go to
    /// `{otlp_endpoint}/v1/traces` as protobuf. `None`: no traces.
    pub otlp_endpoint: Option<String>,
    /// `service.name` of every exported span.
    pub service_name: String,
    /// The share of new traces kept, 0.0 to 1.0; a request carrying a sampled `traceparent`
    /// follows its caller's decision.
    pub sampling_ratio: f64,
    /// How long one export may take before it is given up, in seconds.
    pub export_timeout_secs: u64,
}

impl Eq for TelemetrySettings {}

impl Default for TelemetrySettings {
    fn default() -> Self {
        TelemetrySettings {
            otlp_endpoint: None,
            service_name: "consort".into(),
            sampling_ratio: 1.0,
            export_timeout_secs: 10,
        }
    }
}

impl TelemetrySettings {
    /// Checks what serde cannot; `origin` says where the endpoint came from, for messages.
    pub(crate) fn validate(&self, origin: &Origin, path: &str) -> Result<(), ConfigError> {
        let invalid = |option: &'static str, value: String, origin: Origin, problem: &str| ConfigError::Invalid {
            option,
            value,
            origin,
            problem: problem.to_string(),
        };
        let file = || Origin::File(path.to_string());
        if let Some(endpoint) = &self.otlp_endpoint {
            let scheme = endpoint.starts_with("http://") || endpoint.starts_with("https://");
            if !scheme || endpoint.trim_end_matches('/').ends_with("/v1/traces") {
                return Err(invalid(
                    "telemetry.otlp_endpoint",
                    endpoint.clone(),
                    origin.clone(),
                    "must be the OTLP/HTTP base URL, without /v1/traces, e.g. http://127.0.0.1:4318",
                ));
            }
        }
        if self.service_name.trim().is_empty() {
            return Err(invalid(
                "telemetry.service_name",
                self.service_name.clone(),
                file(),
                "must not be empty; e.g. \"consort\"",
            ));
        }
        if !(0.0..=1.0).contains(&self.sampling_ratio) {
            return Err(invalid(
                "telemetry.sampling_ratio",
                self.sampling_ratio.to_string(),
                file(),
                "must be between 0.0 (no new trace kept) and 1.0 (every trace kept)",
            ));
        }
        if !(1..=300).contains(&self.export_timeout_secs) {
            return Err(invalid(
                "telemetry.export_timeout_secs",
                self.export_timeout_secs.to_string(),
                file(),
                "must be between 1 and 300 seconds",
            ));
        }
        Ok(())
    }
}
