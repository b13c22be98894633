//! The cluster's internal token (`cluster.internal_token`): every internal gRPC
//! call carries it, and control-plane and data-plane nodes refuse calls
//! without it, so a client that finds an internal port cannot bypass the
//! gateways and their API keys. One token per process, installed at start-up;
//! none installed leaves the internal ports open (tests, trusted networks).

use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll};

use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use tonic::{Request, Status};

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

/// A client channel whose every call carries the token.
pub type InternalChannel =
    InterceptedService<Channel, fn(Request<()>) -> Result<Request<()>, Status>>;

pub fn internal(channel: Channel) -> InternalChannel {
    InterceptedService::new(channel, attach_token)
}

fn attach_token(mut request: Request<()>) -> Result<Request<()>, Status> {
    if let Some(token) = TOKEN.get() {
        request.metadata_mut().insert(METADATA, token.clone());
    }
    Ok(request)
}

/// A tower layer for internal gRPC servers: refuses, with UNAUTHENTICATED, a
/// call that does not carry this process's token.
#[derive(Clone, Copy, Default)]
pub struct RequireTokenLayer;

impl<S> tower::Layer<S> for RequireTokenLayer {
    type Service = RequireToken<S>;

    fn layer(&self, inner: S) -> RequireToken<S> {
        RequireToken { inner }
    }
}

#[derive(Clone)]
pub struct RequireToken<S> {
    inner: S,
}

impl<S, B, R> tower::Service<http::Request<B>> for RequireToken<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
    R: Default + Send + 'static,
    S::Error: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let allowed = TOKEN.get().is_none_or(|token| {
            request
                .headers()
                .get(METADATA)
                .is_some_and(|presented| same(token.as_bytes(), presented.as_bytes()))
        });
        if allowed {
            Box::pin(self.inner.call(request))
        } else {
            let refused =
                Status::unauthenticated("this internal port needs the cluster's internal token");
            Box::pin(std::future::ready(Ok(refused.into_http())))
        }
    }
}

/// Compares without stopping at the first difference.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
}
