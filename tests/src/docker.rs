//! `deploy/docker-compose.yaml` on the machine's Docker engine, from an image
//! that `deploy/build-image.sh` makes of the binary under test: the deployment
//! a new user starts, with the faults containers allow (kill, restart, cut
//! off from the network).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::process::free_ports;
use crate::wait::{self, READY_TIMEOUT};
use crate::{tessera_bin, Rest};

const IMAGE: &str = "tessera:compose-test";
/// The cluster runs locked, as a production one should.
const API_KEY: &str = "compose-test-key";
const INTERNAL_TOKEN: &str = "compose-test-internal-token";

fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy")
}

/// Runs `program args`, returning its stdout, or what went wrong.
fn run(program: &str, args: &[&str], env: &[(String, String)]) -> Result<String, String> {
    let output = Command::new(program)
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(format!(
            "{program} {} failed ({}): {}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

/// Why Docker tests cannot run here, if they cannot: no Docker engine answers,
/// or the Compose tool is missing.
pub fn unavailable() -> Option<String> {
    if let Err(e) = run("docker", &["info", "--format", "{{.ServerVersion}}"], &[]) {
        return Some(format!("no Docker engine answers: {e}"));
    }
    if let Err(e) = run("docker-compose", &["version", "--short"], &[]) {
        return Some(format!("docker-compose is missing: {e}"));
    }
    None
}

/// A compose project of `deploy/docker-compose.yaml`, brought down with its
/// volumes when dropped.
pub struct ComposeCluster {
    project: String,
    files: Vec<PathBuf>,
    env: Vec<(String, String)>,
    gateways: Vec<Rest>,
    down: bool,
}

impl ComposeCluster {
    /// Builds the image, starts the project on free host ports, and returns
    /// once both gateways are ready and see the 3 data nodes.
    pub async fn up() -> ComposeCluster {
        let build = deploy_dir().join("build-image.sh");
        let binary = tessera_bin();
        // A rebuilt tag would leave the previous image dangling.
        let _ = run("docker", &["rmi", "-f", IMAGE], &[]);
        run(
            build.to_str().expect("a UTF-8 path"),
            &[binary.to_str().expect("a UTF-8 path"), IMAGE],
            &[],
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let ports = free_ports(4);
        let env = vec![
            ("TESSERA_IMAGE".into(), IMAGE.into()),
            ("TESSERA_HTTP_PORT".into(), ports[0].to_string()),
            ("TESSERA_GRPC_PORT".into(), ports[1].to_string()),
            ("TESSERA_HTTP_PORT_2".into(), ports[2].to_string()),
            ("TESSERA_GRPC_PORT_2".into(), ports[3].to_string()),
            ("TESSERA_API_KEY".into(), API_KEY.into()),
            ("TESSERA_INTERNAL_TOKEN".into(), INTERNAL_TOKEN.into()),
        ];
        let cluster = ComposeCluster {
            project: format!("tessera-test-{}", std::process::id()),
            files: vec![deploy_dir().join("docker-compose.yaml")],
            env,
            gateways: [ports[0], ports[2]]
                .iter()
                .map(|port| {
                    Rest::new(format!("http://127.0.0.1:{port}")).with_api_key(Some(API_KEY))
                })
                .collect(),
            down: false,
        };
        cluster.compose(&["up", "-d"]);
        cluster.wait_ready(3).await;
        cluster
    }

    /// `docker-compose -p PROJECT -f FILE... args`; a failure fails the test.
    pub fn compose(&self, args: &[&str]) -> String {
        let mut all = vec!["-p", self.project.as_str()];
        for file in &self.files {
            all.extend(["-f", file.to_str().expect("a UTF-8 path")]);
        }
        all.extend(args);
        run("docker-compose", &all, &self.env).unwrap_or_else(|e| panic!("{e}"))
    }

    /// A REST client of gateway 0 or 1, presenting the API key.
    pub fn rest(&self, gateway: usize) -> Rest {
        self.gateways[gateway].clone()
    }

    /// Waits until both gateways answer `/readyz` and list `data_nodes` peers.
    pub async fn wait_ready(&self, data_nodes: usize) {
        for rest in &self.gateways {
            wait::until("a compose gateway ready", READY_TIMEOUT * 2, || {
                wait::gateway_ready(rest, data_nodes)
            })
            .await
            .unwrap_or_else(|e| panic!("{e}\n{}", self.logs()));
        }
    }

    fn container(&self, service: &str) -> String {
        self.compose(&["ps", "-q", service]).trim().to_string()
    }

    /// SIGKILLs a service's container.
    pub fn kill(&self, service: &str) {
        run("docker", &["kill", &self.container(service)], &[]).unwrap_or_else(|e| panic!("{e}"));
    }

    /// Starts a stopped service's container again.
    pub fn start(&self, service: &str) {
        self.compose(&["start", service]);
    }

    /// Cuts a service's container off the project's network.
    pub fn disconnect(&self, service: &str) {
        let (network, container) = (self.network(), self.container(service));
        run(
            "docker",
            &["network", "disconnect", &network, &container],
            &[],
        )
        .unwrap_or_else(|e| panic!("{e}"));
    }

    /// Joins a service's container to the project's network again, under its
    /// service name.
    pub fn connect(&self, service: &str) {
        let (network, container) = (self.network(), self.container(service));
        run(
            "docker",
            &[
                "network", "connect", "--alias", service, &network, &container,
            ],
            &[],
        )
        .unwrap_or_else(|e| panic!("{e}"));
    }

    /// The project's network, as Compose names it.
    fn network(&self) -> String {
        format!("{}_tessera", self.project)
    }

    /// Adds `deploy/docker-compose.add-data-node.yaml` and starts data-4.
    pub async fn add_data_node(&mut self) {
        self.files
            .push(deploy_dir().join("docker-compose.add-data-node.yaml"));
        self.compose(&["up", "-d", "data-4"]);
        self.wait_ready(4).await;
    }

    /// The service name of the control-plane leader, as the gateway reports it.
    pub async fn control_plane_leader(&self) -> String {
        wait::until("a control-plane leader", READY_TIMEOUT, || async {
            let cluster = self.gateways[0].get("/cluster").await;
            let result = cluster.result();
            let leader = result["raft_info"]["leader"].as_u64();
            result["control_plane"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|m| m["id"].as_u64() == leader)
                .and_then(|m| m["uri"].as_str())
                .and_then(|uri| uri.strip_prefix("http://"))
                .and_then(|authority| authority.split(':').next())
                .map(str::to_owned)
                .ok_or_else(|| format!("no leader in {}", cluster.body))
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"))
    }

    /// The last lines each container logged.
    pub fn logs(&self) -> String {
        let mut all = vec!["-p", self.project.as_str()];
        for file in &self.files {
            all.extend(["-f", file.to_str().expect("a UTF-8 path")]);
        }
        all.extend(["logs", "--no-color", "--tail", "20"]);
        run("docker-compose", &all, &self.env).unwrap_or_else(|e| e)
    }

    /// `docker-compose down -v`, then what of the project Docker still holds
    /// (containers, volumes, networks): empty when nothing is left behind.
    pub fn down(mut self) -> Vec<String> {
        self.down = true;
        self.compose(&["down", "-v", "--remove-orphans"]);
        let label = format!("label=com.docker.compose.project={}", self.project);
        let mut left = Vec::new();
        for what in [
            vec!["ps", "-a", "-q", "--filter", &label],
            vec!["volume", "ls", "-q", "--filter", &label],
            vec!["network", "ls", "-q", "--filter", &label],
        ] {
            let out = run("docker", &what, &[]).unwrap_or_else(|e| panic!("{e}"));
            left.extend(out.lines().map(|l| format!("{}: {l}", what[0])));
        }
        left
    }
}

impl Drop for ComposeCluster {
    fn drop(&mut self) {
        if !self.down {
            if std::thread::panicking() {
                eprintln!("{}", self.logs());
            }
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                self.compose(&["down", "-v", "--remove-orphans"])
            }));
        }
    }
}
