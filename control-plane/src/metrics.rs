//! What a control-plane node reports on `/metrics`, read from Raft and the
//! topology at each scrape: term, log and applied index, role and leader, the
//! data peers and whether this node hears their heartbeats, collections,
//! replicas by state, transfers, and shards stranded on lost peers. A recovery's progress is reported by its
//! target data node.

use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{IntGauge, IntGaugeVec, Opts, Registry};
use tessera_types::Topology;
use tokio::sync::watch;

use crate::grpc::Heartbeats;
use crate::raft::Raft;
use crate::ReconcilerOptions;

pub struct ControlPlaneGauges {
    raft: Raft,
    topology: watch::Receiver<Topology>,
    heartbeats: Heartbeats,
    liveness: ReconcilerOptions,
    term: IntGauge,
    last_log_index: IntGauge,
    applied_index: IntGauge,
    role: IntGaugeVec,
    leader: IntGaugeVec,
    voters: IntGauge,
    topology_version: IntGauge,
    peer_up: IntGaugeVec,
    collections: IntGauge,
    replicas: IntGaugeVec,
    transfers: IntGauge,
    stranded: IntGauge,
    /// Scrapes reset and refill the gauges: one at a time.
    scrape: std::sync::Mutex<()>,
}

fn gauge(name: &str, help: &str) -> prometheus::Result<IntGauge> {
    IntGauge::with_opts(Opts::new(name, help))
}

fn gauges(name: &str, help: &str, labels: &[&str]) -> prometheus::Result<IntGaugeVec> {
    IntGaugeVec::new(Opts::new(name, help), labels)
}

impl ControlPlaneGauges {
    /// Registers this node's gauges in `registry`.
    pub fn register(
        registry: &Registry,
        raft: Raft,
        topology: watch::Receiver<Topology>,
        heartbeats: Heartbeats,
        liveness: ReconcilerOptions,
    ) -> prometheus::Result<()> {
        let collector = ControlPlaneGauges {
            raft,
            topology,
            heartbeats,
            liveness,
            term: gauge("tessera_raft_term", "Raft term this node is in")?,
            last_log_index: gauge(
                "tessera_raft_last_log_index",
                "Index of the last entry in this node's Raft log",
            )?,
            applied_index: gauge(
                "tessera_raft_applied_index",
                "Index of the last committed entry this node applied",
            )?,
            role: gauges(
                "tessera_raft_role",
                "1 for this node's Raft role (leader, follower, candidate, learner)",
                &["role"],
            )?,
            leader: gauges(
                "tessera_raft_leader",
                "1 for the node this node knows as leader",
                &["node_id"],
            )?,
            voters: gauge("tessera_raft_voters", "Voters in the control-plane group")?,
            topology_version: gauge(
                "tessera_topology_version",
                "Version of the topology this node has applied",
            )?,
            peer_up: gauges(
                "tessera_peer_up",
                "1 when this node heard a data peer's heartbeat within the dead-after time \
                 (the leader hears them all)",
                &["peer_id", "uri"],
            )?,
            collections: gauge("tessera_collections", "Collections in the topology")?,
            replicas: gauges(
                "tessera_shard_replicas",
                "Shard replicas by collection and state",
                &["collection", "state"],
            )?,
            transfers: gauge(
                "tessera_shard_transfers",
                "Shard transfers in progress across the cluster",
            )?,
            stranded: gauge(
                "tessera_shards_stranded",
                "Shards whose every in-sync copy is on data peers the leader has not heard \
                 from for the dead-peer timeout: nothing can recover them (0 on followers)",
            )?,
            scrape: Default::default(),
        };
        registry.register(Box::new(collector))
    }

    fn parts(&self) -> [&dyn Collector; 12] {
        [
            &self.term,
            &self.last_log_index,
            &self.applied_index,
            &self.role,
            &self.leader,
            &self.voters,
            &self.topology_version,
            &self.peer_up,
            &self.collections,
            &self.replicas,
            &self.transfers,
            &self.stranded,
        ]
    }

    fn refresh(&self) {
        let raft = self.raft.metrics().borrow().clone();
        self.term.set(raft.current_term as i64);
        self.last_log_index
            .set(raft.last_log_index.unwrap_or_default() as i64);
        self.applied_index
            .set(raft.last_applied.map_or(0, |log| log.index) as i64);
        self.role.reset();
        self.role
            .with_label_values(&[&format!("{:?}", raft.state).to_lowercase()])
            .set(1);
        self.leader.reset();
        if let Some(leader) = raft.current_leader {
            self.leader.with_label_values(&[&leader.to_string()]).set(1);
        }
        self.voters
            .set(raft.membership_config.membership().voter_ids().count() as i64);

        let topology = self.topology.borrow();
        self.topology_version.set(topology.version as i64);
        self.peer_up.reset();
        for peer in topology.data_peers() {
            let up = self
                .heartbeats
                .last_seen(peer.id)
                .is_some_and(|seen| seen.elapsed() < self.liveness.dead_after);
            self.peer_up
                .with_label_values(&[&peer.id.to_string(), &peer.uri])
                .set(up.into());
        }
        self.collections.set(topology.collections.len() as i64);
        self.replicas.reset();
        for collection in topology.collections.values() {
            for replica in collection.shards.iter().flat_map(|s| &s.replicas) {
                self.replicas
                    .with_label_values(&[&collection.name, &format!("{:?}", replica.state)])
                    .inc();
            }
        }
        self.transfers.set(
            topology
                .collections
                .values()
                .map(|c| c.transfers.len() as i64)
                .sum(),
        );
        // Only the leader hears every heartbeat (a former leader's are stale).
        let leads = raft.state == openraft::ServerState::Leader;
        let lost = topology
            .data_peers()
            .map(|p| p.id)
            .filter(|&p| {
                self.heartbeats
                    .last_seen(p)
                    .is_some_and(|seen| seen.elapsed() >= self.liveness.lost_after)
            })
            .collect();
        let stranded = if leads {
            crate::reconciler::stranded(&topology, &lost).len()
        } else {
            0
        };
        self.stranded.set(stranded as i64);
    }
}

impl Collector for ControlPlaneGauges {
    fn desc(&self) -> Vec<&Desc> {
        self.parts().into_iter().flat_map(|c| c.desc()).collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let _one_scrape = self.scrape.lock().unwrap_or_else(|e| e.into_inner());
        self.refresh();
        self.parts().into_iter().flat_map(|c| c.collect()).collect()
    }
}
