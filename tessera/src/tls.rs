//! TLS settings turned into what the services take: the client ports'
//! certificate (`service.enable_tls`) and the internal one
//! (`cluster.p2p.enable_tls`), read once at start-up.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use tessera_gateway::ClientTls;
use tessera_runtime::tls::InternalTls;
use tonic::transport::{Certificate, Identity};

use crate::config::Settings;

fn read(path: &Option<PathBuf>, key: &str, why: &str) -> anyhow::Result<Vec<u8>> {
    let Some(path) = path else {
        bail!("{why} needs {key}");
    };
    read_file(path, key)
}

fn read_file(path: &Path, key: &str) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("{key}: cannot read {}", path.display()))
}

/// The client ports' certificate, when `service.enable_tls` asks for one.
pub fn client_ports(settings: &Settings) -> anyhow::Result<Option<ClientTls>> {
    if !settings.service.enable_tls {
        return Ok(None);
    }
    let why = "service.enable_tls";
    Ok(Some(ClientTls {
        cert: read(&settings.tls.cert, "tls.cert", why)?,
        key: read(&settings.tls.key, "tls.key", why)?,
    }))
}

/// TLS between services for a process of `service` (`standalone` keeps its
/// in-process hops plain): the certificate its internal port presents, and
/// the CA it verifies `https://` peers with.
pub fn internal(settings: &Settings, service: Option<&str>) -> anyhow::Result<InternalTls> {
    let serves_internal = matches!(service, Some("control-plane" | "data-plane"));
    let identity = if settings.cluster.p2p.enable_tls && serves_internal {
        let why = "cluster.p2p.enable_tls";
        match &settings.cluster.uri {
            Some(uri) if uri.starts_with("https://") => {}
            Some(uri) => bail!("{why}: this node's uri {uri} must be https://, as it serves TLS"),
            None => bail!(
                "{why}: give this node its https:// uri (--uri), as the name its certificate holds"
            ),
        }
        Some(Identity::from_pem(
            read(&settings.tls.cert, "tls.cert", why)?,
            read(&settings.tls.key, "tls.key", why)?,
        ))
    } else {
        None
    };
    let ca = match &settings.tls.ca_cert {
        Some(path) => Some(Certificate::from_pem(read_file(path, "tls.ca_cert")?)),
        None => None,
    };
    let peers = settings.cluster.control_plane.iter();
    if let Some(uri) = peers
        .chain(&settings.cluster.bootstrap)
        .find(|uri| uri.starts_with("https://"))
    {
        if ca.is_none() {
            bail!("{uri} is https: set tls.ca_cert to the CA that signed its certificate");
        }
    }
    Ok(InternalTls { identity, ca })
}
