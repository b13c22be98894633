//! TLS between services (`cluster.p2p.enable_tls`): internal servers present
//! this node's certificate, and internal clients verify `https://` peers
//! against the cluster's CA. Installed once per process at start-up, like the
//! internal token; nothing installed means plain HTTP/2 inside the cluster.

use std::sync::OnceLock;
use std::time::Duration;

use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity, Server, ServerTlsConfig};

/// This process's TLS material for talking to other services.
pub struct InternalTls {
    /// The certificate and key internal servers present (PEM); none serves
    /// plain HTTP/2.
    pub identity: Option<Identity>,
    /// The CA that signed the other services' certificates (PEM).
    pub ca: Option<Certificate>,
}

static INTERNAL: OnceLock<InternalTls> = OnceLock::new();

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("invalid uri {uri}: {reason}")]
    InvalidUri { uri: String, reason: String },
    #[error("{uri} is https: set tls.ca_cert to the CA that signed it")]
    NoCa { uri: String },
    #[error("TLS settings: {0}")]
    Config(#[from] tonic::transport::Error),
    #[error("internal TLS is already installed")]
    AlreadyInstalled,
}

pub fn install(tls: InternalTls) -> Result<(), TlsError> {
    INTERNAL.set(tls).map_err(|_| TlsError::AlreadyInstalled)
}

/// How often a connection to another service is pinged, busy or idle.
const KEEPALIVE_INTERVAL: Duration = Duration::from_millis(500);
/// How long a ping may go unanswered before the connection is given up, and
/// every call on it fails at once. A paused or cut-off process still holds its
/// TCP connections open; without this, calls to it would hang for their whole
/// deadline (or forever: a watch stream has none).
const KEEPALIVE_TIMEOUT: Duration = Duration::from_millis(1500);

/// An endpoint for a call to another service at `uri`; an `https://` uri is
/// reached over TLS, its certificate verified against the installed CA.
pub fn endpoint(uri: &str) -> Result<Endpoint, TlsError> {
    let endpoint = Endpoint::from_shared(uri.to_string())
        .map_err(|e| TlsError::InvalidUri {
            uri: uri.to_string(),
            reason: e.to_string(),
        })?
        .http2_keep_alive_interval(KEEPALIVE_INTERVAL)
        .keep_alive_timeout(KEEPALIVE_TIMEOUT)
        .keep_alive_while_idle(true);
    if !uri.starts_with("https://") {
        return Ok(endpoint);
    }
    let ca = INTERNAL
        .get()
        .and_then(|tls| tls.ca.clone())
        .ok_or_else(|| TlsError::NoCa {
            uri: uri.to_string(),
        })?;
    Ok(endpoint.tls_config(ClientTlsConfig::new().ca_certificate(ca))?)
}

/// A builder for an internal gRPC server: over TLS when this node has a
/// certificate. It pings its clients as they ping it: a connection whose
/// client vanished behind a partition (its reset never arrived) is closed
/// within seconds, instead of holding a watch stream, and a graceful stop,
/// open for hours.
pub fn internal_server() -> Result<Server, TlsError> {
    let server = Server::builder()
        .http2_keepalive_interval(Some(KEEPALIVE_INTERVAL))
        .http2_keepalive_timeout(Some(KEEPALIVE_TIMEOUT));
    match INTERNAL.get().and_then(|tls| tls.identity.clone()) {
        Some(identity) => Ok(server.tls_config(ServerTlsConfig::new().identity(identity))?),
        None => Ok(server),
    }
}
