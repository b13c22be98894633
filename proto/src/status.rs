//! What a failed call's `tonic::Status` says about the peer: whether it was
//! reached at all. Callers retry elsewhere or report the peer unreachable.

/// Whether the call failed because nothing listens at the address: the
/// process is down (a paused or cut-off one would not answer at all).
pub fn is_connection_refused(status: &tonic::Status) -> bool {
    let mut source = std::error::Error::source(status);
    while let Some(e) = source {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::ConnectionRefused {
                return true;
            }
        }
        source = e.source();
    }
    false
}

/// Whether a call failed because the member could not serve it: it said
/// UNAVAILABLE, or the connection failed. tonic reports a connection that
/// broke (say, the member was killed) as UNKNOWN "transport error"; only such
/// locally made statuses carry a source error, never one a server sent.
pub fn is_unreachable(status: &tonic::Status) -> bool {
    match status.code() {
        tonic::Code::Unavailable => true,
        tonic::Code::Unknown => is_transport_failure(status),
        _ => false,
    }
}

/// Whether tonic made `status` locally from a transport error: the server
/// was not reached or the connection broke, as opposed to an error it sent.
pub fn is_transport_failure(status: &tonic::Status) -> bool {
    std::error::Error::source(status).is_some()
}
