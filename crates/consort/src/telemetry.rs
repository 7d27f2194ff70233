//! OpenTelemetry traces for `consort serve`, when `[telemetry] otlp_endpoint` is set.
//!
//! The `tracing` spans the crates already open (a request, a scheduler cycle, a run, a Spark
//! submission, a governance decision) become OpenTelemetry spans through
//! `tracing-opentelemetry`, batched on the SDK's own thread and exported over OTLP/HTTP
//! (protobuf, blocking client: the exporter never runs on the async runtime). The W3C trace
//! context propagator is installed so the server can take a caller's `traceparent`
//! (`consort_server::request_log`). Without an endpoint nothing here runs and no exporter exists.

use std::time::Duration;

use anyhow::Context;
use consort_config::TelemetrySettings;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use tracing_subscriber::registry::LookupSpan;

/// Spans exported by default: consort's own at info and above, none of its libraries'.
pub const EXPORTED_SPANS: &str = "info";

/// The tracer provider of a running export; [`Traces::shutdown`] flushes what is batched.
#[derive(Debug)]
pub struct Traces {
    provider: SdkTracerProvider,
}

impl Traces {
    /// Sends the spans still batched (up to the export time-out) and stops the exporter.
    pub fn shutdown(self) {
        if let Err(e) = self.provider.shutdown() {
            tracing::warn!(error = %e, "the last traces could not be exported");
        }
    }
}

/// The URL spans are POSTed to: the base endpoint and OTLP/HTTP's trace path.
pub fn traces_url(endpoint: &str) -> String {
    format!("{}/v1/traces", endpoint.trim_end_matches('/'))
}

/// The layer that turns `tracing` spans into exported OpenTelemetry spans.
pub type ExportLayer<S> = tracing_opentelemetry::OpenTelemetryLayer<S, opentelemetry_sdk::trace::Tracer>;

/// The `tracing` layer exporting spans, and its provider; `None` when traces are off.
pub fn layer<S>(settings: &TelemetrySettings) -> anyhow::Result<Option<(ExportLayer<S>, Traces)>>
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
{
    let Some(endpoint) = &settings.otlp_endpoint else { return Ok(None) };
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(traces_url(endpoint))
        .with_timeout(Duration::from_secs(settings.export_timeout_secs))
        .build()
        .with_context(|| {
            format!("cannot set up the OTLP exporter for telemetry.otlp_endpoint {endpoint:?}; check the URL")
        })?;
    // A caller's sampled traceparent is followed; new traces are kept at the configured ratio.
    let sampler = Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(settings.sampling_ratio)));
    let resource = Resource::builder().with_service_name(settings.service_name.clone()).build();
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_sampler(sampler)
        .with_resource(resource)
        .build();
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let tracer = provider.tracer("consort");
    let layer = tracing_opentelemetry::layer().with_tracer(tracer).with_tracked_inactivity(false);
    Ok(Some((layer, Traces { provider })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_go_to_the_traces_path_of_the_endpoint() {
        assert_eq!(traces_url("http://127.0.0.1:4318"), "http://127.0.0.1:4318/v1/traces");
        assert_eq!(traces_url("https://otel.example.com/"), "https://otel.example.com/v1/traces");
    }

    #[test]
    fn no_endpoint_no_exporter() {
        let off = layer::<tracing_subscriber::Registry>(&TelemetrySettings::default()).unwrap();
        assert!(off.is_none());
    }
}
