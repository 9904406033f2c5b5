//! Trace export (contract, "Trace context"): off unless
//! `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is
//! set; then the spans of [`spans`] go over OTLP/HTTP (protobuf, the OTLP/HTTP
//! default) to that collector, and a job's trace context travels in the AMQP
//! headers ([`propagation`]). OpenTelemetry's own variables apply
//! (`OTEL_SERVICE_NAME`, default `id2meta`; `OTEL_EXPORTER_OTLP_HEADERS`;
//! `OTEL_TRACES_SAMPLER`; `OTEL_BSP_*`; `OTEL_SDK_DISABLED`).
//!
//! What leaves the process is only the spans this room creates: the exporting
//! layer is filtered to [`TARGET`], so no dependency span or event, and no log
//! event, is ever exported (the privacy rule of `telemetry` holds here too).
//! Unset, there is no exporting layer and a global filter disables the spans
//! where they are created ([`unless_exporting`]): they cost nothing and the logs
//! are as before. Set, the log lines written inside an upstream call or a
//! completion's publish show that span as their current one.
//!
//! The export runs on the SDK's batch thread with a blocking reqwest client of
//! its own, on the build's one TLS provider (`tls`).

pub mod propagation;
pub mod spans;

use std::sync::OnceLock;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::filter::{FilterFn, LevelFilter, Targets};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

/// The target of every exported span, and of nothing else.
pub const TARGET: &str = "id2meta::traces";

/// The provider, kept to flush and stop it at exit ([`shutdown`]).
static PROVIDER: OnceLock<SdkTracerProvider> = OnceLock::new();

/// Whether OpenTelemetry's variables ask for trace export (`get` reads one).
pub fn export_wanted(get: impl Fn(&str) -> Option<String>) -> bool {
    let set = |name: &str| get(name).is_some_and(|value| !value.trim().is_empty());
    let disabled = get("OTEL_SDK_DISABLED").is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
    !disabled && (set("OTEL_EXPORTER_OTLP_ENDPOINT") || set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))
}

/// The exporting layer when the environment asks for export, else `None` (no
/// layer at all). An exporter that cannot be built is reported on stderr and
/// the process runs without export (logging is not up yet).
pub fn layer<S>() -> Option<impl Layer<S>>
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
{
    if !export_wanted(|name| std::env::var(name).ok()) {
        return None;
    }
    // The exporter's HTTP client is reqwest's: ring must be the provider first.
    crate::tls::install_provider();
    let exporter = match opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .build()
    {
        Ok(exporter) => exporter,
        Err(error) => {
            eprintln!("warning: trace export is off: building the OTLP exporter: {error}");
            return None;
        }
    };
    let service = std::env::var("OTEL_SERVICE_NAME")
        .ok()
        .filter(|name| !name.trim().is_empty())
        .unwrap_or_else(|| "id2meta".to_string());
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(
            opentelemetry_sdk::Resource::builder()
                .with_service_name(service)
                .build(),
        )
        .build();
    let tracer = provider.tracer("id2meta");
    // A second initialisation (tests) keeps the first provider.
    let _ = PROVIDER.set(provider);
    let exported = Targets::new().with_target(TARGET, LevelFilter::INFO);
    Some(
        tracing_opentelemetry::layer()
            .with_tracer(tracer)
            .with_location(false)
            .with_threads(false)
            .with_target(false)
            .with_tracked_inactivity(false)
            .with_filter(exported),
    )
}

/// A global filter that disables this room's spans when nothing exports them
/// (`exporting` false), so that they cost nothing and appear in no log.
pub fn unless_exporting(exporting: bool) -> FilterFn<impl Fn(&tracing::Metadata<'_>) -> bool> {
    tracing_subscriber::filter::filter_fn(move |meta| exporting || meta.target() != TARGET)
}

/// Sends what is still batched and stops the export (at exit; waits for the
/// collector up to the exporter's timeout). A no-op when export is off.
pub fn shutdown() {
    if let Some(provider) = PROVIDER.get() {
        if let Err(error) = provider.shutdown() {
            eprintln!("warning: flushing the trace export: {error}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn wanted(vars: &[(&str, &str)]) -> bool {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect();
        export_wanted(|name| vars.get(name).cloned())
    }

    #[test]
    fn export_is_off_unless_an_otlp_endpoint_is_set() {
        assert!(!wanted(&[]));
        assert!(!wanted(&[("OTEL_EXPORTER_OTLP_ENDPOINT", " ")]));
        assert!(!wanted(&[("OTEL_SERVICE_NAME", "id2meta")]));
        assert!(wanted(&[(
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "http://collector:4318"
        )]));
        assert!(wanted(&[(
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "http://collector:4318/v1/traces"
        )]));
        assert!(!wanted(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"),
            ("OTEL_SDK_DISABLED", "true"),
        ]));
    }
}
