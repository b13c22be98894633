use thiserror::Error;

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
    #[error("Service internal error: {0}")]
    Internal(String),
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
    pub fn internal(msg: impl ToString) -> Self {
        Self::Internal(msg.to_string())
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
