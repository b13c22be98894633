//! What each replica of a collection holds, read straight from the data nodes
//! (bypassing the gateway), so a test can tell whether replicas are identical.

use std::collections::BTreeMap;

use tessera_proto::common::ShardTarget;
use tessera_proto::control_plane::WatchTopologyRequest;
use tessera_proto::data_plane as dp;
use tessera_proto::data_plane::data_plane_client::DataPlaneClient;
use tessera_runtime::internal_auth::{internal, InternalChannel};
use tessera_types::{
    PeerId, PointId, ReplicaState, ScrollRequest, ShardId, Topology, WithPayload, WithVector,
};

use crate::process::ProcessCluster;
use crate::wait;
use crate::Rest;

/// One replica's content: every point as JSON (payload and vectors), and the
/// last operation it applied.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplicaContent {
    pub shard_id: ShardId,
    pub peer_id: PeerId,
    pub state: ReplicaState,
    pub applied_seq: u64,
    /// The epoch of that operation.
    pub applied_epoch: u64,
    pub points: BTreeMap<PointId, String>,
}

/// A client of the data node at `uri`, as the cluster's own services reach
/// it (TLS and internal token included, when the test installed them).
pub async fn data_node_client(uri: &str) -> Result<DataPlaneClient<InternalChannel>, String> {
    let channel = tessera_runtime::tls::endpoint(uri)
        .map_err(|e| e.to_string())?
        .connect()
        .await
        .map_err(|e| format!("{uri}: {e}"))?;
    Ok(DataPlaneClient::new(internal(channel)))
}

/// The topology as a running control-plane node streams it.
pub async fn topology(cluster: &ProcessCluster) -> Topology {
    let mut last = String::new();
    for i in 0..cluster.control_plane_count() {
        match cluster
            .control_plane_client(i)
            .watch_topology(WatchTopologyRequest {})
            .await
        {
            Ok(stream) => match stream.into_inner().message().await {
                Ok(Some(t)) => return Topology::try_from(t).expect("a valid topology"),
                other => last = format!("{other:?}"),
            },
            Err(e) => last = e.to_string(),
        }
    }
    panic!("no control plane streamed the topology: {last}");
}

/// The content of every readable replica of `collection`.
pub async fn contents(cluster: &ProcessCluster, collection: &str) -> Vec<ReplicaContent> {
    let topology = topology(cluster).await;
    let state = &topology.collections[collection];
    let mut out = Vec::new();
    for shard in &state.shards {
        for replica in shard.replicas.iter().filter(|r| r.state.is_readable()) {
            let uri = topology.peers[&replica.peer_id].uri.clone();
            let mut client = data_node_client(&uri)
                .await
                .expect("connect to a data node");
            let request = dp::ScrollRequest {
                target: Some(ShardTarget {
                    collection: collection.to_string(),
                    incarnation: state.incarnation,
                    shard_id: shard.shard_id,
                    topology_version: topology.version,
                }),
                ..dp::ScrollRequest::from(&ScrollRequest {
                    offset: None,
                    limit: usize::MAX / 2,
                    filter: None,
                    with_payload: WithPayload::Enable(true),
                    with_vector: WithVector::Enable(true),
                    order_by: None,
                })
            };
            let reply = client
                .scroll(request)
                .await
                .unwrap_or_else(|e| {
                    panic!(
                        "scroll shard {} on peer {}: {e}",
                        shard.shard_id, replica.peer_id
                    )
                })
                .into_inner();
            let points = reply
                .records
                .into_iter()
                .map(|r| {
                    let r = tessera_types::Record::try_from(r).expect("a valid record");
                    let json = serde_json::to_string(&(&r.payload, &r.vector)).expect("json");
                    (r.id, json)
                })
                .collect();
            out.push(ReplicaContent {
                shard_id: shard.shard_id,
                peer_id: replica.peer_id,
                state: replica.state,
                applied_seq: reply.applied_seq,
                applied_epoch: reply.applied_epoch,
                points,
            });
        }
    }
    out
}

/// The statistics of the replica on `peer`, as it reports them (any state;
/// listeners included): points, indexed vectors, segments.
pub async fn shard_stats(
    topology: &Topology,
    collection: &str,
    shard_id: ShardId,
    peer: PeerId,
) -> Result<dp::ShardStatsReply, String> {
    let state = &topology.collections[collection];
    let uri = topology.peers[&peer].uri.clone();
    let mut client = data_node_client(&uri).await?;
    client
        .shard_stats(dp::ShardStatsRequest {
            target: Some(ShardTarget {
                collection: collection.to_string(),
                incarnation: state.incarnation,
                shard_id,
                topology_version: topology.version,
            }),
            with_payload_bytes: false,
        })
        .await
        .map(|r| r.into_inner())
        .map_err(|e| e.to_string())
}

/// Checks that every shard's readable replicas hold the same points and have
/// applied the same operations; returns a description of the first
/// difference.
pub fn identical(contents: &[ReplicaContent]) -> Result<(), String> {
    let mut by_shard: BTreeMap<ShardId, Vec<&ReplicaContent>> = BTreeMap::new();
    for c in contents {
        by_shard.entry(c.shard_id).or_default().push(c);
    }
    for (shard, replicas) in by_shard {
        let first = replicas[0];
        for other in &replicas[1..] {
            if other.applied_seq != first.applied_seq || other.points != first.points {
                let differing = first
                    .points
                    .keys()
                    .chain(other.points.keys())
                    .find(|id| first.points.get(id) != other.points.get(id));
                return Err(format!(
                    "shard {shard}: peer {} (seq {}, {} points) and peer {} (seq {}, {} points) differ, first at {differing:?}",
                    first.peer_id,
                    first.applied_seq,
                    first.points.len(),
                    other.peer_id,
                    other.applied_seq,
                    other.points.len()
                ));
            }
        }
    }
    Ok(())
}

/// Replica states of `collection` as a gateway's `GET /collections/{c}/cluster`
/// shows them: (shard, peer, state).
pub async fn states(gateway: &Rest, collection: &str) -> Vec<(u64, u64, String)> {
    let info = gateway
        .get(&format!("/collections/{collection}/cluster"))
        .await;
    info.result()["remote_shards"]
        .as_array()
        .expect("remote_shards")
        .iter()
        .map(|r| {
            (
                r["shard_id"].as_u64().unwrap_or_default(),
                r["peer_id"].as_u64().unwrap_or_default(),
                r["state"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// Waits until every shard of `collection` has `per_shard` replicas, all
/// Active, and the replicas read straight from the data nodes are identical.
pub async fn wait_in_sync(cluster: &ProcessCluster, collection: &str, per_shard: usize) {
    wait::until(
        "every replica in sync",
        std::time::Duration::from_secs(90),
        || async {
            let states = states(&cluster.rest(), collection).await;
            let shards: std::collections::BTreeSet<u64> = states.iter().map(|s| s.0).collect();
            if states.iter().any(|s| s.2 != "Active") || states.len() != shards.len() * per_shard {
                return Err(format!("states: {states:?}"));
            }
            identical(&contents(cluster, collection).await)
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
}
