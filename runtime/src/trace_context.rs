//! One trace per client request, across services: every internal call
//! carries the caller's span as W3C `traceparent` metadata, and every server
//! (gateway and internal) opens its request span as the child of the span the
//! request carries. The propagator is installed only when traces are exported
//! (`telemetry.otlp_endpoint`); without it both ends are no-ops.

use opentelemetry::propagation::{Extractor, Injector};
use opentelemetry::trace::TraceContextExt;
use tonic::metadata::{MetadataKey, MetadataMap, MetadataValue};
use tower_http::classify::{GrpcErrorsAsFailures, SharedClassifier};
use tower_http::trace::{
    DefaultOnBodyChunk, DefaultOnEos, DefaultOnRequest, DefaultOnResponse, MakeSpan, TraceLayer,
};
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::transport::grpc_operation;

struct MetadataInjector<'a>(&'a mut MetadataMap);

impl Injector for MetadataInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(key), Ok(value)) = (
            MetadataKey::from_bytes(key.as_bytes()),
            MetadataValue::try_from(value),
        ) {
            self.0.insert(key, value);
        }
    }
}

struct HeaderExtractor<'a>(&'a http::HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|key| key.as_str()).collect()
    }
}

/// Writes the current span's context into an outgoing call's metadata.
pub fn inject(metadata: &mut MetadataMap) {
    let context = Span::current().context();
    opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.inject_context(&context, &mut MetadataInjector(metadata))
    });
}

/// The span of one request a client sent to a gateway (`name` is the
/// operation, such as `POST /collections/{name}/points/query`): the child of
/// the client's span when the request carries one, else a new trace.
pub fn server_span(name: &str, headers: &http::HeaderMap) -> Span {
    let span = request_span(name);
    // Fails only when no OpenTelemetry layer is installed: nothing to link.
    let _ = span.set_parent(remote_parent(headers));
    span
}

fn request_span(name: &str) -> Span {
    tracing::info_span!("request", otel.name = name, otel.kind = "server")
}

fn remote_parent(headers: &http::HeaderMap) -> opentelemetry::Context {
    opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.extract(&HeaderExtractor(headers))
    })
}

/// Names a gRPC server's request span by `Service/Method`.
#[derive(Clone, Copy)]
pub struct GrpcServerSpan {
    /// A gateway starts a trace for every client call; an internal server
    /// only joins the trace a call carries, so Raft heartbeats, topology
    /// watches and other background calls make no traces of their own.
    starts_traces: bool,
}

impl<B> MakeSpan<B> for GrpcServerSpan {
    fn make_span(&mut self, request: &http::Request<B>) -> Span {
        let parent = remote_parent(request.headers());
        if !self.starts_traces && !parent.span().span_context().is_valid() {
            return Span::none();
        }
        let span = request_span(&grpc_operation(request.uri().path()));
        let _ = span.set_parent(parent);
        span
    }
}

pub type GrpcTraceLayer = TraceLayer<
    SharedClassifier<GrpcErrorsAsFailures>,
    GrpcServerSpan,
    DefaultOnRequest,
    DefaultOnResponse,
    DefaultOnBodyChunk,
    DefaultOnEos,
    (),
>;

/// The layer of the gateway's gRPC server: a trace per client call. Failed
/// calls are the caller's to report, not logged here.
pub fn client_grpc_layer() -> GrpcTraceLayer {
    grpc_layer(true)
}

/// The layer of control-plane and data-plane servers: a span per call that
/// belongs to a trace.
pub fn internal_grpc_layer() -> GrpcTraceLayer {
    grpc_layer(false)
}

fn grpc_layer(starts_traces: bool) -> GrpcTraceLayer {
    TraceLayer::new_for_grpc()
        .make_span_with(GrpcServerSpan { starts_traces })
        .on_failure(())
}
