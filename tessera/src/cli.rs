//! Command-line flags. Each flag overrides the same setting from `--config`
//! and from `TESSERA__SECTION__KEY` environment variables.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Parser, Debug)]
#[command(
    name = "tessera",
    version,
    about = "Tessera: a distributed vector database that speaks Qdrant's REST and gRPC APIs",
    long_about = "Tessera: a distributed vector database that speaks Qdrant's REST and gRPC APIs.\n\n\
        Run `tessera standalone` for a single-process database on ports 6333 (REST) and 6334 (gRPC),\n\
        or run the three roles as separate services: control-plane, data-plane and gateway.\n\n\
        Settings come from defaults, then a YAML file (--config), then environment variables\n\
        TESSERA__SECTION__KEY (e.g. TESSERA__SERVICE__HTTP_PORT=7333), then flags."
)]
pub struct Cli {
    /// The role to run; without one, `standalone` with its defaults.
    #[command(subcommand)]
    command: Option<Command>,
}

impl Cli {
    pub fn command(&self) -> Command {
        self.command.clone().unwrap_or(Command::Standalone {
            common: CommonArgs::default(),
            ports: ClientPorts::default(),
        })
    }
}

#[derive(Subcommand, Debug, Clone)]
pub enum Command {
    /// All three roles in one process: data under ./storage, REST on 6333, gRPC on 6334.
    Standalone {
        #[command(flatten)]
        common: CommonArgs,
        #[command(flatten)]
        ports: ClientPorts,
    },
    /// A control-plane node: the Raft-replicated owner of topology and collections.
    ControlPlane {
        #[command(flatten)]
        common: CommonArgs,
        /// URI other nodes reach this node at, e.g. http://10.0.0.1:6335; it also listens on that port.
        /// Required for the first node; a joining node without it is recorded at the address it joins from.
        #[arg(long, value_name = "URI")]
        uri: Option<String>,
        /// URI of any existing control-plane member to join (absent for the first node).
        #[arg(long, value_name = "URI")]
        bootstrap: Option<String>,
        /// Port to listen on when --uri is not given (default 6335).
        #[arg(long, value_name = "PORT")]
        p2p_port: Option<u16>,
        /// Serve /metrics, /livez, /readyz and /healthz over HTTP on this port (off unless set).
        #[arg(long, value_name = "PORT")]
        metrics_port: Option<u16>,
    },
    /// A data-plane node: holds shard replicas and serves point operations.
    DataPlane {
        #[command(flatten)]
        common: CommonArgs,
        /// Control-plane members, comma-separated (any one is enough).
        #[arg(long, value_name = "URI[,URI...]", value_delimiter = ',')]
        control_plane: Vec<String>,
        /// URI gateways reach this node at, e.g. http://10.0.0.2:6335; it also listens on that port.
        #[arg(long, value_name = "URI")]
        uri: Option<String>,
        /// `listener` nodes receive writes but serve no searches.
        #[arg(long, value_enum)]
        node_type: Option<NodeTypeArg>,
        /// The failure zone this node is in (rack, availability zone): a shard's
        /// replicas go to distinct zones while there are enough.
        #[arg(long, value_name = "ZONE")]
        zone: Option<String>,
        /// Serve /metrics, /livez, /readyz and /healthz over HTTP on this port (off unless set).
        #[arg(long, value_name = "PORT")]
        metrics_port: Option<u16>,
    },
    /// A gateway: stateless Qdrant-compatible REST and gRPC endpoint for clients.
    Gateway {
        #[command(flatten)]
        common: CommonArgs,
        /// Control-plane members, comma-separated (any one is enough).
        #[arg(long, value_name = "URI[,URI...]", value_delimiter = ',')]
        control_plane: Vec<String>,
        #[command(flatten)]
        ports: ClientPorts,
        /// Also serve /metrics, /livez, /readyz and /healthz over plain HTTP on this port
        /// (they are always on the REST port; this one stays plain when REST uses TLS).
        #[arg(long, value_name = "PORT")]
        metrics_port: Option<u16>,
    },
    /// A local cluster of separate processes (1 control plane, 3 data nodes, 1 gateway) to try the distributed features.
    Playground {
        #[command(flatten)]
        common: CommonArgs,
        #[command(flatten)]
        ports: ClientPorts,
        /// Number of data-plane nodes.
        #[arg(long, default_value_t = 3)]
        data_nodes: usize,
    },
    /// Exits 0 when an HTTP endpoint answers 2xx, 1 otherwise: a container health check
    /// for images without curl, e.g. `tessera probe http://127.0.0.1:6333/readyz`.
    Probe {
        /// The endpoint to GET (plain HTTP).
        #[arg(value_name = "URL", default_value = "http://127.0.0.1:6333/readyz")]
        url: String,
    },
}

/// What a command without settings (`probe`) reads as its common flags.
static NO_COMMON_ARGS: CommonArgs = CommonArgs {
    data_dir: None,
    config: None,
    log_format: None,
};

#[derive(Args, Debug, Clone, Default)]
pub struct CommonArgs {
    /// Where this node keeps its data (standalone default: ./storage).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// A YAML settings file; see deploy/config.example.yaml.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Logs as text for people (default) or as one JSON object per line.
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub log_format: Option<crate::config::LogFormat>,
}

#[derive(Args, Debug, Clone, Default)]
pub struct ClientPorts {
    /// Port of the REST API (default 6333).
    #[arg(long, value_name = "PORT")]
    pub http_port: Option<u16>,
    /// Port of the gRPC API (default 6334).
    #[arg(long, value_name = "PORT")]
    pub grpc_port: Option<u16>,
}

#[derive(ValueEnum, Debug, Clone, Copy)]
pub enum NodeTypeArg {
    Normal,
    Listener,
}

impl Command {
    /// The name of the service this command runs, as on the command line;
    /// none for the commands that serve nothing themselves.
    pub fn service(&self) -> Option<&'static str> {
        match self {
            Command::Standalone { .. } => Some("standalone"),
            Command::ControlPlane { .. } => Some("control-plane"),
            Command::DataPlane { .. } => Some("data-plane"),
            Command::Gateway { .. } => Some("gateway"),
            Command::Playground { .. } | Command::Probe { .. } => None,
        }
    }

    pub fn common(&self) -> &CommonArgs {
        match self {
            Command::Standalone { common, .. }
            | Command::ControlPlane { common, .. }
            | Command::DataPlane { common, .. }
            | Command::Gateway { common, .. }
            | Command::Playground { common, .. } => common,
            Command::Probe { .. } => &NO_COMMON_ARGS,
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::Cli;

    /// Every role's `--help` names the example settings file, and that file exists.
    #[test]
    fn help_names_the_example_settings_file_that_exists() {
        let example = "deploy/config.example.yaml";
        let workspace = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        assert!(workspace.join(example).is_file(), "{example} is missing");
        let mut cli = <Cli as CommandFactory>::command();
        for role in [
            "standalone",
            "control-plane",
            "data-plane",
            "gateway",
            "playground",
        ] {
            let help = cli
                .find_subcommand_mut(role)
                .unwrap_or_else(|| panic!("no `{role}` subcommand"))
                .render_long_help()
                .to_string();
            assert!(
                help.contains(example),
                "`tessera {role} --help` does not name {example}"
            );
        }
    }
}
