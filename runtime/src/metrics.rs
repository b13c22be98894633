//! Prometheus metrics every service shares: request counts and latency per
//! operation (a tower layer for tonic servers, a recorder for REST), and the
//! small HTTP endpoint control-plane and data-plane nodes serve `/metrics`,
//! `/livez`, `/readyz` and `/healthz` on. Each service registers its own
//! gauges, read from its state when Prometheus scrapes.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use crate::request_stats::RequestStats;
use crate::transport::grpc_operation;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts, TextEncoder};

pub use prometheus::Registry;
use tokio::net::TcpListener;

/// Latency buckets in seconds, from a cached read to a slow index-building upsert.
const LATENCY_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Requests served by one API (`rest`, `grpc` or `internal`), by operation and
/// status: as Prometheus series, and as the statistics Qdrant's telemetry
/// reports (`stats`).
#[derive(Clone)]
pub struct RequestMetrics {
    requests: IntCounterVec,
    seconds: HistogramVec,
    stats: RequestStats,
}

impl RequestMetrics {
    pub fn new(registry: &Registry, api: &str) -> prometheus::Result<Self> {
        let requests = IntCounterVec::new(
            Opts::new(
                "tessera_requests_total",
                "Requests served, by operation and status",
            )
            .const_label("api", api),
            &["operation", "status"],
        )?;
        let seconds = HistogramVec::new(
            HistogramOpts::new(
                "tessera_request_duration_seconds",
                "Time to answer a request, by operation",
            )
            .const_label("api", api)
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["operation"],
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(seconds.clone()))?;
        Ok(RequestMetrics {
            requests,
            seconds,
            stats: RequestStats::default(),
        })
    }

    pub fn observe(&self, operation: &str, status: &str, elapsed: Duration) {
        self.count(operation, status, elapsed);
        self.stats.observe(operation, status, elapsed);
    }

    fn count(&self, operation: &str, status: &str, elapsed: Duration) {
        self.requests.with_label_values(&[operation, status]).inc();
        self.seconds
            .with_label_values(&[operation])
            .observe(elapsed.as_secs_f64());
    }

    /// The responses so far, by operation and status. A gRPC call is listed
    /// under its full path (`/qdrant.Points/Search`), as Qdrant lists it.
    pub fn stats(&self) -> &RequestStats {
        &self.stats
    }

    /// A tower layer for a tonic server: counts each call under its
    /// `Service/Method` and gRPC status code.
    pub fn grpc_layer(&self) -> GrpcMetricsLayer {
        GrpcMetricsLayer(self.clone())
    }
}

#[derive(Clone)]
pub struct GrpcMetricsLayer(RequestMetrics);

impl<S> tower::Layer<S> for GrpcMetricsLayer {
    type Service = GrpcMetrics<S>;

    fn layer(&self, inner: S) -> GrpcMetrics<S> {
        GrpcMetrics {
            inner,
            metrics: self.0.clone(),
        }
    }
}

#[derive(Clone)]
pub struct GrpcMetrics<S> {
    inner: S,
    metrics: RequestMetrics,
}

impl<S, B, R> tower::Service<http::Request<B>> for GrpcMetrics<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<R>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        // The clone that was made ready serves this call (tower's usual dance).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let metrics = self.metrics.clone();
        let path = request.uri().path().to_owned();
        let started = Instant::now();
        Box::pin(async move {
            let response = inner.call(request).await;
            // A failed call is answered trailers-only, so its code is in the
            // headers; a successful one carries no grpc-status header yet.
            let status = match &response {
                Ok(response) => response
                    .headers()
                    .get("grpc-status")
                    .and_then(|code| code.to_str().ok())
                    .unwrap_or("0")
                    .to_owned(),
                Err(_) => "transport_error".to_owned(),
            };
            let elapsed = started.elapsed();
            metrics.count(&grpc_operation(&path), &status, elapsed);
            metrics.stats.observe(&path, &status, elapsed);
            response
        })
    }
}

/// The registries' metrics in Prometheus' text format.
pub fn render(registries: &[Registry]) -> Response {
    let families: Vec<_> = registries.iter().flat_map(Registry::gather).collect();
    match TextEncoder::new().encode_to_string(&families) {
        Ok(text) => ([(header::CONTENT_TYPE, prometheus::TEXT_FORMAT)], text).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

/// Whether a node can serve: `/readyz` answers 503 until it can.
pub type Readiness = Arc<dyn Fn() -> bool + Send + Sync>;

/// Serves `/metrics`, `/livez`, `/readyz` and `/healthz` on `listener` until
/// `shutdown` completes: the operations endpoint of a control-plane or
/// data-plane node.
pub async fn serve_operations(
    listener: TcpListener,
    registry: Registry,
    ready: Readiness,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let router = Router::new()
        .route("/metrics", get(move || async move { render(&[registry]) }))
        .route("/livez", get(|| async { "healthz check passed" }))
        .route("/healthz", get(|| async { "healthz check passed" }))
        .route(
            "/readyz",
            get(move || async move {
                if ready() {
                    (StatusCode::OK, "all shards are ready")
                } else {
                    (StatusCode::SERVICE_UNAVAILABLE, "some shards are not ready")
                }
            }),
        );
    let addr = listener.local_addr().ok();
    if let Err(e) = axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
    {
        tracing::error!(error = %e, ?addr, "operations endpoint failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendered_text_holds_counts_and_histograms() {
        let registry = Registry::new();
        let metrics = RequestMetrics::new(&registry, "rest").unwrap();
        metrics.observe("points/query", "200", Duration::from_millis(3));
        let body = TextEncoder::new()
            .encode_to_string(&registry.gather())
            .unwrap();
        assert!(body.contains(
            r#"tessera_requests_total{api="rest",operation="points/query",status="200"} 1"#
        ));
        assert!(body.contains("tessera_request_duration_seconds_bucket"));
    }
}
