//! The cluster's internal token (`cluster.internal_token`): every internal gRPC
//! call carries it, and control-plane and data-plane nodes refuse calls
//! without it, so a client that finds an internal port cannot bypass the
//! gateways and their API keys. One token per process, installed at start-up;
//! none installed leaves the internal ports open (tests, trusted networks).

use std::sync::OnceLock;

use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use tonic::{Request, Status};

use crate::transport::Check;

const METADATA: &str = "x-tessera-internal-token";

static TOKEN: OnceLock<MetadataValue<Ascii>> = OnceLock::new();

/// Sets this process's token; an empty one leaves the ports open.
pub fn install(token: &str) -> Result<(), String> {
    if token.is_empty() {
        return Ok(());
    }
    let value: MetadataValue<Ascii> = token
        .parse()
        .map_err(|_| "cluster.internal_token must be printable ASCII".to_string())?;
    TOKEN
        .set(value)
        .map_err(|_| "the internal token is already installed".to_string())
}

/// A client channel whose every call carries the token, and the caller's
/// trace context (see `trace_context`): every internal client is one of these.
pub type InternalChannel =
    InterceptedService<Channel, fn(Request<()>) -> Result<Request<()>, Status>>;

pub fn internal(channel: Channel) -> InternalChannel {
    InterceptedService::new(channel, internal_metadata)
}

fn internal_metadata(mut request: Request<()>) -> Result<Request<()>, Status> {
    if let Some(token) = TOKEN.get() {
        request.metadata_mut().insert(METADATA, token.clone());
    }
    crate::trace_context::inject(request.metadata_mut());
    Ok(request)
}

/// The check of internal gRPC servers (install `GuardLayer(RequireToken)`):
/// refuses, with UNAUTHENTICATED, a call that does not carry this process's
/// token.
#[derive(Clone, Copy)]
pub struct RequireToken;

impl Check for RequireToken {
    fn check(&self, headers: &http::HeaderMap, _path: &str) -> Result<(), Status> {
        let allowed = TOKEN.get().is_none_or(|token| {
            headers
                .get(METADATA)
                .is_some_and(|presented| same_secret(token.as_bytes(), presented.as_bytes()))
        });
        if allowed {
            Ok(())
        } else {
            Err(Status::unauthenticated(
                "this internal port needs the cluster's internal token",
            ))
        }
    }
}

/// Whether a presented secret (token, key) equals the expected one, compared
/// without stopping at the first difference, so the time a refusal takes does
/// not tell how much of a guess was right.
pub fn same_secret(expected: &[u8], presented: &[u8]) -> bool {
    expected.len() == presented.len()
        && expected
            .iter()
            .zip(presented)
            .fold(0u8, |diff, (x, y)| diff | (x ^ y))
            == 0
}
