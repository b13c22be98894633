//! A split deployment of separate processes: control planes, data nodes
//! (optionally each in its own network namespace) and gateways.

use super::child::wait_listening;
use super::*;
use crate::tls::TestCertificates;

/// One control-plane node of a [`ProcessCluster`].
struct ControlPlaneNode {
    process: Process,
    scheme: &'static str,
    host: IpAddr,
    port: u16,
    /// Its namespace in a partitionable cluster's network.
    netns: Option<usize>,
}

impl ControlPlaneNode {
    fn uri(&self) -> String {
        format!("{}://{}", self.scheme, self.addr())
    }

    fn addr(&self) -> SocketAddr {
        SocketAddr::new(self.host, self.port)
    }
}

/// A node of a [`ProcessCluster`], by role and index.
#[derive(Debug, Clone, Copy)]
pub enum Node {
    ControlPlane(usize),
    Data(usize),
    Gateway,
}

/// How a [`ProcessCluster`] is laid out; see [`ProcessCluster::builder`].
pub struct ProcessClusterBuilder {
    control_planes: usize,
    data_nodes: usize,
    listeners: usize,
    voters: usize,
    control_plane_env: Vec<(String, String)>,
    data_node_env: Vec<(String, String)>,
    gateway_env: Vec<(String, String)>,
    zones: Vec<String>,
    partitionable: bool,
    metrics: bool,
    tls: bool,
}

impl ProcessClusterBuilder {
    /// TLS on the gateway's client ports and between all services, with
    /// certificates of a throwaway CA; [`ProcessCluster::rest`] trusts it.
    pub fn tls(mut self) -> Self {
        self.tls = true;
        self
    }

    /// Control-plane and data nodes serve `/metrics` and their probes, each
    /// on a port of its own (see [`ProcessCluster::metrics_url`]).
    pub fn metrics(mut self) -> Self {
        self.metrics = true;
        self
    }

    /// Control-plane nodes (default 1): the first founds the group, the
    /// others join it with `--bootstrap`.
    pub fn control_planes(mut self, n: usize) -> Self {
        assert!(n >= 1, "a cluster needs a control plane");
        self.control_planes = n;
        self
    }

    /// Data-plane nodes (default 3).
    pub fn data_nodes(mut self, n: usize) -> Self {
        self.data_nodes = n;
        self
    }

    /// Listener data nodes (`--node-type listener`, default 0), started after
    /// the normal ones: their indexes follow the normal nodes'.
    pub fn listeners(mut self, n: usize) -> Self {
        self.listeners = n;
        self
    }

    /// A setting of every data-plane node, as `TESSERA__<key>=<value>`.
    pub fn data_node_setting(mut self, key: &str, value: impl ToString) -> Self {
        self.data_node_env
            .push((format!("TESSERA__{key}"), value.to_string()));
        self
    }

    /// `--zone` of each data node, in order (nodes past the list have none).
    pub fn zones(mut self, zones: &[&str]) -> Self {
        self.zones = zones.iter().map(|z| z.to_string()).collect();
        self
    }

    /// Runs each data node in its own network namespace (see [`Network`]), so
    /// [`ProcessCluster::partition_data_node`] can cut it off. Needs root and
    /// iproute2.
    pub fn partitionable(mut self) -> Self {
        self.partitionable = true;
        self
    }

    /// `cluster.consensus.voters` of every control-plane node (default 3).
    pub fn voters(mut self, n: usize) -> Self {
        self.voters = n;
        self.control_plane_setting("CLUSTER__CONSENSUS__VOTERS", n)
    }

    /// A setting of every control-plane node, as `TESSERA__<key>=<value>`,
    /// e.g. `("CLUSTER__CONSENSUS__SNAPSHOT_EVERY", 100)`.
    /// A setting every process of the cluster gets, gateways included.
    pub fn cluster_setting(mut self, key: &str, value: impl ToString) -> Self {
        let pair = (format!("TESSERA__{key}"), value.to_string());
        self.control_plane_env.push(pair.clone());
        self.data_node_env.push(pair.clone());
        self.gateway_env.push(pair);
        self
    }

    pub fn control_plane_setting(mut self, key: &str, value: impl ToString) -> Self {
        self.control_plane_env
            .push((format!("TESSERA__{key}"), value.to_string()));
        self
    }

    /// Starts every process and returns once the control-plane group has all
    /// its members and the gateway is ready and sees all data nodes.
    pub async fn start(mut self) -> ProcessCluster {
        let dir = temp_dir("tessera-cluster-");
        let certificates = self.tls.then(TestCertificates::shared);
        if let Some(certificates) = certificates {
            for (key, value) in certificates.settings() {
                self = self.cluster_setting(key.trim_start_matches("TESSERA__"), value);
            }
        }
        let scheme = if self.tls { "https" } else { "http" };
        let nodes = self.control_planes + self.data_nodes + self.listeners;
        // With metrics: one port per node, then the gateway's.
        let ports = free_ports(2 + nodes + if self.metrics { nodes + 1 } else { 0 });
        let (http_port, grpc_port) = (ports[0], ports[1]);
        let cp_ports = &ports[2..2 + self.control_planes];
        let data_node_ports = ports[2 + self.control_planes..2 + nodes].to_vec();
        let metrics_ports = ports[2 + nodes..].to_vec();
        // Data nodes first, then control-plane members, each in its own namespace.
        let network = self.partitionable.then(|| {
            Network::create(data_node_ports.len() + cp_ports.len())
                .unwrap_or_else(|e| panic!("cannot set up network namespaces: {e}"))
        });
        let control_plane_at = |i: usize| -> (IpAddr, Option<usize>) {
            match &network {
                Some(network) => {
                    let index = data_node_ports.len() + i;
                    (network.node_ip(index).parse().expect("an ip"), Some(index))
                }
                None => (Ipv4Addr::LOCALHOST.into(), None),
            }
        };
        let data_node_hosts: Vec<IpAddr> = (0..data_node_ports.len())
            .map(|i| match &network {
                Some(network) => network.node_ip(i).parse().expect("an ip"),
                None => Ipv4Addr::LOCALHOST.into(),
            })
            .collect();
        let first_uri = format!("{scheme}://{}:{}", control_plane_at(0).0, cp_ports[0]);

        let control_planes: Vec<ControlPlaneNode> = cp_ports
            .iter()
            .enumerate()
            .map(|(i, port)| {
                let bootstrap = (i > 0).then(|| first_uri.clone());
                let mut env = self.control_plane_env.clone();
                if let Some(metrics_port) = metrics_ports.get(i) {
                    env.push((
                        "TESSERA__SERVICE__METRICS_PORT".into(),
                        metrics_port.to_string(),
                    ));
                }
                let (host, netns) = control_plane_at(i);
                let netns = netns.map(|n| (n, network_namespace(&network, n)));
                let addr = SocketAddr::new(host, *port);
                let at = ControlPlaneAt { addr, netns };
                control_plane_node(&dir, i, scheme, at, bootstrap, true, &env)
            })
            .collect();
        let members = control_planes
            .iter()
            .map(ControlPlaneNode::uri)
            .collect::<Vec<_>>()
            .join(",");
        let nodes = data_node_ports
            .iter()
            .enumerate()
            .map(|(i, port)| {
                let name = format!("data-plane-{i}");
                let mut args = vec![
                    "data-plane".into(),
                    "--control-plane".into(),
                    members.clone(),
                    "--uri".into(),
                    format!("{scheme}://{}:{port}", data_node_hosts[i]),
                    "--data-dir".into(),
                    dir.path().join(&name).display().to_string(),
                ];
                if i >= self.data_nodes {
                    args.extend(["--node-type".into(), "listener".into()]);
                }
                if let Some(zone) = self.zones.get(i) {
                    args.extend(["--zone".into(), zone.clone()]);
                }
                if let Some(metrics_port) = metrics_ports.get(self.control_planes + i) {
                    args.extend(["--metrics-port".into(), metrics_port.to_string()]);
                }
                let netns = network.as_ref().map(|n| n.namespace(i).to_string());
                let env = self.data_node_env.clone();
                Process::spawn_in(&name, args, env, netns, dir.path())
            })
            .collect();
        let mut gateway_args: Vec<String> = vec![
            "gateway".into(),
            "--control-plane".into(),
            members,
            "--http-port".into(),
            http_port.to_string(),
            "--grpc-port".into(),
            grpc_port.to_string(),
        ];
        if let Some(metrics_port) = metrics_ports.last() {
            gateway_args.extend(["--metrics-port".into(), metrics_port.to_string()]);
        }
        let gateway =
            Process::spawn_with_env("gateway", gateway_args, self.gateway_env, dir.path());
        let mut cluster = ProcessCluster {
            gateway,
            more_gateways: Vec::new(),
            more_gateway_netns: Vec::new(),
            data_nodes: nodes,
            data_node_ports,
            data_node_hosts,
            control_planes,
            network,
            voters: self.voters,
            control_plane_env: self.control_plane_env,
            rest: match &certificates {
                Some(c) => Rest::with_ca(format!("https://127.0.0.1:{http_port}"), c.ca_pem()),
                None => Rest::new(format!("http://127.0.0.1:{http_port}")),
            },
            scheme,
            ca_cert: certificates.map(|c| c.ca_cert.clone()),
            http_port,
            grpc_port,
            metrics_ports,
            _dir: dir,
        };
        cluster.wait_ready().await;
        let expected = cluster.control_planes.len();
        cluster.wait_for_members(expected).await;
        cluster
    }
}

/// Where a control-plane node listens, and in a partitionable cluster its
/// namespace (index and name).
struct ControlPlaneAt {
    addr: SocketAddr,
    netns: Option<(usize, String)>,
}

/// Spawns control-plane node `i`; with `bootstrap` it joins that member, and
/// without `uri` it is recorded at the address it joins from.
fn control_plane_node(
    dir: &TempDir,
    i: usize,
    scheme: &'static str,
    at: ControlPlaneAt,
    bootstrap: Option<String>,
    uri: bool,
    env: &[(String, String)],
) -> ControlPlaneNode {
    let ControlPlaneAt { addr, netns } = at;
    let name = format!("control-plane-{i}");
    let mut args = vec![
        "control-plane".into(),
        "--data-dir".into(),
        dir.path().join(&name).display().to_string(),
    ];
    if uri {
        args.extend(["--uri".into(), format!("{scheme}://{addr}")]);
    } else {
        // Loopback only: the test machine's other interfaces are none of its business.
        args.extend(["--p2p-port".into(), addr.port().to_string()]);
    }
    if let Some(bootstrap) = bootstrap {
        args.extend(["--bootstrap".into(), bootstrap]);
    }
    let mut env = env.to_vec();
    if !uri {
        env.push(("TESSERA__SERVICE__HOST".into(), addr.ip().to_string()));
    }
    let (index, namespace) = netns.unzip();
    ControlPlaneNode {
        process: Process::spawn_in(&name, args, env, namespace, dir.path()),
        scheme,
        host: addr.ip(),
        port: addr.port(),
        netns: index,
    }
}

/// The name of namespace `i` of `network`, if there is one.
fn network_namespace(network: &Option<Network>, i: usize) -> String {
    network
        .as_ref()
        .expect("a partitionable cluster")
        .namespace(i)
        .to_string()
}

/// A split deployment: control-plane nodes (one by default), data-plane nodes
/// and one gateway, each its own `tessera` process. Data nodes and the gateway
/// know every control-plane node the cluster started with.
pub struct ProcessCluster {
    // Field order is drop order: processes die before their directory goes.
    gateway: Process,
    more_gateways: Vec<Process>,
    /// Each added gateway's namespace in a partitionable cluster's network.
    more_gateway_netns: Vec<Option<usize>>,
    data_nodes: Vec<Process>,
    data_node_ports: Vec<u16>,
    data_node_hosts: Vec<IpAddr>,
    control_planes: Vec<ControlPlaneNode>,
    network: Option<Network>,
    voters: usize,
    control_plane_env: Vec<(String, String)>,
    rest: Rest,
    /// `https` with [`ProcessClusterBuilder::tls`].
    scheme: &'static str,
    ca_cert: Option<PathBuf>,
    http_port: u16,
    grpc_port: u16,
    /// With [`ProcessClusterBuilder::metrics`]: control-plane nodes' metrics
    /// ports, then data nodes', then the gateway's.
    metrics_ports: Vec<u16>,
    _dir: TempDir,
}

impl ProcessCluster {
    /// One control plane, `data_nodes` data-plane nodes and a gateway.
    pub fn builder() -> ProcessClusterBuilder {
        ProcessClusterBuilder {
            control_planes: 1,
            data_nodes: 3,
            listeners: 0,
            voters: 3,
            control_plane_env: Vec::new(),
            data_node_env: Vec::new(),
            gateway_env: Vec::new(),
            zones: Vec::new(),
            partitionable: false,
            metrics: false,
            tls: false,
        }
    }

    /// Starts one control plane, `data_nodes` data-plane nodes and a gateway,
    /// and returns once the gateway is ready and sees all `data_nodes` peers.
    pub async fn start(data_nodes: usize) -> ProcessCluster {
        Self::builder().data_nodes(data_nodes).start().await
    }

    async fn wait_ready(&mut self) {
        let mut processes: Vec<&mut Process> = self.data_nodes.iter_mut().collect();
        processes.extend(
            self.control_planes
                .iter_mut()
                .map(|n| &mut n.process)
                .filter(|p| p.is_running()),
        );
        processes.push(&mut self.gateway);
        wait_ready(&self.rest, self.data_node_ports.len(), &mut processes).await;
    }

    pub fn http_url(&self) -> String {
        format!("{}://127.0.0.1:{}", self.scheme, self.http_port)
    }

    pub fn grpc_url(&self) -> String {
        format!("{}://127.0.0.1:{}", self.scheme, self.grpc_port)
    }

    pub fn rest(&self) -> Rest {
        self.rest.clone()
    }

    /// With [`ProcessClusterBuilder::tls`]: the CA that signed every
    /// certificate of the cluster (PEM).
    pub fn tls_ca_cert(&self) -> Option<PathBuf> {
        self.ca_cert.clone()
    }

    /// Starts another gateway on the same control plane and returns a REST
    /// client of it once it is ready.
    pub async fn add_gateway(&mut self) -> Rest {
        assert_eq!(
            self.scheme, "http",
            "add_gateway starts a plain-HTTP gateway"
        );
        let ports = free_ports(2);
        let members = self
            .control_planes
            .iter()
            .map(ControlPlaneNode::uri)
            .collect::<Vec<_>>()
            .join(",");
        let name = format!("gateway-{}", self.more_gateways.len() + 1);
        // In a partitionable cluster it gets a namespace, so it can be cut off.
        let (host, netns) = self.new_node_address();
        let (netns, namespace) = netns.unzip();
        let mut gateway = Process::spawn_in(
            &name,
            vec![
                "gateway".into(),
                "--control-plane".into(),
                members,
                "--http-port".into(),
                ports[0].to_string(),
                "--grpc-port".into(),
                ports[1].to_string(),
            ],
            Vec::new(),
            namespace,
            self._dir.path(),
        );
        let rest = Rest::new(format!("http://{host}:{}", ports[0]));
        wait_ready(&rest, self.data_node_ports.len(), &mut [&mut gateway]).await;
        self.more_gateways.push(gateway);
        self.more_gateway_netns.push(netns);
        rest
    }

    /// Cuts data node `i` off the network (a [`partitionable`] cluster only).
    ///
    /// [`partitionable`]: ProcessClusterBuilder::partitionable
    pub fn partition_data_node(&self, i: usize) {
        let network = self.network.as_ref().expect("a partitionable cluster");
        network.partition(i).unwrap_or_else(|e| panic!("{e}"));
    }

    /// Reconnects data node `i` after [`ProcessCluster::partition_data_node`].
    pub fn heal_data_node(&self, i: usize) {
        let network = self.network.as_ref().expect("a partitionable cluster");
        network.heal(i).unwrap_or_else(|e| panic!("{e}"));
    }

    /// Cuts control-plane member `i` off the network (a [`partitionable`]
    /// cluster only).
    ///
    /// [`partitionable`]: ProcessClusterBuilder::partitionable
    pub fn partition_control_plane(&self, i: usize) {
        let n = self.control_planes[i]
            .netns
            .expect("a partitionable cluster");
        self.network()
            .partition(n)
            .unwrap_or_else(|e| panic!("{e}"));
    }

    pub fn heal_control_plane(&self, i: usize) {
        let n = self.control_planes[i]
            .netns
            .expect("a partitionable cluster");
        self.network().heal(n).unwrap_or_else(|e| panic!("{e}"));
    }

    /// Cuts gateway `i` (1 on: those added with [`ProcessCluster::add_gateway`]
    /// to a partitionable cluster) off the network, its clients included.
    pub fn partition_gateway(&self, i: usize) {
        let n = self.more_gateway_netns[i - 1].expect("a partitionable cluster");
        self.network()
            .partition(n)
            .unwrap_or_else(|e| panic!("{e}"));
    }

    pub fn heal_gateway(&self, i: usize) {
        let n = self.more_gateway_netns[i - 1].expect("a partitionable cluster");
        self.network().heal(n).unwrap_or_else(|e| panic!("{e}"));
    }

    /// Drops every packet data node `i` sends while what is sent to it still
    /// arrives (a partitionable cluster only; needs iptables).
    pub fn silence_data_node(&self, i: usize) {
        self.network().silence(i).unwrap_or_else(|e| panic!("{e}"));
    }

    pub fn unsilence_data_node(&self, i: usize) {
        self.network()
            .unsilence(i)
            .unwrap_or_else(|e| panic!("{e}"));
    }

    fn network(&self) -> &Network {
        self.network.as_ref().expect("a partitionable cluster")
    }

    /// Where a node added now listens: in a partitionable cluster, a new
    /// namespace (its index and name) and its address there; else loopback.
    fn new_node_address(&mut self) -> (IpAddr, Option<(usize, String)>) {
        match self.network.as_mut() {
            Some(network) => {
                let n = network.add_node().unwrap_or_else(|e| panic!("{e}"));
                let host = network.node_ip(n).parse().expect("an ip");
                (host, Some((n, network.namespace(n).to_string())))
            }
            None => (Ipv4Addr::LOCALHOST.into(), None),
        }
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
        self.restart_data_node_unready(i).await;
        self.wait_ready().await;
    }

    /// Starts data node `i` again (stopping it first if it runs) and returns
    /// once it accepts connections, without waiting for the gateway: for a
    /// restart while the control plane cannot make the deployment ready.
    pub async fn restart_data_node_unready(&mut self, i: usize) {
        self.data_nodes[i].stop().await;
        self.data_nodes[i].start();
        let addr = SocketAddr::new(self.data_node_hosts[i], self.data_node_ports[i]);
        wait_listening(&mut self.data_nodes[i], addr).await;
    }

    /// What data node `i` has logged so far (every start appends).
    pub fn data_node_log(&self, i: usize) -> String {
        std::fs::read_to_string(&self.data_nodes[i].log).unwrap_or_default()
    }

    /// Starts data node `i` again (SIGKILLing it first if it runs) and waits
    /// for it to exit by itself, as a node the cluster refuses does; returns
    /// its exit status and its log.
    pub async fn restart_data_node_refused(&mut self, i: usize) -> (ExitStatus, String) {
        self.data_nodes[i].kill();
        self.data_nodes[i].start();
        let deadline = Instant::now() + READY_TIMEOUT;
        let status = loop {
            let child = self.data_nodes[i].child.as_mut().expect("just started");
            if let Some(status) = child.try_wait().expect("query the child") {
                self.data_nodes[i].child = None;
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "data node {i} kept running although the cluster should refuse it"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let log = std::fs::read_to_string(&self.data_nodes[i].log).unwrap_or_default();
        (status, log)
    }

    /// Where a node started with [`ProcessClusterBuilder::metrics`] serves
    /// `/metrics` and its probes over plain HTTP: the `i`th control-plane
    /// node, data node, or the gateway.
    pub fn metrics_url(&self, node: Node) -> String {
        let (host, port) = match node {
            Node::ControlPlane(i) => (self.control_planes[i].host, self.metrics_ports[i]),
            Node::Data(i) => (
                self.data_node_hosts[i],
                self.metrics_ports[self.control_planes.len() + i],
            ),
            Node::Gateway => (
                Ipv4Addr::LOCALHOST.into(),
                *self.metrics_ports.last().expect("started with metrics"),
            ),
        };
        format!("http://{host}:{port}")
    }

    /// The URI data node `i` registered with.
    pub fn data_node_uri(&self, i: usize) -> String {
        format!(
            "{}://{}:{}",
            self.scheme, self.data_node_hosts[i], self.data_node_ports[i]
        )
    }

    /// Which data node (0-based) `peer` of `topology` is.
    pub fn data_node_of(
        &self,
        topology: &tessera_types::Topology,
        peer: tessera_types::PeerId,
    ) -> usize {
        let uri = &topology.peers[&peer].uri;
        (0..self.data_nodes.len())
            .find(|&i| *uri == self.data_node_uri(i))
            .expect("the peer is one of the data nodes")
    }

    /// The data directory of data node `i`.
    pub fn data_node_dir(&self, i: usize) -> PathBuf {
        self._dir.path().join(format!("data-plane-{i}"))
    }

    /// Control-plane nodes started so far, running or not.
    pub fn control_plane_count(&self) -> usize {
        self.control_planes.len()
    }

    pub fn control_plane_uri(&self, i: usize) -> String {
        self.control_planes[i].uri()
    }

    /// A gRPC client of control-plane node `i`.
    /// It carries the internal token the test process installed, if any.
    pub fn control_plane_client(&self, i: usize) -> ControlPlaneClient<InternalChannel> {
        let endpoint = tessera_runtime::tls::endpoint(&self.control_plane_uri(i))
            .expect("a valid uri")
            .connect_timeout(Duration::from_secs(1))
            .timeout(Duration::from_secs(30));
        ControlPlaneClient::new(internal(endpoint.connect_lazy()))
    }

    /// `ClusterStatus` as control-plane node `i` sees it.
    pub async fn control_plane_status(&self, i: usize) -> Result<cp::ClusterStatusReply, String> {
        self.control_plane_client(i)
            .cluster_status(cp::ClusterStatusRequest {})
            .await
            .map(|r| r.into_inner())
            .map_err(|s| format!("{}: {s}", self.control_planes[i].process.name))
    }

    /// The index of the control-plane node that leads, as a running node
    /// that leads reports it. Waits for an election when there is none.
    pub async fn control_plane_leader(&self) -> usize {
        wait::until("a control-plane leader", READY_TIMEOUT, || async {
            for (i, node) in self.control_planes.iter().enumerate() {
                if !node.process.is_running() {
                    continue;
                }
                if let Ok(status) = self.control_plane_status(i).await {
                    if status.role == "Leader" && status.leader == Some(status.node_id) {
                        return Ok(i);
                    }
                }
            }
            Err("no running control-plane node leads".to_string())
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Waits until the control-plane leader lists `members` members, of which
    /// min(members, voters) are voters.
    pub async fn wait_for_members(&self, members: usize) -> cp::ClusterStatusReply {
        let voters = members.min(self.voters);
        let what = format!("{members} control-plane members, {voters} of them voters");
        wait::until(&what, READY_TIMEOUT, || async {
            let leader = self.control_plane_leader().await;
            let status = self.control_plane_status(leader).await?;
            let voting = status.members.iter().filter(|m| m.voter).count();
            if status.members.len() != members || voting != voters {
                return Err(format!("{status:?}"));
            }
            Ok(status)
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"))
    }

    /// SIGSTOPs control-plane node `i`: alive, connections open, silent.
    pub fn pause_control_plane(&mut self, i: usize) {
        self.control_planes[i].process.pause();
    }

    /// SIGCONTs control-plane node `i` after a pause.
    pub fn resume_control_plane(&mut self, i: usize) {
        self.control_planes[i].process.resume();
    }

    /// SIGSTOPs data node `i`: alive, connections open, silent.
    pub fn pause_data_node(&mut self, i: usize) {
        self.data_nodes[i].pause();
    }

    /// SIGCONTs data node `i` after a pause.
    pub fn resume_data_node(&mut self, i: usize) {
        self.data_nodes[i].resume();
    }

    /// SIGSTOPs gateway `i`: 0 is the first gateway, 1 on those added with
    /// [`ProcessCluster::add_gateway`].
    pub fn pause_gateway(&mut self, i: usize) {
        self.gateway_process(i).pause();
    }

    /// SIGCONTs gateway `i` after a pause.
    pub fn resume_gateway(&mut self, i: usize) {
        self.gateway_process(i).resume();
    }

    fn gateway_process(&mut self, i: usize) -> &mut Process {
        match i {
            0 => &mut self.gateway,
            _ => &mut self.more_gateways[i - 1],
        }
    }

    /// SIGKILLs control-plane node `i` by its PID, as a crash would.
    pub fn kill_control_plane(&mut self, i: usize) {
        self.control_planes[i].process.kill();
    }

    /// Starts control-plane node `i` again with its arguments and data dir
    /// (stopping it first if it runs); returns once it accepts connections.
    pub async fn restart_control_plane(&mut self, i: usize) {
        let node = &mut self.control_planes[i];
        node.process.stop().await;
        node.process.start();
        let addr = node.addr();
        wait_listening(&mut node.process, addr).await;
    }

    /// Starts a new control-plane node that joins through a running member,
    /// with `--uri` or (when `uri` is false) recorded at the address it joins
    /// from. Returns its index once it accepts connections; it is a member
    /// once [`ProcessCluster::wait_for_members`] says so.
    pub async fn add_control_plane(&mut self, uri: bool) -> usize {
        let via = self.control_plane_leader().await;
        let bootstrap = self.control_plane_uri(via);
        let port = free_ports(1)[0];
        let i = self.control_planes.len();
        let (host, netns) = self.new_node_address();
        let node = control_plane_node(
            &self._dir,
            i,
            self.scheme,
            ControlPlaneAt {
                addr: SocketAddr::new(host, port),
                netns,
            },
            Some(bootstrap),
            uri,
            &self.control_plane_env,
        );
        self.control_planes.push(node);
        let node = &mut self.control_planes[i];
        let addr = node.addr();
        wait_listening(&mut node.process, addr).await;
        i
    }

    /// Stops control-plane node `i` with SIGTERM; fails the test unless it
    /// exits 0.
    pub async fn stop_control_plane(&mut self, i: usize) {
        self.control_planes[i].process.stop().await;
    }

    /// Stops the gateway, the data nodes and the control planes in that order
    /// with SIGTERM; fails the test unless each running one exits 0.
    pub async fn stop(mut self) {
        self.gateway.stop().await;
        for gateway in &mut self.more_gateways {
            gateway.stop().await;
        }
        for node in &mut self.data_nodes {
            node.stop().await;
        }
        for node in &mut self.control_planes {
            node.process.stop().await;
        }
    }
}

impl Drop for ProcessCluster {
    fn drop(&mut self) {
        let mut all: Vec<&Process> = self.control_planes.iter().map(|n| &n.process).collect();
        all.extend(&self.data_nodes);
        all.push(&self.gateway);
        all.extend(&self.more_gateways);
        print_tails_if_panicking(all);
    }
}
