use std::sync::Arc;

use thiserror::Error;

/// The error behind an internal one, shared so the error stays `Clone`.
/// Errors compare by their variant and message; sources are not compared.
#[derive(Debug, Clone)]
pub struct ErrorSource(Arc<dyn std::error::Error + Send + Sync>);

impl PartialEq for ErrorSource {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl std::fmt::Display for ErrorSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for ErrorSource {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

/// Errors a user can cause or observe. Each service maps them once, at its edge,
/// to an HTTP status and a gRPC code.
#[derive(Debug, Clone, Error, PartialEq)]
pub enum TesseraError {
    #[error("Wrong input: {0}")]
    BadInput(String),
    /// A request Qdrant refuses as a bad request rather than wrong input
    /// (400 too; the text differs, and clients match on it).
    #[error("Bad request: {0}")]
    BadRequest(String),
    /// A body that is not JSON, or not of the request's shape (400, with
    /// Qdrant's text and no other prefix).
    #[error("Format error in JSON body: {0}")]
    MalformedBody(String),
    /// A body that parses but breaks a rule on its values (422, as Qdrant).
    #[error("Validation error in JSON body: {0}")]
    Validation(String),
    /// A query parameter that parses but breaks a rule (422).
    #[error("Validation error in query parameters: {0}")]
    QueryValidation(String),
    /// A path parameter, such as a collection name, that breaks a rule (422).
    #[error("Validation error in path parameters: {0}")]
    PathValidation(String),
    #[error("Not found: {0}")]
    NotFound(String),
    #[error("Wrong input: {0}")]
    AlreadyExists(String),
    #[error("Service unavailable: {0}")]
    Unavailable(String),
    /// The other service was not reached, or went away mid-call (killed,
    /// paused past the keepalive, cut off): another replica may answer, and a
    /// write it was sent may or may not have been applied (503).
    #[error("Service unavailable: {0}")]
    Unreachable(String),
    #[error("Operation timed out: {0}")]
    Timeout(String),
    /// Strict mode's read or write rate limit (429, as Qdrant), with the whole
    /// seconds until a retry can pass; none when it never can.
    #[error("Rate limiting exceeded: {description}")]
    RateLimited {
        description: String,
        retry_after: Option<u64>,
    },
    /// Qdrant's refusals of inference inputs, whose texts carry no prefix (400).
    #[error("{0}")]
    Inference(String),
    /// A write refused because this data node's memory or disk is at the
    /// quota's limit (507, and RESOURCE_EXHAUSTED over gRPC, as Qdrant).
    #[error("Insufficient storage: {0}")]
    InsufficientStorage(String),
    #[error("Not implemented: {0}")]
    Unimplemented(String),
    /// A fault of the service, not of the request (500), with the error that
    /// caused it when there is one.
    #[error("Service internal error: {message}")]
    Internal {
        message: String,
        #[source]
        source: Option<ErrorSource>,
    },
    /// The sender acted on an out-of-date view of a shard (a deposed primary,
    /// an old epoch): it should refresh its topology and retry.
    #[error("Service unavailable: {0}")]
    Stale(String),
}

impl TesseraError {
    pub fn bad_input(msg: impl Into<String>) -> Self {
        Self::BadInput(msg.into())
    }
    pub fn bad_request(msg: impl Into<String>) -> Self {
        Self::BadRequest(msg.into())
    }
    pub fn malformed_body(msg: impl Into<String>) -> Self {
        Self::MalformedBody(msg.into())
    }
    pub fn validation(msg: impl Into<String>) -> Self {
        Self::Validation(msg.into())
    }
    pub fn not_found(msg: impl Into<String>) -> Self {
        Self::NotFound(msg.into())
    }
    /// An internal error described by `msg` (an error passed here is kept as
    /// text only; [`TesseraError::internal_from`] keeps it as the source).
    pub fn internal(msg: impl ToString) -> Self {
        Self::Internal {
            message: msg.to_string(),
            source: None,
        }
    }
    /// An internal error caused by `error`, which stays reachable through
    /// `std::error::Error::source`.
    pub fn internal_from(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Internal {
            message: error.to_string(),
            source: Some(ErrorSource(Arc::new(error))),
        }
    }
    /// A missing collection; a name no collection could have is refused as
    /// Qdrant refuses it, as a bad path.
    pub fn collection_not_found(name: &str) -> Self {
        if name.is_empty() || name.len() > 255 {
            return Self::PathValidation(
                "[name: length must be between 1 and 255 characters]".into(),
            );
        }
        Self::NotFound(format!("Collection `{name}` doesn't exist!"))
    }
}

pub type Result<T, E = TesseraError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_internal_error_keeps_its_cause() {
        let cause = std::io::Error::other("disk on fire");
        let error = TesseraError::internal_from(cause);
        assert_eq!(error.to_string(), "Service internal error: disk on fire");
        let source = std::error::Error::source(&error).expect("the cause is kept");
        assert_eq!(source.to_string(), "disk on fire");
        let copy = error.clone();
        assert_eq!(copy, error);
        assert!(std::error::Error::source(&TesseraError::internal("no cause")).is_none());
    }
}
