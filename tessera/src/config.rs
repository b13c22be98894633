//! Settings: defaults, then the YAML file, then `TESSERA__SECTION__KEY`
//! environment variables, then command-line flags.

use std::path::PathBuf;

use anyhow::Context;
use figment::providers::{Env, Format, Serialized, Yaml};
use figment::Figment;
use serde::{Deserialize, Serialize};

use crate::cli::{ClientPorts, Command, NodeTypeArg};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Settings {
    pub storage: StorageSettings,
    pub service: ServiceSettings,
    pub cluster: ClusterSettings,
    pub log: LogSettings,
    pub telemetry: TelemetrySettings,
    pub tls: TlsSettings,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StorageSettings {
    pub data_dir: PathBuf,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServiceSettings {
    /// Address the client-facing APIs bind to.
    pub host: String,
    pub http_port: u16,
    pub grpc_port: u16,
    /// Control-plane and data-plane nodes serve `/metrics`, `/livez`,
    /// `/readyz` and `/healthz` on this port when it is set; gateways serve
    /// them on `http_port`.
    #[serde(default)]
    pub metrics_port: Option<u16>,
    /// Clients must present this key (`api-key` header or metadata, or
    /// `Authorization: Bearer`) for anything but the health probes.
    #[serde(default)]
    pub api_key: Option<String>,
    /// A key that allows reads only.
    #[serde(default)]
    pub read_only_api_key: Option<String>,
    /// Serve the client ports (REST and gRPC) over TLS with `tls.cert`.
    #[serde(default)]
    pub enable_tls: bool,
}

impl ServiceSettings {
    pub fn api_keys(&self) -> tessera_gateway::ApiKeys {
        tessera_gateway::ApiKeys::new(self.api_key.clone(), self.read_only_api_key.clone())
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClusterSettings {
    /// This node's URI (control-plane and data-plane nodes).
    pub uri: Option<String>,
    pub bootstrap: Option<String>,
    /// Control-plane members (data-plane nodes and gateways).
    pub control_plane: Vec<String>,
    pub node_type: tessera_types::NodeType,
    /// A data node's failure zone (`--zone`); none by default.
    #[serde(default)]
    pub zone: Option<String>,
    pub p2p: P2pSettings,
    pub consensus: tessera_control_plane::ConsensusOptions,
    pub replication: ReplicationSettings,
    /// Every internal gRPC call carries this token and internal ports refuse
    /// calls without it; the same on every node. Empty: internal ports open.
    #[serde(default)]
    pub internal_token: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReplicationSettings {
    /// The control-plane leader marks a data node's replicas Dead (failing
    /// primaries over) after this long without a heartbeat.
    pub dead_after_ms: u64,
    /// ... and takes it as gone for good after this long: its replicas are
    /// made again on live nodes (recovered from their primaries), and it
    /// holds none if it comes back.
    pub dead_peer_timeout_sec: u64,
    /// Operations a primary keeps in its WAL past its checkpoint, so a
    /// replica that missed fewer catches up from the WAL, not a snapshot.
    pub wal_retention_ops: u64,
    /// ... and at most this many megabytes of them (counted by WAL files).
    pub wal_retention_mb: u64,
    /// The transfer method when a transfer names none, and for recovery.
    pub transfer_method: tessera_types::TransferMethod,
    /// Recovery steps a data node runs at once as a transfer target, and
    /// snapshots it streams at once as a primary; more wait their turn.
    pub incoming_transfers: usize,
    pub outgoing_transfers: usize,
}

impl ReplicationSettings {
    pub fn wal_retention(&self) -> tessera_data_plane::WalRetention {
        tessera_data_plane::WalRetention {
            ops: self.wal_retention_ops,
            bytes: self.wal_retention_mb.saturating_mul(1024 * 1024),
        }
    }

    /// A data node's read lease: seven eighths of `dead_after`, so it runs
    /// out before the control plane can call the node dead (which it does
    /// `dead_after` after the last heartbeat arrived, not after it was sent).
    pub fn read_lease(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.dead_after_ms * 7 / 8)
    }

    pub fn reconciler(&self) -> tessera_control_plane::ReconcilerOptions {
        tessera_control_plane::ReconcilerOptions {
            dead_after: std::time::Duration::from_millis(self.dead_after_ms),
            lost_after: std::time::Duration::from_secs(self.dead_peer_timeout_sec),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct P2pSettings {
    /// Serve the internal ports over TLS with `tls.cert`; other services are
    /// then reached at `https://` URIs, verified against `tls.ca_cert`.
    #[serde(default)]
    pub enable_tls: bool,
    /// Port a control-plane node listens on when it has no `uri` (it joins
    /// with `bootstrap`, and the group records the address it joined from).
    pub port: u16,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LogSettings {
    /// A tracing filter such as `info` or `tessera_gateway=debug,info`; RUST_LOG wins.
    pub level: String,
    /// `text` for people, `json` (one object per line) for log collectors.
    #[serde(default)]
    pub format: LogFormat,
}

/// Certificate files (PEM) for `service.enable_tls` and
/// `cluster.p2p.enable_tls`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TlsSettings {
    /// This node's certificate chain.
    #[serde(default)]
    pub cert: Option<PathBuf>,
    /// Its private key.
    #[serde(default)]
    pub key: Option<PathBuf>,
    /// The CA that signed the other services' certificates.
    #[serde(default)]
    pub ca_cert: Option<PathBuf>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TelemetrySettings {
    /// An OpenTelemetry collector's OTLP/gRPC address, such as
    /// `http://otel-collector:4317`; empty exports no traces.
    pub otlp_endpoint: String,
    /// The share of client requests traced, 0.0 to 1.0.
    pub sample_ratio: f64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            storage: StorageSettings {
                data_dir: PathBuf::from("./storage"),
            },
            service: ServiceSettings {
                host: "0.0.0.0".into(),
                http_port: 6333,
                grpc_port: 6334,
                metrics_port: None,
                api_key: None,
                read_only_api_key: None,
                enable_tls: false,
            },
            cluster: ClusterSettings {
                uri: None,
                bootstrap: None,
                control_plane: Vec::new(),
                node_type: tessera_types::NodeType::Normal,
                zone: None,
                p2p: P2pSettings {
                    enable_tls: false,
                    port: 6335,
                },
                consensus: tessera_control_plane::ConsensusOptions::default(),
                internal_token: String::new(),
                replication: ReplicationSettings {
                    dead_after_ms: 2_000,
                    dead_peer_timeout_sec: 300,
                    wal_retention_ops: 50_000,
                    wal_retention_mb: 64,
                    transfer_method: tessera_types::TransferMethod::WalDelta,
                    incoming_transfers: 1,
                    outgoing_transfers: 1,
                },
            },
            log: LogSettings {
                level: "info".into(),
                format: LogFormat::Text,
            },
            telemetry: TelemetrySettings {
                otlp_endpoint: String::new(),
                sample_ratio: 1.0,
            },
            tls: TlsSettings::default(),
        }
    }
}

impl Settings {
    pub fn load(command: &Command) -> anyhow::Result<Settings> {
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        if let Some(file) = &command.common().config {
            anyhow::ensure!(
                file.exists(),
                "config file {} does not exist",
                file.display()
            );
            figment = figment.merge(Yaml::file(file));
        }
        figment = figment.merge(Env::prefixed("TESSERA__").split("__"));
        let mut settings: Settings = figment.extract().context("invalid settings")?;
        settings.apply_flags(command);
        let replication = &settings.cluster.replication;
        // A node is lost only after it is down: otherwise a peer still alive
        // (or every peer, at 0) would have its replicas made again elsewhere.
        anyhow::ensure!(
            replication.dead_peer_timeout_sec.saturating_mul(1000) > replication.dead_after_ms,
            "cluster.replication.dead_peer_timeout_sec ({} s) must be longer than \
             dead_after_ms ({} ms)",
            replication.dead_peer_timeout_sec,
            replication.dead_after_ms
        );
        Ok(settings)
    }

    fn apply_flags(&mut self, command: &Command) {
        if let Some(dir) = &command.common().data_dir {
            self.storage.data_dir = dir.clone();
        }
        if let Some(format) = command.common().log_format {
            self.log.format = format;
        }
        let mut ports = |p: &ClientPorts| {
            if let Some(port) = p.http_port {
                self.service.http_port = port;
            }
            if let Some(port) = p.grpc_port {
                self.service.grpc_port = port;
            }
        };
        match command {
            Command::Standalone { ports: p, .. } | Command::Playground { ports: p, .. } => ports(p),
            Command::Gateway {
                ports: p,
                control_plane,
                metrics_port,
                ..
            } => {
                ports(p);
                if metrics_port.is_some() {
                    self.service.metrics_port = *metrics_port;
                }
                if !control_plane.is_empty() {
                    self.cluster.control_plane = control_plane.clone();
                }
            }
            Command::ControlPlane {
                uri,
                bootstrap,
                p2p_port,
                metrics_port,
                ..
            } => {
                if metrics_port.is_some() {
                    self.service.metrics_port = *metrics_port;
                }
                if uri.is_some() {
                    self.cluster.uri = uri.clone();
                }
                if bootstrap.is_some() {
                    self.cluster.bootstrap = bootstrap.clone();
                }
                if let Some(port) = p2p_port {
                    self.cluster.p2p.port = *port;
                }
            }
            Command::Probe { .. } => {}
            Command::DataPlane {
                uri,
                control_plane,
                node_type,
                zone,
                metrics_port,
                ..
            } => {
                if zone.is_some() {
                    self.cluster.zone = zone.clone();
                }
                if metrics_port.is_some() {
                    self.service.metrics_port = *metrics_port;
                }
                if uri.is_some() {
                    self.cluster.uri = uri.clone();
                }
                if !control_plane.is_empty() {
                    self.cluster.control_plane = control_plane.clone();
                }
                if let Some(t) = node_type {
                    self.cluster.node_type = match t {
                        NodeTypeArg::Normal => tessera_types::NodeType::Normal,
                        NodeTypeArg::Listener => tessera_types::NodeType::Listener,
                    };
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::{Path, PathBuf};

    use figment::value::{Dict, Value};
    use figment::Provider;

    use super::*;

    fn deploy() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy")
    }

    /// Every `section.key` path of a settings tree.
    fn key_paths(dict: &Dict, prefix: &str, into: &mut BTreeSet<String>) {
        for (key, value) in dict {
            let path = format!("{prefix}{key}");
            if let Value::Dict(_, inner) = value {
                key_paths(inner, &format!("{path}."), into);
            }
            into.insert(path);
        }
    }

    fn known_keys() -> BTreeSet<String> {
        let defaults = Figment::from(Serialized::defaults(Settings::default()))
            .data()
            .expect("defaults serialize");
        let mut keys = BTreeSet::new();
        for dict in defaults.values() {
            key_paths(dict, "", &mut keys);
        }
        keys
    }

    fn yaml_keys(text: &str) -> BTreeSet<String> {
        let data = Figment::from(Yaml::string(text))
            .data()
            .expect("valid YAML");
        let mut keys = BTreeSet::new();
        for dict in data.values() {
            key_paths(dict, "", &mut keys);
        }
        keys
    }

    /// The settings a deploy file names as `TESSERA__SECTION__KEY`.
    fn env_keys(text: &str) -> BTreeSet<String> {
        text.split("TESSERA__")
            .skip(1)
            .map(|rest| {
                rest.chars()
                    .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
                    .collect::<String>()
                    .to_lowercase()
                    .replace("__", ".")
            })
            .filter(|key| !key.is_empty())
            .collect()
    }

    /// The example settings file, the Kubernetes ConfigMap and the compose
    /// files use only keys the settings have, and they load.
    #[test]
    fn deploy_files_use_the_settings_keys() {
        let known = known_keys();
        let example = std::fs::read_to_string(deploy().join("config.example.yaml")).unwrap();
        let config_map = std::fs::read_to_string(deploy().join("kubernetes/config.yaml")).unwrap();
        let embedded = config_map
            .split_once("config.yaml: |\n")
            .expect("the ConfigMap embeds config.yaml")
            .1
            .lines()
            .map(|line| line.strip_prefix("    ").unwrap_or(line))
            .collect::<Vec<_>>()
            .join("\n");
        for (name, text) in [
            ("config.example.yaml", &example),
            ("kubernetes/config.yaml", &embedded),
        ] {
            let unknown: Vec<_> = yaml_keys(text).difference(&known).cloned().collect();
            assert!(
                unknown.is_empty(),
                "{name} names unknown settings {unknown:?}"
            );
            Figment::from(Serialized::defaults(Settings::default()))
                .merge(Yaml::string(text))
                .extract::<Settings>()
                .unwrap_or_else(|e| panic!("{name} does not load: {e}"));
        }
        for file in [
            "docker-compose.yaml",
            "docker-compose.add-data-node.yaml",
            "kubernetes/control-plane.yaml",
            "kubernetes/data-plane.yaml",
            "kubernetes/gateway.yaml",
        ] {
            let text = std::fs::read_to_string(deploy().join(file)).unwrap();
            let unknown: Vec<_> = env_keys(&text).difference(&known).cloned().collect();
            assert!(
                unknown.is_empty(),
                "{file} names unknown settings {unknown:?}"
            );
        }
    }
}
