//! What a process tells its operators: logs on stderr (text or JSON lines)
//! and, when `telemetry.otlp_endpoint` names an OpenTelemetry collector,
//! traces exported over OTLP/gRPC. Spans come from `tracing`; the trace
//! context crosses services in gRPC metadata (`tessera_runtime::trace_context`).

use anyhow::Context;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry::KeyValue;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::trace::span_processor_with_async_runtime::BatchSpanProcessor;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use opentelemetry_sdk::Resource;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

use crate::config::{LogFormat, Settings};

/// Holds the trace exporter; [`Telemetry::shutdown`] sends what is buffered.
pub struct Telemetry {
    traces: Option<SdkTracerProvider>,
}

/// Installs logging and, when configured, trace export for a `service`
/// (`gateway`, `data-plane`, ...; none exports nothing). Call inside the Tokio
/// runtime: the exporter runs as a task on it.
pub fn init(settings: &Settings, service: Option<&str>) -> anyhow::Result<Telemetry> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&settings.log.level));
    // The level filters logs only: traces keep every request span.
    let logs = match settings.log.format {
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .with_filter(filter)
            .boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .with_writer(std::io::stderr)
            .with_filter(filter)
            .boxed(),
    };
    let traces = match (settings.telemetry.otlp_endpoint.as_str(), service) {
        ("", _) | (_, None) => None,
        (endpoint, Some(service)) => Some(tracer_provider(settings, service, endpoint)?),
    };
    let spans = traces.as_ref().map(|provider| {
        tracing_opentelemetry::layer()
            .with_tracer(provider.tracer("tessera"))
            // Our own spans and events at info and above: not the exporter's
            // HTTP/2 client tracing its own exports, nor Raft's inner steps.
            .with_filter(tracing_subscriber::filter::filter_fn(|meta| {
                meta.target().starts_with("tessera") && *meta.level() <= tracing::Level::INFO
            }))
    });
    tracing_subscriber::registry().with(logs).with(spans).init();
    if traces.is_some() {
        opentelemetry::global::set_text_map_propagator(
            opentelemetry_sdk::propagation::TraceContextPropagator::new(),
        );
        tracing::info!(
            endpoint = %settings.telemetry.otlp_endpoint,
            sample_ratio = settings.telemetry.sample_ratio,
            "exporting traces over OTLP"
        );
    }
    Ok(Telemetry { traces })
}

fn tracer_provider(
    settings: &Settings,
    service: &str,
    endpoint: &str,
) -> anyhow::Result<SdkTracerProvider> {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint)
        .build()
        .with_context(|| format!("telemetry.otlp_endpoint {endpoint}"))?;
    let resource = Resource::builder()
        .with_service_name(format!("tessera-{service}"))
        .with_attribute(KeyValue::new("service.instance.id", instance_id(settings)))
        .build();
    // A data node follows the gateway's decision for the trace it joins.
    let sampler = Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
        settings.telemetry.sample_ratio,
    )));
    Ok(SdkTracerProvider::builder()
        .with_span_processor(
            BatchSpanProcessor::builder(exporter, opentelemetry_sdk::runtime::Tokio).build(),
        )
        .with_sampler(sampler)
        .with_resource(resource)
        .build())
}

/// This process among its role's: the URI it registers under, or for a
/// gateway, its host and REST port.
fn instance_id(settings: &Settings) -> String {
    settings.cluster.uri.clone().unwrap_or_else(|| {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|name| name.trim().to_string())
            .unwrap_or_else(|_| "localhost".into());
        format!("{host}:{}", settings.service.http_port)
    })
}

impl Telemetry {
    /// Sends the spans still buffered; call before the runtime ends.
    pub fn shutdown(self) {
        if let Some(provider) = self.traces {
            if let Err(e) = provider.shutdown() {
                eprintln!("trace export did not finish: {e}");
            }
        }
    }
}
