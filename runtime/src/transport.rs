//! Serving gRPC on a listener the caller bound, and guarding what it serves.

use std::task::{Context, Poll};

use futures::future::{Either, Ready};
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tokio_stream::{Stream, StreamExt};

/// Accepted connections with TCP_NODELAY set. tonic's `serve_with_incoming`
/// ignores the builder's `tcp_nodelay`, and Nagle's algorithm would hold small
/// replies back for tens of milliseconds.
pub fn incoming_nodelay(
    listener: TcpListener,
) -> impl Stream<Item = std::io::Result<tokio::net::TcpStream>> {
    TcpListenerStream::new(listener).map(|stream| {
        if let Ok(stream) = &stream {
            if let Err(e) = stream.set_nodelay(true) {
                tracing::debug!("cannot set TCP_NODELAY: {e}");
            }
        }
        stream
    })
}

/// `/qdrant.Points/Search` -> `Points/Search`.
pub fn grpc_operation(path: &str) -> String {
    let path = path.trim_start_matches('/');
    match path.split_once('/') {
        Some((service, method)) => {
            let service = service.rsplit('.').next().unwrap_or(service);
            format!("{service}/{method}")
        }
        None => path.to_owned(),
    }
}

/// What a [`GuardLayer`] asks of each call: its headers (metadata) and path
/// (`/package.Service/Method`) in, the refusal out.
pub trait Check: Clone {
    fn check(&self, headers: &http::HeaderMap, path: &str) -> Result<(), tonic::Status>;
}

impl<F> Check for F
where
    F: Fn(&http::HeaderMap, &str) -> Result<(), tonic::Status> + Clone,
{
    fn check(&self, headers: &http::HeaderMap, path: &str) -> Result<(), tonic::Status> {
        self(headers, path)
    }
}

/// A tower layer for tonic servers that answers a call its check refuses with
/// the check's status, without reaching the service.
#[derive(Clone)]
pub struct GuardLayer<C>(pub C);

impl<S, C: Check> tower::Layer<S> for GuardLayer<C> {
    type Service = Guard<S, C>;

    fn layer(&self, inner: S) -> Guard<S, C> {
        Guard {
            inner,
            check: self.0.clone(),
        }
    }
}

#[derive(Clone)]
pub struct Guard<S, C> {
    inner: S,
    check: C,
}

impl<S, C, B, R> tower::Service<http::Request<B>> for Guard<S, C>
where
    S: tower::Service<http::Request<B>, Response = http::Response<R>>,
    C: Check,
    R: Default,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Either<S::Future, Ready<Result<S::Response, S::Error>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        match self.check.check(request.headers(), request.uri().path()) {
            Ok(()) => Either::Left(self.inner.call(request)),
            Err(refused) => Either::Right(futures::future::ready(Ok(refused.into_http()))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_operations_name_the_service_and_method() {
        assert_eq!(grpc_operation("/qdrant.Points/Search"), "Points/Search");
        assert_eq!(
            grpc_operation("/tessera.data_plane.DataPlane/Update"),
            "DataPlane/Update"
        );
        assert_eq!(grpc_operation("/bare"), "bare");
    }
}
