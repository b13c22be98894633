//! API keys, checked as Qdrant checks them: a client presents its key in the
//! `api-key` header (REST) or metadata (gRPC), or as `Authorization: Bearer`.
//! The read-write key (`service.api_key`) allows everything; the read-only key
//! (`service.read_only_api_key`) allows reads only (403 on writes); a missing
//! or wrong key gets 401. Health probes and `/` stay open, as in Qdrant.

use axum::http::HeaderMap;
use tessera_runtime::internal_auth::same_secret;

/// The configured keys; no key configured leaves the API open.
#[derive(Clone, Default)]
pub struct ApiKeys {
    read_write: Option<String>,
    read_only: Option<String>,
}

/// Why a request is refused.
#[derive(Debug, PartialEq, Eq)]
pub enum Denied {
    /// No key, or a key that is neither configured key.
    Unauthenticated,
    /// The read-only key on a write or admin call.
    ReadOnly,
}

impl Denied {
    pub fn message(&self) -> &'static str {
        match self {
            Denied::Unauthenticated => "Must provide an API key or an Authorization bearer token",
            Denied::ReadOnly => "Write access is denied for a read-only API key",
        }
    }
}

impl ApiKeys {
    /// Empty keys count as unset.
    pub fn new(read_write: Option<String>, read_only: Option<String>) -> ApiKeys {
        let set = |key: Option<String>| key.filter(|k| !k.is_empty());
        ApiKeys {
            read_write: set(read_write),
            read_only: set(read_only),
        }
    }

    pub fn enabled(&self) -> bool {
        self.read_write.is_some() || self.read_only.is_some()
    }

    /// Whether a request with these headers may do a `read` (or a write).
    pub fn check(&self, headers: &HeaderMap, read: bool) -> Result<(), Denied> {
        if !self.enabled() {
            return Ok(());
        }
        let presented = presented_key(headers).ok_or(Denied::Unauthenticated)?;
        let matches = |key: &Option<String>| {
            key.as_deref()
                .is_some_and(|k| same_secret(k.as_bytes(), presented.as_bytes()))
        };
        if matches(&self.read_write) {
            Ok(())
        } else if matches(&self.read_only) {
            if read {
                Ok(())
            } else {
                Err(Denied::ReadOnly)
            }
        } else {
            Err(Denied::Unauthenticated)
        }
    }
}

/// The key in `api-key`, else the token of `Authorization: Bearer`.
fn presented_key(headers: &HeaderMap) -> Option<&str> {
    if let Some(key) = headers.get("api-key").and_then(|v| v.to_str().ok()) {
        return Some(key);
    }
    let authorization = headers.get("authorization")?.to_str().ok()?;
    let (scheme, token) = authorization.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

/// REST calls that stay open whatever the keys: the health probes and `/`.
pub fn is_open_rest_path(path: &str) -> bool {
    matches!(path, "/" | "/livez" | "/readyz" | "/healthz")
}

/// Whether a REST call only reads: every GET, and the POSTs that search,
/// retrieve, count or scroll.
pub fn is_rest_read(method: &axum::http::Method, path: &str) -> bool {
    if method == axum::http::Method::GET || method == axum::http::Method::HEAD {
        return true;
    }
    if method != axum::http::Method::POST {
        return false;
    }
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let ["collections", _, rest @ ..] = segments.as_slice() else {
        return false;
    };
    matches!(
        rest.join("/").as_str(),
        "points"
            | "points/scroll"
            | "points/count"
            | "points/search"
            | "points/search/batch"
            | "points/search/groups"
            | "points/search/matrix/pairs"
            | "points/search/matrix/offsets"
            | "points/query"
            | "points/query/batch"
            | "points/query/groups"
            | "points/recommend"
            | "points/recommend/batch"
            | "points/recommend/groups"
            | "points/discover"
            | "points/discover/batch"
            | "facet"
    )
}

/// Whether a gRPC method only reads (`/qdrant.Points/Search`); the gRPC
/// health service stays open whatever the keys.
pub fn grpc_access(path: &str) -> GrpcAccess {
    let path = path.trim_start_matches('/');
    let Some((service, method)) = path.split_once('/') else {
        return GrpcAccess::Write;
    };
    match (service, method) {
        ("grpc.health.v1.Health", _) => GrpcAccess::Open,
        ("qdrant.Qdrant", "HealthCheck")
        | (
            "qdrant.Points",
            "Get"
            | "Scroll"
            | "Count"
            | "Search"
            | "SearchBatch"
            | "SearchGroups"
            | "SearchMatrixPairs"
            | "SearchMatrixOffsets"
            | "Query"
            | "QueryBatch"
            | "QueryGroups"
            | "Recommend"
            | "RecommendBatch"
            | "RecommendGroups"
            | "Discover"
            | "DiscoverBatch"
            | "Facet",
        )
        | (
            "qdrant.Collections",
            "Get"
            | "List"
            | "CollectionExists"
            | "ListAliases"
            | "ListCollectionAliases"
            | "CollectionClusterInfo"
            | "ListShardKeys",
        )
        | ("qdrant.Snapshots", "List" | "ListFull") => GrpcAccess::Read,
        _ => GrpcAccess::Write,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrpcAccess {
    Open,
    Read,
    Write,
}

impl ApiKeys {
    /// The gRPC check: refuses a call whose key does not allow it with
    /// UNAUTHENTICATED or PERMISSION_DENIED; the health service stays open.
    pub fn check_grpc(&self, headers: &HeaderMap, path: &str) -> Result<(), tonic::Status> {
        let verdict = match grpc_access(path) {
            GrpcAccess::Open => Ok(()),
            access => self.check(headers, access == GrpcAccess::Read),
        };
        verdict.map_err(|denied| match denied {
            Denied::Unauthenticated => tonic::Status::unauthenticated(denied.message()),
            Denied::ReadOnly => tonic::Status::permission_denied(denied.message()),
        })
    }
}

#[cfg(test)]
mod tests {
    use axum::http::{HeaderValue, Method};

    use super::*;

    fn headers(name: &'static str, value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(name, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn keys_grant_what_they_should() {
        let keys = ApiKeys::new(Some("rw".into()), Some("ro".into()));
        assert_eq!(keys.check(&headers("api-key", "rw"), false), Ok(()));
        assert_eq!(
            keys.check(&headers("authorization", "Bearer rw"), false),
            Ok(())
        );
        assert_eq!(keys.check(&headers("api-key", "ro"), true), Ok(()));
        assert_eq!(
            keys.check(&headers("api-key", "ro"), false),
            Err(Denied::ReadOnly)
        );
        assert_eq!(
            keys.check(&headers("api-key", "r"), true),
            Err(Denied::Unauthenticated)
        );
        assert_eq!(
            keys.check(&HeaderMap::new(), true),
            Err(Denied::Unauthenticated)
        );
        assert_eq!(
            ApiKeys::new(Some(String::new()), None).check(&HeaderMap::new(), false),
            Ok(())
        );
    }

    #[test]
    fn reads_are_told_from_writes() {
        assert!(is_rest_read(&Method::GET, "/collections/c"));
        assert!(is_rest_read(&Method::POST, "/collections/c/points/query"));
        assert!(is_rest_read(&Method::POST, "/collections/c/points"));
        assert!(!is_rest_read(&Method::PUT, "/collections/c/points"));
        assert!(!is_rest_read(&Method::POST, "/collections/c/points/delete"));
        assert!(!is_rest_read(&Method::POST, "/collections/aliases"));
        assert_eq!(grpc_access("/qdrant.Points/Search"), GrpcAccess::Read);
        assert_eq!(grpc_access("/qdrant.Points/Upsert"), GrpcAccess::Write);
        assert_eq!(grpc_access("/qdrant.Collections/Delete"), GrpcAccess::Write);
        assert_eq!(
            grpc_access("/grpc.health.v1.Health/Check"),
            GrpcAccess::Open
        );
    }
}
