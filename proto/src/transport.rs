//! Serving gRPC on a listener the caller bound.

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
