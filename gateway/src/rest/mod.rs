//! Qdrant's REST API (see shared/reference/qdrant-openapi-v1.18.3.json).
//! Every answer is Qdrant's envelope: `{"result": ..., "status": "ok", "time": s}`
//! or `{"status": {"error": "..."}, "time": s}` with the matching 4xx/5xx.

mod call;
mod cluster;
mod collections;
mod model;
mod openapi;
mod points;
mod query_body;
mod query_feedback;
mod query_text;
mod quotas;
mod routes;
mod search;
mod service;
mod snapshots;

use std::time::Instant;

use axum::body::Bytes;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tessera_runtime::metrics::RequestMetrics;
use tessera_runtime::trace_context;
use tessera_types::TesseraError;

use crate::auth::{self, ApiKeys, Denied};
use crate::service::Gateway;
use crate::telemetry::Telemetry;

/// The REST API. Every request is counted in `telemetry`'s REST metrics,
/// which `/telemetry` and `/metrics` report.
pub fn router(gateway: Gateway, keys: ApiKeys, telemetry: Telemetry) -> Router {
    let requests = telemetry.rest().clone();
    let (api, document) = routes::api();
    // Serialized once: each request shares the bytes instead of copying the
    // document's JSON tree.
    let document = Bytes::from(serde_json::to_vec(&document).expect("JSON serializes"));
    api.route(
        "/openapi.json",
        get(move || async move {
            (
                [(axum::http::header::CONTENT_TYPE, "application/json")],
                document.clone(),
            )
        }),
    )
    .layer(axum::Extension(telemetry))
    .fallback(unknown_path)
    .method_not_allowed_fallback(method_not_allowed)
    .layer(tower_http::catch_panic::CatchPanicLayer::custom(
        panic_response,
    ))
    .layer(axum::middleware::from_fn(move |request, next| {
        authorize(keys.clone(), request, next)
    }))
    .layer(axum::middleware::from_fn(move |request, next| {
        count_request(requests.clone(), request, next)
    }))
    .layer(axum::middleware::from_fn(
        |request: axum::extract::Request, next: axum::middleware::Next| async move {
            let headers = request.headers().clone();
            crate::routing::affinity::scoped(&headers, next.run(request)).await
        },
    ))
    .layer(
        tower_http::trace::TraceLayer::new_for_http().make_span_with(
            |request: &axum::extract::Request| {
                trace_context::server_span(&operation(request), request.headers())
            },
        ),
    )
    .layer(axum::extract::DefaultBodyLimit::max(256 * 1024 * 1024))
    .with_state(gateway)
}

/// Refuses, in Qdrant's error shape, a request whose API key does not allow it.
async fn authorize(
    keys: ApiKeys,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let path = request.uri().path();
    if !auth::is_open_rest_path(path) {
        let read = auth::is_rest_read(request.method(), path);
        if let Err(denied) = keys.check(request.headers(), read) {
            let status = match denied {
                Denied::Unauthenticated => StatusCode::UNAUTHORIZED,
                Denied::ReadOnly => StatusCode::FORBIDDEN,
            };
            return ApiError {
                status,
                message: denied.message().to_owned(),
                started: Instant::now(),
            }
            .into_response();
        }
    }
    next.run(request).await
}

/// A request's operation: its method and route, such as
/// `POST /collections/{name}/points/query`; paths no route matches are one
/// operation.
fn operation(request: &axum::extract::Request) -> String {
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or("unmatched", |path| path.as_str());
    format!("{} {route}", request.method())
}

/// Counts a request under its operation and its answer's status.
async fn count_request(
    requests: RequestMetrics,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let operation = operation(&request);
    let started = Instant::now();
    let response = next.run(request).await;
    requests.observe(&operation, response.status().as_str(), started.elapsed());
    response
}

/// The refusals read the request's body first: a body left unread makes the
/// server close a kept-alive connection, and a client that reuses it at that
/// moment sees its next request dropped instead of answered.
async fn method_not_allowed(
    method: axum::http::Method,
    uri: axum::http::Uri,
    _body: axum::body::Bytes,
) -> Response {
    ApiError {
        status: StatusCode::METHOD_NOT_ALLOWED,
        message: format!("Method not allowed: {method} {}", uri.path()),
        started: Instant::now(),
    }
    .into_response()
}

async fn unknown_path(uri: axum::http::Uri, _body: axum::body::Bytes) -> Response {
    ApiError {
        status: StatusCode::NOT_FOUND,
        message: format!("Not found: no endpoint {}", uri.path()),
        started: Instant::now(),
    }
    .into_response()
}

/// A bug must not cost the client its connection: answer in Qdrant's shape.
fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let detail = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("unknown panic");
    tracing::error!(detail, "request handler panicked");
    ApiError {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        message: format!("Service internal error: {detail}"),
        started: Instant::now(),
    }
    .into_response()
}

/// A successful answer in Qdrant's envelope.
pub struct ApiResult<T> {
    result: T,
    started: Instant,
}

/// The envelope is serialized straight from the result, never through a
/// `serde_json::Value`: a `Value` holds every number as `f64`, so an `f32`
/// such as `0.1` would come out as `0.10000000149011612`. Written directly,
/// an `f32` is the shortest text that reads back to it, as Qdrant writes it.
#[derive(Serialize)]
struct Envelope<T> {
    result: T,
    status: &'static str,
    time: f64,
}

impl<T: Serialize> IntoResponse for ApiResult<T> {
    fn into_response(self) -> Response {
        axum::Json(Envelope {
            result: self.result,
            status: "ok",
            time: self.started.elapsed().as_secs_f64(),
        })
        .into_response()
    }
}

/// A failed answer in Qdrant's envelope.
pub struct ApiError {
    status: StatusCode,
    message: String,
    started: Instant,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "status": { "error": self.message },
            "time": self.started.elapsed().as_secs_f64(),
        });
        (self.status, axum::Json(body)).into_response()
    }
}

/// The one mapping from domain errors to HTTP status codes.
fn http_status(err: &TesseraError) -> StatusCode {
    match err {
        TesseraError::BadInput(_)
        | TesseraError::BadRequest(_)
        | TesseraError::MalformedBody(_)
        | TesseraError::Inference(_) => StatusCode::BAD_REQUEST,
        TesseraError::Validation(_)
        | TesseraError::QueryValidation(_)
        | TesseraError::PathValidation(_) => StatusCode::UNPROCESSABLE_ENTITY,
        TesseraError::NotFound(_) => StatusCode::NOT_FOUND,
        TesseraError::AlreadyExists(_) => StatusCode::CONFLICT,
        TesseraError::Unavailable(_) | TesseraError::Unreachable(_) | TesseraError::Stale(_) => {
            StatusCode::SERVICE_UNAVAILABLE
        }
        TesseraError::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
        TesseraError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
        TesseraError::InsufficientStorage(_) => StatusCode::INSUFFICIENT_STORAGE,
        TesseraError::Unimplemented(_) => StatusCode::NOT_IMPLEMENTED,
        TesseraError::Internal { .. } => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// Times a request and wraps its outcome in Qdrant's envelope.
pub struct Timer(Instant);

impl Timer {
    pub fn start() -> Self {
        Timer(Instant::now())
    }

    /// `202 Accepted`, for work that goes on after the answer (`wait=false`).
    pub fn accepted(self) -> Response {
        let body = serde_json::json!({
            "status": "accepted",
            "time": self.0.elapsed().as_secs_f64(),
        });
        (StatusCode::ACCEPTED, axum::Json(body)).into_response()
    }

    pub fn finish<T: Serialize>(self, outcome: Result<T, TesseraError>) -> Response {
        match outcome {
            Ok(result) => ApiResult {
                result,
                started: self.0,
            }
            .into_response(),
            Err(err) => {
                if matches!(err, TesseraError::Internal { .. }) {
                    tracing::error!(error = %err, "request failed");
                }
                let mut response = ApiError {
                    status: http_status(&err),
                    message: err.to_string(),
                    started: self.0,
                }
                .into_response();
                // As Qdrant: a rate-limited client learns when a retry can pass.
                if let TesseraError::RateLimited {
                    retry_after: Some(seconds),
                    ..
                } = err
                {
                    response
                        .headers_mut()
                        .insert(axum::http::header::RETRY_AFTER, seconds.into());
                }
                response
            }
        }
    }
}

/// Parses a JSON body; an empty body reads as `{}` where the type allows it.
pub fn parse_body<T: DeserializeOwned>(body: &Bytes) -> Result<T, TesseraError> {
    let bytes: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        body
    };
    serde_json::from_slice(bytes).map_err(|e| TesseraError::malformed_body(format!("{e}")))
}
