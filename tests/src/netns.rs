//! Network partitions for process tests: each node (data node, control-plane
//! member, added gateway) runs in its own network namespace, plugged by a
//! veth pair into a bridge that lives in a namespace of its own (the
//! "switch"), as is the host through one more veth. The bridge sits outside
//! the host's namespace so the host's firewall (a Docker engine drops
//! forwarded traffic) never sees node-to-node traffic. A test cuts a node off
//! from everything by taking its port on the switch down, or one way by
//! dropping what it sends (iptables inside its namespace). Needs root and
//! iproute2 (`ip`); every namespace and link is this test process's own and is
//! removed on drop.

use std::process::Command;

/// The switch and namespaces of one deployment.
pub struct Network {
    switch: String,
    subnet: u8,
    nodes: Vec<String>,
}

const BRIDGE: &str = "br0";

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip {}: {e} (is iproute2 installed?)", args.join(" ")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

impl Network {
    /// A bridge with `nodes` namespaces on a /24 of 10.213.0.0/16 picked by
    /// this process's id, so parallel test binaries do not collide.
    pub fn create(nodes: usize) -> Result<Network, String> {
        let pid = std::process::id();
        let subnet = (pid % 200) as u8 + 20;
        let mut network = Network {
            switch: format!("tss{pid}"),
            subnet,
            nodes: Vec::new(),
        };
        let switch = network.switch.clone();
        ip(&["netns", "add", &switch])?;
        ip(&["-n", &switch, "link", "add", BRIDGE, "type", "bridge"])?;
        ip(&["-n", &switch, "link", "set", BRIDGE, "up"])?;
        // The host's own port on the switch.
        let (host, port) = (format!("tsh{pid}"), format!("tshp{pid}"));
        ip(&["link", "add", &host, "type", "veth", "peer", "name", &port])?;
        network.plug(&port)?;
        let cidr = format!("{}/24", network.host_ip());
        ip(&["addr", "add", &cidr, "dev", &host])?;
        ip(&["link", "set", &host, "up"])?;
        for _ in 0..nodes {
            network.add_node()?;
        }
        Ok(network)
    }

    /// A new namespace plugged into the switch; returns its index.
    pub fn add_node(&mut self) -> Result<usize, String> {
        let pid = std::process::id();
        let i = self.nodes.len();
        let ns = format!("tsn{pid}-{i}");
        ip(&["netns", "add", &ns])?;
        self.nodes.push(ns.clone());
        let inner = format!("tsv{pid}n{i}");
        ip(&[
            "link",
            "add",
            &inner,
            "type",
            "veth",
            "peer",
            "name",
            &self.port(i),
        ])?;
        self.plug(&self.port(i))?;
        ip(&["link", "set", &inner, "netns", &ns])?;
        let cidr = format!("{}/24", self.node_ip(i));
        ip(&["-n", &ns, "addr", "add", &cidr, "dev", &inner])?;
        ip(&["-n", &ns, "link", "set", &inner, "up"])?;
        ip(&["-n", &ns, "link", "set", "lo", "up"])?;
        Ok(i)
    }

    /// Moves `link` (made in the host's namespace) into the switch and plugs it
    /// into the bridge.
    fn plug(&self, link: &str) -> Result<(), String> {
        ip(&["link", "set", link, "netns", &self.switch])?;
        ip(&["-n", &self.switch, "link", "set", link, "master", BRIDGE])?;
        ip(&["-n", &self.switch, "link", "set", link, "up"])
    }

    /// Node `i`'s port on the switch.
    fn port(&self, i: usize) -> String {
        format!("tsv{}p{i}", std::process::id())
    }

    /// The host's address on the bridge: where namespaced nodes reach the
    /// control plane and the gateway.
    pub fn host_ip(&self) -> String {
        format!("10.213.{}.1", self.subnet)
    }

    pub fn node_ip(&self, i: usize) -> String {
        format!("10.213.{}.{}", self.subnet, 10 + i)
    }

    /// The namespace node `i` runs in.
    pub fn namespace(&self, i: usize) -> &str {
        &self.nodes[i]
    }

    /// Cuts node `i` off from every other process.
    pub fn partition(&self, i: usize) -> Result<(), String> {
        ip(&["-n", &self.switch, "link", "set", &self.port(i), "down"])
    }

    pub fn heal(&self, i: usize) -> Result<(), String> {
        ip(&["-n", &self.switch, "link", "set", &self.port(i), "up"])
    }

    /// Drops every packet node `i` sends, while what others send it still
    /// arrives: a one-way cut-off (it hears requests, and may act on them,
    /// but its answers never arrive). Needs iptables.
    pub fn silence(&self, i: usize) -> Result<(), String> {
        self.output_rule(i, "-A")
    }

    pub fn unsilence(&self, i: usize) -> Result<(), String> {
        self.output_rule(i, "-D")
    }

    fn output_rule(&self, i: usize, action: &str) -> Result<(), String> {
        let ns = &self.nodes[i];
        ip(&[
            "netns", "exec", ns, "iptables", action, "OUTPUT", "!", "-o", "lo", "-j", "DROP",
        ])
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        // Deleting a namespace deletes its links, and a veth goes with its peer.
        for ns in &self.nodes {
            let _ = ip(&["netns", "del", ns]);
        }
        let _ = ip(&["netns", "del", &self.switch]);
    }
}
