//! Test topologies shared by the state machine's and the reconciler's tests.

use tessera_types::{
    CollectionState, NodeType, Peer, PeerId, Replica, ReplicaState, ShardPlacement, Topology,
};

/// Peers of the given types and collection `c` with one shard whose replicas
/// are `replicas` (the first is the primary), asking for `rf` copies.
pub fn one_shard_collection(
    peers: &[(PeerId, NodeType)],
    rf: u32,
    replicas: &[(PeerId, ReplicaState)],
) -> Topology {
    let mut t = Topology::default();
    for &(id, node_type) in peers {
        t.peers.insert(
            id,
            Peer {
                id,
                uri: String::new(),
                node_type,
                last_heartbeat_ms: 0,
                zone: None,
            },
        );
    }
    let body =
        format!(r#"{{"vectors": {{"size": 2, "distance": "Dot"}}, "replication_factor": {rf}}}"#);
    let config = serde_json::from_str::<tessera_types::CreateCollection>(&body)
        .unwrap()
        .into_config(1)
        .unwrap();
    t.collections.insert(
        "c".into(),
        CollectionState {
            name: "c".into(),
            incarnation: 1,
            config,
            shards: vec![ShardPlacement {
                shard_id: 0,
                shard_key: None,
                replicas: replicas
                    .iter()
                    .map(|&(peer_id, state)| Replica { peer_id, state })
                    .collect(),
                primary: replicas[0].0,
                epoch: 1,
                replication_factor: None,
            }],
            payload_schema: Default::default(),
            transfers: Vec::new(),
            routing: Default::default(),
        },
    );
    t
}
