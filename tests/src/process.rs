//! The process tier: deployments of the real `tessera` binary.
//!
//! Processes are signalled only through the PIDs this module spawned. Each
//! process appends its stdout and stderr to its own log file; when a test
//! panics while a deployment is alive, the deployment prints the tail of
//! every log before killing its processes.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::rest::Rest;
use crate::wait::{self, READY_TIMEOUT};

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
fn free_ports(n: usize) -> Vec<u16> {
    let listeners: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind a loopback port"))
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().expect("bound address").port())
        .collect()
}

/// One `tessera` process that can be stopped, killed and started again with
/// the same arguments.
struct Process {
    name: String,
    args: Vec<String>,
    log: PathBuf,
    child: Option<Child>,
}

impl Process {
    fn spawn(name: &str, args: Vec<String>, log_dir: &Path) -> Process {
        let mut process = Process {
            name: name.to_string(),
            args,
            log: log_dir.join(format!("{name}.log")),
            child: None,
        };
        process.start();
        process
    }

    fn start(&mut self) {
        assert!(self.child.is_none(), "{} is already running", self.name);
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap_or_else(|e| panic!("cannot open {}: {e}", self.log.display()));
        // Restarts append to the same log; this line marks where each run begins.
        writeln!(log, "$ tessera {}", self.args.join(" ")).expect("write the log");
        let stdout: File = log.try_clone().expect("duplicate the log handle");
        let child = Command::new(tessera_bin())
            .args(&self.args)
            .current_dir(self.log.parent().expect("logs live in a directory"))
            .env(
                "RUST_BACKTRACE",
                std::env::var("RUST_BACKTRACE").unwrap_or_else(|_| "1".into()),
            )
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.name));
        self.child = Some(child);
    }

    /// Fails with the exit status when the process has exited on its own.
    fn check_alive(&mut self) -> Result<(), String> {
        let Some(child) = self.child.as_mut() else {
            return Ok(());
        };
        match child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => {
                self.child = None;
                Err(format!("{} exited unexpectedly with {status}", self.name))
            }
            Err(e) => Err(format!("cannot query {}: {e}", self.name)),
        }
    }

    /// SIGKILL, then reap, so the PID is never signalled again.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            // Child::kill sends SIGKILL to the PID we spawned; it only fails
            // when the process has already exited, which wait() then reaps.
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, then waits for the exit. A process that does not stop within
    /// STOP_TIMEOUT is killed and the test fails.
    async fn terminate(&mut self) -> ExitStatus {
        let Some(child) = self.child.as_mut() else {
            panic!("{} is not running", self.name);
        };
        let pid = libc::pid_t::try_from(child.id()).expect("PIDs fit in pid_t");
        // SAFETY: kill(2) on a PID we spawned and have not reaped, so it cannot
        // have been reused by another process; no memory is involved.
        let sent = unsafe { libc::kill(pid, libc::SIGTERM) };
        assert_eq!(sent, 0, "cannot send SIGTERM to {}", self.name);
        let deadline = Instant::now() + STOP_TIMEOUT;
        loop {
            let child = self.child.as_mut().expect("checked above");
            if let Some(status) = child.try_wait().expect("query the child") {
                self.child = None;
                return status;
            }
            if Instant::now() >= deadline {
                self.kill();
                panic!(
                    "{} did not exit within {STOP_TIMEOUT:?} of SIGTERM",
                    self.name
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Stops the process gracefully and fails the test unless it exits 0.
    async fn stop(&mut self) {
        if self.child.is_some() {
            let status = self.terminate().await;
            assert!(
                status.success(),
                "{} exited with {status} after SIGTERM",
                self.name
            );
        }
    }

    fn tail(&self) -> String {
        let text = std::fs::read(&self.log)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_else(|e| format!("<cannot read {}: {e}>", self.log.display()));
        let lines: Vec<&str> = text.lines().collect();
        let start = lines.len().saturating_sub(TAIL_LINES);
        format!(
            "---- {} (last {} lines of {}) ----\n{}\n",
            self.name,
            lines.len() - start,
            self.log.display(),
            lines[start..].join("\n")
        )
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

fn print_tails_if_panicking<'a>(processes: impl IntoIterator<Item = &'a Process>) {
    if std::thread::panicking() {
        for process in processes {
            eprintln!("{}", process.tail());
        }
    }
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
        let mut standalone = Standalone {
            process: Process::spawn("standalone", args, dir.path()),
            rest: Rest::new(format!("http://127.0.0.1:{http_port}")),
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

/// A split deployment: one control plane, `data_nodes` data-plane nodes and
/// one gateway, each its own `tessera` process.
pub struct ProcessCluster {
    // Field order is drop order: processes die before their directory goes.
    gateway: Process,
    data_nodes: Vec<Process>,
    data_node_ports: Vec<u16>,
    control_plane: Process,
    rest: Rest,
    http_port: u16,
    grpc_port: u16,
    _dir: TempDir,
}

impl ProcessCluster {
    /// Starts every process and returns once the gateway is ready and sees
    /// all `data_nodes` peers.
    pub async fn start(data_nodes: usize) -> ProcessCluster {
        let dir = temp_dir("tessera-cluster-");
        let ports = free_ports(3 + data_nodes);
        let (http_port, grpc_port, cp_port) = (ports[0], ports[1], ports[2]);
        let data_node_ports = ports[3..].to_vec();
        let cp_uri = format!("http://127.0.0.1:{cp_port}");

        let control_plane = Process::spawn(
            "control-plane",
            vec![
                "control-plane".into(),
                "--uri".into(),
                cp_uri.clone(),
                "--data-dir".into(),
                dir.path().join("control-plane").display().to_string(),
            ],
            dir.path(),
        );
        let nodes = data_node_ports
            .iter()
            .enumerate()
            .map(|(i, port)| {
                let name = format!("data-plane-{i}");
                let args = vec![
                    "data-plane".into(),
                    "--control-plane".into(),
                    cp_uri.clone(),
                    "--uri".into(),
                    format!("http://127.0.0.1:{port}"),
                    "--data-dir".into(),
                    dir.path().join(&name).display().to_string(),
                ];
                Process::spawn(&name, args, dir.path())
            })
            .collect();
        let gateway = Process::spawn(
            "gateway",
            vec![
                "gateway".into(),
                "--control-plane".into(),
                cp_uri,
                "--http-port".into(),
                http_port.to_string(),
                "--grpc-port".into(),
                grpc_port.to_string(),
            ],
            dir.path(),
        );
        let mut cluster = ProcessCluster {
            gateway,
            data_nodes: nodes,
            data_node_ports,
            control_plane,
            rest: Rest::new(format!("http://127.0.0.1:{http_port}")),
            http_port,
            grpc_port,
            _dir: dir,
        };
        cluster.wait_ready().await;
        cluster
    }

    async fn wait_ready(&mut self) {
        let mut processes: Vec<&mut Process> = self.data_nodes.iter_mut().collect();
        processes.push(&mut self.control_plane);
        processes.push(&mut self.gateway);
        wait_ready(&self.rest, self.data_node_ports.len(), &mut processes).await;
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

    /// SIGKILLs data node `i` (0-based) by its PID, as a crash would.
    pub fn kill_data_node(&mut self, i: usize) {
        self.data_nodes[i].kill();
    }

    /// Starts data node `i` again with its data dir and URI (stopping it first
    /// if it runs). Returns once it accepts connections and the gateway is
    /// ready; its shards may still be loading, so a test waits on the reads or
    /// writes it needs.
    pub async fn restart_data_node(&mut self, i: usize) {
        self.data_nodes[i].stop().await;
        self.data_nodes[i].start();
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.data_node_ports[i]));
        let node = &mut self.data_nodes[i];
        wait::until(
            &format!("{} to accept connections on {addr}", node.name),
            READY_TIMEOUT,
            || {
                if let Err(e) = node.check_alive() {
                    panic!("after restart: {e}");
                }
                async move {
                    TcpStream::connect_timeout(&addr, Duration::from_secs(1))
                        .map(drop)
                        .map_err(|e| format!("connect {addr}: {e}"))
                }
            },
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
        self.wait_ready().await;
    }

    /// Stops the gateway, the data nodes and the control plane in that order
    /// with SIGTERM; fails the test unless each running one exits 0.
    pub async fn stop(mut self) {
        self.gateway.stop().await;
        for node in &mut self.data_nodes {
            node.stop().await;
        }
        self.control_plane.stop().await;
    }
}

impl Drop for ProcessCluster {
    fn drop(&mut self) {
        let mut all: Vec<&Process> = vec![&self.control_plane];
        all.extend(&self.data_nodes);
        all.push(&self.gateway);
        print_tails_if_panicking(all);
    }
}
