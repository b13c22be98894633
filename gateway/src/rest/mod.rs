//! Qdrant's REST API (see shared/reference/qdrant-openapi-v1.18.3.json).
//! Every answer is Qdrant's envelope: `{"result": ..., "status": "ok", "time": s}`
//! or `{"status": {"error": "..."}, "time": s}` with the matching 4xx/5xx.

mod call;
mod cluster;
mod collections;
mod model;
mod points;
mod query_body;
mod search;
mod snapshots;

use std::time::Instant;

use axum::body::Bytes;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::Router;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tessera_proto::metrics::{Registry, RequestMetrics};
use tessera_proto::trace_context;
use tessera_types::TesseraError;

use crate::auth::{self, ApiKeys, Denied};
use crate::service::Gateway;

/// The REST API. Every request is counted in `requests`; `/metrics` shows
/// `metrics`, the registry those counts live in.
pub fn router(
    gateway: Gateway,
    keys: ApiKeys,
    metrics: Registry,
    requests: RequestMetrics,
) -> Router {
    Router::new()
        .route("/", get(collections::root))
        .route(
            "/metrics",
            get(move || async move { tessera_proto::metrics::render(&[metrics]) }),
        )
        .route("/healthz", get(|| async { "healthz check passed" }))
        .route("/livez", get(|| async { "livez check passed" }))
        .route("/readyz", get(collections::readyz))
        .route("/cluster", get(collections::cluster_status))
        .route(
            "/cluster/peer/{peer_id}",
            axum::routing::delete(cluster::remove_peer),
        )
        .route(
            "/cluster/control-plane/{node_id}",
            axum::routing::delete(cluster::remove_control_plane_member),
        )
        .route("/cluster/recover", post(cluster::recover))
        .route("/collections", get(collections::list))
        .route("/aliases", get(collections::list_aliases))
        .route("/collections/aliases", post(collections::update_aliases))
        .route(
            "/collections/{name}/aliases",
            get(collections::list_collection_aliases),
        )
        .route(
            "/collections/{name}",
            get(collections::get)
                .put(collections::create)
                .patch(collections::update)
                .delete(collections::delete),
        )
        .route("/collections/{name}/exists", get(collections::exists))
        .route(
            "/collections/{name}/vectors/{vector}",
            put(collections::create_vector).delete(collections::delete_vector),
        )
        .route(
            "/collections/{name}/cluster",
            get(collections::cluster_info).post(cluster::update_collection_cluster),
        )
        .route(
            "/collections/{name}/shards",
            get(collections::list_shard_keys).put(collections::create_shard_key),
        )
        .route(
            "/collections/{name}/shards/delete",
            post(collections::delete_shard_key),
        )
        .route(
            "/collections/{name}/index",
            axum::routing::put(collections::create_index),
        )
        .route(
            "/collections/{name}/index/{field}",
            axum::routing::delete(collections::delete_index),
        )
        .route(
            "/collections/{name}/snapshots",
            get(snapshots::list_collection_snapshots).post(snapshots::create_collection_snapshot),
        )
        .route(
            "/collections/{name}/snapshots/recover",
            axum::routing::put(snapshots::recover_collection_snapshot),
        )
        .route(
            "/collections/{name}/snapshots/upload",
            post(snapshots::upload_collection_snapshot),
        )
        .route(
            "/collections/{name}/snapshots/{snapshot}",
            get(snapshots::download_collection_snapshot)
                .delete(snapshots::delete_collection_snapshot),
        )
        .route(
            "/collections/{name}/shards/{shard_id}/snapshot",
            get(snapshots::stream_shard_snapshot),
        )
        .route(
            "/collections/{name}/shards/{shard_id}/snapshots",
            get(snapshots::list_shard_snapshots).post(snapshots::create_shard_snapshot),
        )
        .route(
            "/collections/{name}/shards/{shard_id}/snapshots/recover",
            axum::routing::put(snapshots::recover_shard_snapshot),
        )
        .route(
            "/collections/{name}/shards/{shard_id}/snapshots/upload",
            post(snapshots::upload_shard_snapshot),
        )
        .route(
            "/collections/{name}/shards/{shard_id}/snapshots/{snapshot}",
            get(snapshots::download_shard_snapshot).delete(snapshots::delete_shard_snapshot),
        )
        .route(
            "/snapshots",
            get(snapshots::list_full_snapshots).post(snapshots::create_full_snapshot),
        )
        .route(
            "/snapshots/{snapshot}",
            get(snapshots::download_full_snapshot).delete(snapshots::delete_full_snapshot),
        )
        .route(
            "/collections/{name}/points",
            post(points::retrieve).put(points::upsert),
        )
        .route("/collections/{name}/points/batch", post(points::batch))
        .route("/collections/{name}/points/{id}", get(points::retrieve_one))
        .route("/collections/{name}/points/delete", post(points::delete))
        .route(
            "/collections/{name}/points/payload",
            post(points::set_payload).put(points::overwrite_payload),
        )
        .route(
            "/collections/{name}/points/payload/delete",
            post(points::delete_payload),
        )
        .route(
            "/collections/{name}/points/payload/clear",
            post(points::clear_payload),
        )
        .route(
            "/collections/{name}/points/vectors",
            axum::routing::put(points::update_vectors),
        )
        .route(
            "/collections/{name}/points/vectors/delete",
            post(points::delete_vectors),
        )
        .route("/collections/{name}/points/scroll", post(points::scroll))
        .route("/collections/{name}/points/count", post(points::count))
        .route("/collections/{name}/points/search", post(search::search))
        .route(
            "/collections/{name}/points/search/batch",
            post(search::search_batch),
        )
        .route("/collections/{name}/points/query", post(search::query))
        .route(
            "/collections/{name}/points/query/batch",
            post(search::query_batch),
        )
        .route(
            "/collections/{name}/points/search/groups",
            post(search::search_groups),
        )
        .route(
            "/collections/{name}/points/query/groups",
            post(search::query_groups),
        )
        .route(
            "/collections/{name}/points/recommend",
            post(search::recommend),
        )
        .route(
            "/collections/{name}/points/recommend/batch",
            post(search::recommend_batch),
        )
        .route(
            "/collections/{name}/points/recommend/groups",
            post(search::recommend_groups),
        )
        .route(
            "/collections/{name}/points/discover",
            post(search::discover),
        )
        .route(
            "/collections/{name}/points/discover/batch",
            post(search::discover_batch),
        )
        .route("/collections/{name}/facet", post(search::facet))
        .route(
            "/collections/{name}/points/search/matrix/pairs",
            post(search::matrix_pairs),
        )
        .route(
            "/collections/{name}/points/search/matrix/offsets",
            post(search::matrix_offsets),
        )
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

/// Counts a request under its route (`POST /collections/{name}/points/query`)
/// and answer's status; paths no route matches count as one operation.
/// A request's operation: its method and route, such as
/// `POST /collections/{name}/points/query`.
fn operation(request: &axum::extract::Request) -> String {
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or("unmatched", |path| path.as_str());
    format!("{} {route}", request.method())
}

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

async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> Response {
    ApiError {
        status: StatusCode::METHOD_NOT_ALLOWED,
        message: format!("Method not allowed: {method} {}", uri.path()),
        started: Instant::now(),
    }
    .into_response()
}

async fn unknown_path(uri: axum::http::Uri) -> Response {
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

impl<T: Serialize> IntoResponse for ApiResult<T> {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "result": self.result,
            "status": "ok",
            "time": self.started.elapsed().as_secs_f64(),
        });
        axum::Json(body).into_response()
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
        TesseraError::BadInput(_) => StatusCode::BAD_REQUEST,
        TesseraError::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
        TesseraError::NotFound(_) => StatusCode::NOT_FOUND,
        TesseraError::AlreadyExists(_) => StatusCode::CONFLICT,
        TesseraError::Unavailable(_) | TesseraError::Stale(_) => StatusCode::SERVICE_UNAVAILABLE,
        TesseraError::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
        TesseraError::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
        TesseraError::Unimplemented(_) => StatusCode::NOT_IMPLEMENTED,
        TesseraError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// Times a request and wraps its outcome in Qdrant's envelope.
pub struct Timer(Instant);

impl Timer {
    pub fn start() -> Self {
        Timer(Instant::now())
    }

    pub fn finish<T: Serialize>(self, outcome: Result<T, TesseraError>) -> Response {
        match outcome {
            Ok(result) => ApiResult {
                result,
                started: self.0,
            }
            .into_response(),
            Err(err) => {
                if matches!(err, TesseraError::Internal(_)) {
                    tracing::error!(error = %err, "request failed");
                }
                ApiError {
                    status: http_status(&err),
                    message: err.to_string(),
                    started: self.0,
                }
                .into_response()
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
    serde_json::from_slice(bytes)
        .map_err(|e| TesseraError::bad_input(format!("Format error in JSON body: {e}")))
}
