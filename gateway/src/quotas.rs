//! The node-wide resource quota (`GET/PUT /quotas`, Qdrant 1.19): the config
//! is control-plane state, changed through Raft; the usage is each data node's,
//! since they hold the data and the gateway holds none.

use std::collections::BTreeMap;

use futures::future::join_all;
use serde::Serialize;
use serde_json::{json, Value};
use tessera_proto::control_plane as cp;
use tessera_proto::convert::to_msgpack;
use tessera_types::quota::NodeQuotaUsage;
use tessera_types::{PeerId, QuotaConfig};

use crate::service::{replica_deadline, Gateway, Result};

/// Qdrant's `QuotaStatus`.
#[derive(Debug, Serialize)]
pub struct QuotaStatus {
    pub config: QuotaConfig,
    pub usage: QuotaUsage,
    pub peers: BTreeMap<String, PeerQuotaUsage>,
}

#[derive(Debug, Default, Clone, Copy, Serialize)]
pub struct QuotaUsage {
    pub resident_memory_percent: Option<u8>,
    pub disk_usage_percent: Option<u8>,
}

#[derive(Debug, Serialize)]
pub struct PeerQuotaUsage {
    #[serde(flatten)]
    pub usage: QuotaUsage,
    /// Whether the peer refuses updates over an enforced limit.
    pub exceeded: bool,
}

impl Gateway {
    /// Replaces the quota; returns once this gateway sees it (the data nodes
    /// follow as their topology catches up).
    pub async fn set_quota(&self, config: QuotaConfig) -> Result<bool> {
        config.validate()?;
        let request = cp::SetQuotaRequest {
            config: to_msgpack(&config),
        };
        self.change(request, |mut c, r| async move { c.set_quota(r).await })
            .await?;
        Ok(true)
    }

    pub async fn quota_status(&self) -> QuotaStatus {
        let reports = self.node_quotas().await;
        // Qdrant reports the node that served the request; here no node
        // serves it alone, and the fullest data node is the one that refuses
        // writes first, so `usage` is the highest figure among them.
        let usage = QuotaUsage {
            resident_memory_percent: reports
                .values()
                .filter_map(|u| u.resident_memory_percent)
                .max(),
            disk_usage_percent: reports.values().filter_map(|u| u.disk_usage_percent).max(),
        };
        let peers = reports
            .iter()
            .map(|(peer, u)| {
                let usage = PeerQuotaUsage {
                    usage: QuotaUsage {
                        resident_memory_percent: u.resident_memory_percent,
                        disk_usage_percent: u.disk_usage_percent,
                    },
                    exceeded: u.resident_memory_exceeded == Some(true)
                        || u.disk_usage_exceeded == Some(true),
                };
                (peer.to_string(), usage)
            })
            .collect();
        QuotaStatus {
            config: self.topology().current().quota,
            usage,
            peers,
        }
    }

    /// Telemetry's `quota`: per resource, null where no data node enforces
    /// it, else whether any refuses writes over it.
    pub async fn quota_telemetry(&self) -> Value {
        let reports = self.node_quotas().await;
        let any = |verdict: fn(&NodeQuotaUsage) -> Option<bool>| {
            reports.values().filter_map(verdict).reduce(|a, b| a || b)
        };
        json!({
            "config": self.topology().current().quota,
            "exceeded": {
                "resident_memory": any(|u| u.resident_memory_exceeded),
                "disk_usage": any(|u| u.disk_usage_exceeded),
            },
        })
    }

    /// What every data node that answers reports; the others are left out,
    /// as Qdrant leaves out peers it cannot reach.
    async fn node_quotas(&self) -> BTreeMap<PeerId, NodeQuotaUsage> {
        let topology = self.topology().current();
        let replies = join_all(topology.data_peers().map(|peer| {
            let topology = &topology;
            async move {
                let node = self.data_planes().shards(topology, peer.id)?;
                let usage = node
                    .node_quota(topology.version, replica_deadline())
                    .await?;
                Ok::<_, tessera_types::TesseraError>((peer.id, usage))
            }
        }))
        .await;
        replies.into_iter().filter_map(Result::ok).collect()
    }
}
