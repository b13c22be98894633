//! `GET /cluster/telemetry` (Qdrant 1.17): the whole cluster at once, each
//! collection's shards with every replica's state and the transfers under
//! way, and the peers. Qdrant gathers it from every peer; the gateway already
//! holds it all in its topology.

use serde_json::{json, Map, Value};
use tessera_types::{ReplicaState, Topology};

/// Qdrant's `DistributedTelemetryData` from one topology.
pub fn cluster_telemetry(topology: &Topology) -> Value {
    let collections: Map<String, Value> = topology
        .collections
        .values()
        .map(|c| {
            let shards: Vec<Value> = c
                .shards
                .iter()
                .map(|shard| {
                    let replicas: Vec<Value> = shard
                        .replicas
                        .iter()
                        .map(|r| json!({ "peer_id": r.peer_id, "state": r.state }))
                        .collect();
                    let mut entry = json!({ "id": shard.shard_id, "replicas": replicas });
                    if let Some(key) = &shard.shard_key {
                        entry["key"] = json!(key);
                    }
                    entry
                })
                .collect();
            let mut entry = json!({ "id": c.name, "shards": shards });
            if !c.transfers.is_empty() {
                let transfers: Vec<Value> = c
                    .transfers
                    .iter()
                    .map(|t| {
                        json!({
                            "shard_id": t.shard_id,
                            "from": t.from,
                            "to": t.to,
                            "sync": t.sync,
                            "method": t.method,
                        })
                    })
                    .collect();
                entry["shard_transfers"] = json!(transfers);
            }
            (c.name.clone(), entry)
        })
        .collect();
    let peers: Map<String, Value> = topology
        .data_peers()
        .map(|peer| {
            // Without a replica that still counts, a peer is taken as gone:
            // the control plane marks every replica of an unresponsive peer.
            let replicas: Vec<ReplicaState> = topology
                .collections
                .values()
                .flat_map(|c| &c.shards)
                .filter_map(|s| s.state_of(peer.id))
                .collect();
            let responsive =
                replicas.is_empty() || replicas.iter().any(|s| *s != ReplicaState::Dead);
            let info = json!({ "uri": peer.uri, "responsive": responsive, "details": null });
            (peer.id.to_string(), info)
        })
        .collect();
    json!({
        "collections": collections,
        "cluster": {
            "enabled": true,
            "number_of_peers": peers.len(),
            "peers": peers,
        },
    })
}
