//! Checks shared by the gRPC edge (to reject early, without a log entry) and
//! the state machine (to stay correct when the topology changed in between).

use tessera_types::{
    CollectionState, CreateCollection, NodeType, ShardRouting, ShardingMethod, TesseraError,
    Topology,
};

use super::placement::place_shards;

const MAX_NAME_CHARS: usize = 255;
const FORBIDDEN_NAME_CHARS: [char; 10] = ['/', '\\', ':', '*', '?', '"', '<', '>', '|', '\0'];

/// Collection names become directory names on data-plane nodes, hence the rules.
pub fn validate_collection_name(name: &str) -> Result<(), TesseraError> {
    if name.is_empty() {
        return Err(TesseraError::bad_input("Collection name must not be empty"));
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(TesseraError::bad_input(format!(
            "Collection name must be at most {MAX_NAME_CHARS} characters long"
        )));
    }
    if let Some(c) = name.chars().find(|c| FORBIDDEN_NAME_CHARS.contains(c)) {
        return Err(TesseraError::bad_input(format!(
            "Collection name `{}` must not contain {:?}",
            name.escape_debug(),
            c
        )));
    }
    Ok(())
}

/// The collection `request` would create in `topology`, with its shards placed
/// on the Normal data-plane peers.
pub fn plan_collection(
    topology: &Topology,
    name: &str,
    request: CreateCollection,
    incarnation: u64,
) -> Result<CollectionState, TesseraError> {
    validate_collection_name(name)?;
    if topology.collections.contains_key(name) {
        return Err(TesseraError::AlreadyExists(format!(
            "Collection `{name}` already exists!"
        )));
    }
    if topology.aliases.contains_key(name) {
        return Err(TesseraError::bad_input(format!(
            "Can't create collection with name {name}. Alias with the same name already exists"
        )));
    }
    // `peers` is a BTreeMap, so these ids come out sorted.
    let normal_peers: Vec<_> = topology
        .data_peers()
        .filter(|p| p.node_type == NodeType::Normal)
        .map(|p| p.id)
        .collect();
    let config = request.into_config(normal_peers.len())?;
    if normal_peers.is_empty() {
        return Err(TesseraError::Unavailable(
            "no data-plane nodes are registered".into(),
        ));
    }
    let listeners: Vec<_> = topology
        .data_peers()
        .filter(|p| p.node_type == NodeType::Listener)
        .map(|p| p.id)
        .collect();
    // A custom-sharded collection gets its shards with each shard key.
    let shards = if config.params.sharding_method == Some(ShardingMethod::Custom) {
        Vec::new()
    } else {
        place_shards(
            &normal_peers,
            &topology.zones(),
            &listeners,
            config.params.shard_number,
            config.params.replication_factor,
        )
    };
    Ok(CollectionState {
        name: name.to_string(),
        incarnation,
        config,
        shards,
        payload_schema: Default::default(),
        transfers: Vec::new(),
        routing: ShardRouting::default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_directory_rules() {
        assert!(validate_collection_name("my_collection-1").is_ok());
        assert!(validate_collection_name(&"x".repeat(255)).is_ok());
        assert!(validate_collection_name("").is_err());
        assert!(validate_collection_name(&"x".repeat(256)).is_err());
        for bad in [
            "a/b", "a\\b", "a:b", "a*", "a?", "\"a\"", "<a", "a>", "a|b", "a\0",
        ] {
            let err = validate_collection_name(bad).unwrap_err();
            assert!(matches!(err, TesseraError::BadInput(_)), "{bad:?}: {err:?}");
        }
    }

    #[test]
    fn a_collection_needs_a_normal_data_peer() {
        let mut topology = Topology::default();
        topology.peers.insert(
            7,
            tessera_types::Peer {
                id: 7,
                uri: "http://listener:6334".into(),
                node_type: NodeType::Listener,
                last_heartbeat_ms: 0,
                zone: None,
            },
        );
        let request: CreateCollection =
            serde_json::from_str(r#"{"vectors": {"size": 4, "distance": "Dot"}}"#).unwrap();
        let err = plan_collection(&topology, "c", request, 1).unwrap_err();
        assert_eq!(
            err,
            TesseraError::Unavailable("no data-plane nodes are registered".into())
        );
    }
}
