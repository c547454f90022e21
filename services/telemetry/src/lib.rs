//! Tracing for the binaries: human logs on stderr (`RUST_LOG`), W3C trace context propagation
//! (carried in NATS headers by the bus), and OTLP/HTTP export when
//! `OTEL_EXPORTER_OTLP_ENDPOINT` is set. Their Prometheus metrics are in [`metrics`].

pub mod metrics;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::{Resource, propagation::TraceContextPropagator, trace::SdkTracerProvider};
use tracing_subscriber::{EnvFilter, layer::SubscriberExt, util::SubscriberInitExt};

/// Flushes spans on drop.
pub struct Telemetry {
    provider: SdkTracerProvider,
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        let _ = self.provider.shutdown();
    }
}

/// Installs the global subscriber. `default_filter` applies when `RUST_LOG` is unset.
pub fn init_with(service: &'static str, default_filter: &str) -> Telemetry {
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let resource = Resource::builder().with_service_name(service).build();
    let mut builder = SdkTracerProvider::builder().with_resource(resource);
    let mut export_error = None;
    if std::env::var_os("OTEL_EXPORTER_OTLP_ENDPOINT").is_some() {
        match opentelemetry_otlp::SpanExporter::builder().with_http().build() {
            Ok(exporter) => builder = builder.with_batch_exporter(exporter),
            Err(e) => export_error = Some(e.to_string()),
        }
    }
    let provider = builder.build();
    opentelemetry::global::set_tracer_provider(provider.clone());
    let otel = tracing_opentelemetry::layer().with_tracer(provider.tracer(service));
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_target(false))
        .with(otel)
        .try_init();
    if let Some(e) = export_error {
        tracing::warn!(error = %e, "OTLP export disabled");
    }
    Telemetry { provider }
}

pub fn init(service: &'static str) -> Telemetry {
    init_with(service, "info,async_nats=warn,sqlx=warn,sea_orm=warn,tower_http=warn")
}
