//! `GET /telemetry` as Qdrant answers it, at its detail levels: the process
//! (`id`, `app`), the collections, the cluster, the responses served (REST and
//! gRPC), and from level 1 memory, hardware and the search pool. The same
//! figures feed the Qdrant-named series on `/metrics` (`metrics`).

mod cluster_view;
pub mod metrics;
mod requests;

pub use cluster_view::cluster_telemetry;

use std::time::SystemTime;

use serde_json::{json, Map, Value};
use tessera_runtime::metrics::{Registry, RequestMetrics};
use tessera_types::time::UtcDateTime;
use tessera_types::QDRANT_COMPATIBLE_VERSION;
use uuid::Uuid;

use crate::service::{CollectionStats, Gateway, Result};

/// What the gateway keeps for telemetry: who it is, since when, and the
/// responses it has sent. Clones share it.
#[derive(Clone)]
pub struct Telemetry {
    id: Uuid,
    startup: SystemTime,
    /// The gateway's own Prometheus series (`tessera_*`), shown beside Qdrant's.
    pub registry: Registry,
    rest: RequestMetrics,
    grpc: RequestMetrics,
}

/// `?details_level=`, `?anonymize=`: what to report.
#[derive(Clone, Copy, Default)]
pub struct Detail {
    pub level: u32,
    pub anonymize: bool,
}

impl Telemetry {
    pub fn new(registry: Registry, rest: RequestMetrics, grpc: RequestMetrics) -> Self {
        Telemetry {
            id: Uuid::new_v4(),
            startup: SystemTime::now(),
            registry,
            rest,
            grpc,
        }
    }

    /// Qdrant's `TelemetryData` for this gateway.
    pub async fn collect(&self, gateway: &Gateway, detail: Detail) -> Result<Value> {
        let level = detail.level;
        let stats = gateway.all_collection_stats().await;
        let mut data = Map::new();
        data.insert("id".into(), json!(self.id.to_string()));
        data.insert("app".into(), self.app(level));
        data.insert(
            "collections".into(),
            collections(gateway, &stats, detail).await,
        );
        data.insert("cluster".into(), cluster(gateway, level).await?);
        data.insert(
            "requests".into(),
            json!({
                "rest": { "responses": requests::rest(&self.rest, level) },
                "grpc": { "responses": requests::grpc(&self.grpc, level) },
            }),
        );
        if level >= 1 {
            data.insert("memory".into(), memory());
            data.insert("hardware".into(), json!({ "collection_data": {} }));
            data.insert("search_pool".into(), search_pool());
        }
        data.insert("quota".into(), gateway.quota_telemetry().await);
        Ok(Value::Object(data))
    }

    fn app(&self, level: u32) -> Value {
        let mut app = json!({
            "name": "qdrant",
            "version": QDRANT_COMPATIBLE_VERSION,
            "startup": UtcDateTime::from_system_time(self.startup).rfc3339(),
        });
        if level >= 1 {
            app["features"] = json!({
                "debug": cfg!(debug_assertions),
                "service_debug_feature": false,
                "recovery_mode": false,
                "gpu": false,
                "rocksdb": false,
                "staging": false,
            });
        }
        app
    }

    pub(crate) fn rest(&self) -> &RequestMetrics {
        &self.rest
    }

    pub(crate) fn grpc(&self) -> &RequestMetrics {
        &self.grpc
    }
}

/// A collection's name, or under `?anonymize=true` a stable stand-in for it.
fn collection_id(name: &str, detail: Detail) -> String {
    if detail.anonymize {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        name.hash(&mut hasher);
        hasher.finish().to_string()
    } else {
        name.to_owned()
    }
}

async fn collections(gateway: &Gateway, stats: &[CollectionStats], detail: Detail) -> Value {
    let mut out = json!({ "number_of_collections": stats.len() });
    match detail.level {
        0 => {}
        // Level 1: aggregates, no names.
        1 => {
            let list: Vec<Value> = stats
                .iter()
                .map(|c| {
                    json!({
                        "vectors": c.vectors.values().sum::<u64>(),
                        "optimizers_status": c.optimizer_status(),
                        "params": c.state.config.params,
                    })
                })
                .collect();
            out["collections"] = json!(list);
            out["snapshots"] = json!([]);
        }
        level => {
            let mut list = Vec::new();
            for c in stats {
                let id = collection_id(&c.state.name, detail);
                // The gateway loads no collection: there is no load time to report.
                let mut entry = json!({ "id": id, "init_time_ms": 0, "config": c.state.config });
                if level >= 3 {
                    add_shards(gateway, c, &mut entry).await;
                }
                list.push(entry);
            }
            out["snapshots"] = json!(stats
                .iter()
                .map(|c| json!({ "id": collection_id(&c.state.name, detail) }))
                .collect::<Vec<_>>());
            out["collections"] = json!(list);
        }
    }
    out
}

/// Level 3: each shard's replicas and their states, and the transfers. The
/// gateway holds no replica itself, so every replica is listed as remote.
async fn add_shards(gateway: &Gateway, c: &CollectionStats, entry: &mut Value) {
    let shards: Vec<Value> = c
        .state
        .shards
        .iter()
        .map(|shard| {
            let states: Map<String, Value> = shard
                .replicas
                .iter()
                .map(|r| (r.peer_id.to_string(), json!(r.state)))
                .collect();
            let remote: Vec<Value> = shard
                .replicas
                .iter()
                .map(|r| json!({ "shard_id": shard.shard_id, "peer_id": r.peer_id }))
                .collect();
            json!({
                "id": shard.shard_id,
                "key": shard.shard_key,
                "local": null,
                "remote": remote,
                "replicate_states": states,
                "partial_snapshot": null,
            })
        })
        .collect();
    let transfers = gateway
        .collection_cluster_info(&c.state.name)
        .await
        .map(|info| json!(info.shard_transfers))
        .unwrap_or_else(|_| json!([]));
    entry["shards"] = json!(shards);
    entry["transfers"] = transfers;
    entry["resharding"] = json!([]);
}

/// Tessera's cluster is always on: its control plane is a Raft group even
/// with one member.
async fn cluster(gateway: &Gateway, level: u32) -> Result<Value> {
    let mut cluster = json!({ "enabled": true, "resharding_enabled": false });
    if level >= 1 {
        let status = gateway.cluster_status().await?;
        cluster["status"] = json!({
            "number_of_peers": status.peers.len(),
            "term": status.raft_info.term,
            "commit": status.raft_info.commit,
            "pending_operations": status.raft_info.pending_operations,
            "role": status.raft_info.role,
            "is_voter": status.raft_info.is_voter,
            "peer_id": status.peer_id,
            "consensus_thread_status": status.consensus_thread_status,
        });
    }
    Ok(cluster)
}

/// The process's memory as the kernel counts it (Tessera does not use
/// jemalloc, whose arena figures Qdrant reports): resident and mapped bytes.
fn memory() -> Value {
    let (virtual_bytes, resident_bytes) = process_memory().unwrap_or((0, 0));
    json!({
        "active_bytes": resident_bytes,
        "allocated_bytes": resident_bytes,
        "metadata_bytes": 0,
        "resident_bytes": resident_bytes,
        "retained_bytes": virtual_bytes,
    })
}

/// Virtual and resident bytes, from `/proc/self/statm` (pages).
fn process_memory() -> Option<(u64, u64)> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let mut pages = statm.split_whitespace().map(|n| n.parse::<u64>().ok());
    let (size, resident) = (pages.next()??, pages.next()??);
    const PAGE: u64 = 4096;
    Some((size * PAGE, resident * PAGE))
}

/// Searches run on one CPU-bound pool of a thread per core.
fn search_pool() -> Value {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    json!({ "mode": "high_cpu", "high_cpu_threads": threads, "high_io_threads": 0 })
}
