//! The process tier: deployments of the real `tessera` binary.
//!
//! Processes are signalled only through the PIDs this module spawned. Each
//! process appends its stdout and stderr to its own log file; when a test
//! panics while a deployment is alive, the deployment prints the tail of
//! every log before killing its processes.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;
use tessera_proto::control_plane as cp;
use tessera_proto::control_plane::control_plane_client::ControlPlaneClient;
use tessera_runtime::internal_auth::{internal, InternalChannel};

use crate::netns::Network;
use crate::rest::Rest;
use crate::wait::{self, READY_TIMEOUT};

mod child;
mod cluster;

use child::{print_tails_if_panicking, Process};
pub use cluster::{Node, ProcessCluster, ProcessClusterBuilder};

/// How long a process may take to exit after SIGTERM. The control plane alone
/// may spend 5 s releasing Raft, so this leaves room above that.
const STOP_TIMEOUT: Duration = Duration::from_secs(15);

/// Lines of each log shown when a test fails.
const TAIL_LINES: usize = 60;

/// The `tessera` binary under test: `TESSERA_BIN`, else `debug/tessera` under
/// `CARGO_TARGET_DIR` or the workspace's `target/`. Panics when it is missing,
/// because these tests run the binary rather than build it.
pub fn tessera_bin() -> PathBuf {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate lives inside the workspace");
    let path = match std::env::var_os("TESSERA_BIN") {
        Some(bin) => PathBuf::from(bin),
        None => {
            let target = std::env::var_os("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("target"));
            // A relative CARGO_TARGET_DIR is relative to where cargo ran, which
            // for this workspace is its root.
            workspace.join(target).join("debug").join("tessera")
        }
    };
    assert!(
        path.is_file(),
        "no tessera binary at {}: build it first: cargo build -p tessera (or set TESSERA_BIN)",
        path.display()
    );
    path
}

/// `n` distinct free loopback ports. All sockets stay bound until every port
/// is chosen, so the kernel cannot hand out the same port twice.
pub(crate) fn free_ports(n: usize) -> Vec<u16> {
    let listeners: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind a loopback port"))
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().expect("bound address").port())
        .collect()
}

fn temp_dir(prefix: &str) -> TempDir {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .expect("create a temporary directory")
}

/// Waits until the gateway behind `rest` is ready with `data_nodes` peers,
/// failing early when one of `processes` dies meanwhile.
async fn wait_ready(rest: &Rest, data_nodes: usize, processes: &mut [&mut Process]) {
    wait::until("the deployment to become ready", READY_TIMEOUT, || {
        let dead: Vec<String> = processes
            .iter_mut()
            .filter_map(|p| p.check_alive().err())
            .collect();
        assert!(dead.is_empty(), "during start-up: {}", dead.join("; "));
        let rest = rest.clone();
        async move { wait::gateway_ready(&rest, data_nodes).await }
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"));
}

/// `tessera standalone` on free loopback ports with a temporary data dir.
pub struct Standalone {
    process: Process,
    rest: Rest,
    http_port: u16,
    grpc_port: u16,
    // Declared last so it is deleted after the process is gone.
    _dir: TempDir,
}

impl Standalone {
    /// Starts the process and returns once its gateway is ready.
    pub async fn start() -> Standalone {
        Self::start_with(&[]).await
    }

    /// Like [`Standalone::start`], with settings given as `(SECTION__KEY,
    /// value)` environment variables (`TESSERA__` is prefixed).
    pub async fn start_with(settings: &[(&str, &str)]) -> Standalone {
        let dir = temp_dir("tessera-standalone-");
        let ports = free_ports(2);
        let (http_port, grpc_port) = (ports[0], ports[1]);
        let data_dir = dir.path().join("data");
        let args = vec![
            "standalone".into(),
            "--data-dir".into(),
            data_dir.display().to_string(),
            "--http-port".into(),
            http_port.to_string(),
            "--grpc-port".into(),
            grpc_port.to_string(),
        ];
        let env = settings
            .iter()
            .map(|(key, value)| (format!("TESSERA__{key}"), value.to_string()))
            .collect();
        // The harness's own client presents the read-write key, if one is set.
        let api_key = settings
            .iter()
            .find(|(key, _)| *key == "SERVICE__API_KEY")
            .map(|(_, value)| *value);
        let mut standalone = Standalone {
            process: Process::spawn_with_env("standalone", args, env, dir.path()),
            rest: Rest::new(format!("http://127.0.0.1:{http_port}")).with_api_key(api_key),
            http_port,
            grpc_port,
            _dir: dir,
        };
        standalone.wait_ready().await;
        standalone
    }

    async fn wait_ready(&mut self) {
        wait_ready(&self.rest, 1, &mut [&mut self.process]).await;
    }

    pub fn http_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.http_port)
    }

    pub fn grpc_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.grpc_port)
    }

    pub fn rest(&self) -> Rest {
        self.rest.clone()
    }

    /// SIGTERM, then waits; fails the test unless the process exits 0.
    pub async fn stop(&mut self) {
        self.process.stop().await;
    }

    /// SIGTERM without waiting: the process is draining.
    pub fn send_sigterm(&mut self) {
        self.process.send_sigterm();
    }

    /// Waits for the process to exit after [`Standalone::send_sigterm`].
    pub async fn wait_exit(&mut self) -> ExitStatus {
        self.process.wait_exit().await
    }

    /// What the process wrote to stdout and stderr, over every start; the
    /// harness marks each start with a line `$ tessera ...`.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.process.log).unwrap_or_default()
    }

    /// Starts the process again on the same data dir and ports (stopping it
    /// first if it runs) and returns once it is ready.
    pub async fn restart(&mut self) {
        self.process.stop().await;
        self.process.start();
        self.wait_ready().await;
    }
}

impl Drop for Standalone {
    fn drop(&mut self) {
        print_tails_if_panicking([&self.process]);
    }
}
