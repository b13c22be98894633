//! Qdrant's `X-Qdrant-Route-Affinity` (1.19): reads carrying the same token go
//! to the same replica of each shard, so a client's results do not flip
//! between replicas that applied updates at different times. Taken from the
//! REST header or the gRPC metadata at the edge, for the request's task.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::http::{HeaderMap, Request};
use tessera_types::PeerId;

pub const HEADER: &str = "x-qdrant-route-affinity";

tokio::task_local! {
    static TOKEN: u64;
}

/// FNV-1a, 64-bit, as Qdrant hashes the header (any stable hash would do).
fn fnv1a(bytes: impl IntoIterator<Item = u8>) -> u64 {
    bytes.into_iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The token of a request; an empty or absent header is default routing.
fn token(headers: &HeaderMap) -> Option<u64> {
    let value = headers.get(HEADER)?.as_bytes();
    (!value.is_empty()).then(|| fnv1a(value.iter().copied()))
}

/// Runs `f` with the request's token, if it has one.
pub async fn scoped<F: Future>(headers: &HeaderMap, f: F) -> F::Output {
    match token(headers) {
        Some(token) => TOKEN.scope(token, f).await,
        None => f.await,
    }
}

/// Orders `replicas` by the current request's token, if it has one: the same
/// token ranks the same peers the same way. Says whether it did.
pub fn order(replicas: &mut [PeerId]) -> bool {
    let Ok(token) = TOKEN.try_with(|t| *t) else {
        return false;
    };
    replicas.sort_by_key(|&peer| {
        let key = token.to_le_bytes().into_iter().chain(peer.to_le_bytes());
        (fnv1a(key), peer)
    });
    true
}

/// The gRPC side: scopes each call by its metadata.
#[derive(Clone)]
pub struct AffinityLayer;

impl<S> tower::Layer<S> for AffinityLayer {
    type Service = Affinity<S>;

    fn layer(&self, inner: S) -> Affinity<S> {
        Affinity(inner)
    }
}

#[derive(Clone)]
pub struct Affinity<S>(S);

impl<S, B> tower::Service<Request<B>> for Affinity<S>
where
    S: tower::Service<Request<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        // The clone that was made ready serves this call (tower's usual dance).
        let clone = self.0.clone();
        let mut inner = std::mem::replace(&mut self.0, clone);
        let headers = request.headers().clone();
        Box::pin(async move { scoped(&headers, inner.call(request)).await })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_is_the_standard_one() {
        assert_eq!(fnv1a([]), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(*b"a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[tokio::test]
    async fn a_token_orders_replicas_the_same_way_every_time() {
        let mut headers = HeaderMap::new();
        assert!(!order(&mut [1, 2, 3]));
        headers.insert(HEADER, "".parse().unwrap());
        assert!(!scoped(&headers, async { order(&mut [1, 2, 3]) }).await);
        headers.insert(HEADER, "user-42".parse().unwrap());
        let ranked = |mut peers: Vec<PeerId>| {
            let headers = headers.clone();
            async move {
                scoped(&headers, async { order(&mut peers) }).await;
                peers
            }
        };
        let first = ranked(vec![1, 2, 3]).await;
        assert_eq!(ranked(vec![3, 1, 2]).await, first);
        assert_eq!(ranked(vec![2, 3, 1]).await, first);
    }
}
