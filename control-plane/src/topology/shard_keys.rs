//! User-defined sharding: each shard key of a `sharding_method: custom`
//! collection owns its own shards, placed when the key is created.

use tessera_types::{CollectionState, CreateShardKey, NodeType, PeerId, TesseraError, Topology};

use super::placement::place_shards;

fn custom_collection<'a>(
    topology: &'a mut Topology,
    name: &str,
) -> Result<&'a mut CollectionState, TesseraError> {
    let collection = topology
        .collections
        .get_mut(name)
        .ok_or_else(|| TesseraError::collection_not_found(name))?;
    if !collection.is_custom_sharded() {
        return Err(TesseraError::bad_input(format!(
            "Collection `{name}` is sharded automatically: shard keys need sharding_method custom"
        )));
    }
    Ok(collection)
}

/// Adds `request.shards_number` shards (default: the collection's
/// `shard_number`) for a new shard key, on the peers of `placement` (default:
/// every normal data peer), each with its replicas. `request` is validated
/// with its cluster operation.
pub fn create(
    topology: &mut Topology,
    name: &str,
    request: &CreateShardKey,
) -> Result<bool, TesseraError> {
    let normal: Vec<PeerId> = topology
        .data_peers()
        .filter(|p| p.node_type == NodeType::Normal)
        .map(|p| p.id)
        .collect();
    let listeners: Vec<PeerId> = topology
        .data_peers()
        .filter(|p| p.node_type == NodeType::Listener)
        .map(|p| p.id)
        .collect();
    let mut peers = match &request.placement {
        Some(placement) => {
            if let Some(unknown) = placement.iter().find(|p| !normal.contains(p)) {
                return Err(TesseraError::not_found(format!(
                    "Peer {unknown} doesn't exist or is a listener"
                )));
            }
            placement.clone()
        }
        None => normal,
    };
    peers.sort_unstable();
    peers.dedup();
    let zones = topology.zones();
    let collection = custom_collection(topology, name)?;
    if collection.shard_keys().contains(&request.shard_key) {
        return Err(TesseraError::bad_input(format!(
            "Shard key {} already exists in collection `{name}`",
            request.shard_key
        )));
    }
    if peers.is_empty() {
        return Err(TesseraError::Unavailable(
            "no data-plane nodes are registered".into(),
        ));
    }
    let first = collection
        .shards
        .iter()
        .map(|s| s.shard_id + 1)
        .max()
        .unwrap_or(0);
    let count = request
        .shards_number
        .unwrap_or(collection.config.params.shard_number);
    let replication_factor = request
        .replication_factor
        .unwrap_or(collection.config.params.replication_factor);
    // Placed as shards first..first+count would be, so keys spread over peers.
    let placed = place_shards(
        &peers,
        &zones,
        &listeners,
        first + count,
        replication_factor,
    )
    .into_iter()
    .skip(first as usize);
    for mut shard in placed {
        shard.shard_key = Some(request.shard_key.clone());
        shard.replication_factor = request.replication_factor;
        collection.shards.push(shard);
    }
    Ok(true)
}

/// Removes a shard key's shards; their nodes delete the data.
pub fn drop(
    topology: &mut Topology,
    name: &str,
    key: &serde_json::Value,
) -> Result<bool, TesseraError> {
    let collection = custom_collection(topology, name)?;
    let gone: Vec<_> = collection
        .shards
        .iter()
        .filter(|s| s.shard_key.as_ref() == Some(key))
        .map(|s| s.shard_id)
        .collect();
    if gone.is_empty() {
        return Err(TesseraError::not_found(format!(
            "Shard key {key} not found in collection `{name}`"
        )));
    }
    collection.shards.retain(|s| !gone.contains(&s.shard_id));
    collection.transfers.retain(|t| !gone.contains(&t.shard_id));
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::TopologyCommand;
    use serde_json::json;

    fn cluster(sharding: &str) -> Topology {
        let mut t = Topology::default();
        for id in [1, 2, 3] {
            TopologyCommand::RegisterPeer {
                peer_id: id,
                uri: format!("http://node-{id}"),
                node_type: NodeType::Normal,
                zone: None,
            }
            .apply(&mut t, id);
        }
        let request = format!(
            r#"{{"vectors": {{"size": 2, "distance": "Dot"}}, "sharding_method": "{sharding}"}}"#
        );
        TopologyCommand::CreateCollection {
            name: "c".into(),
            request: Box::new(serde_json::from_str(&request).unwrap()),
            routing: tessera_types::ShardRouting::Ring,
        }
        .apply(&mut t, 4)
        .into_result()
        .unwrap();
        t
    }

    fn key(shard_key: serde_json::Value, shards_number: Option<u32>) -> CreateShardKey {
        CreateShardKey {
            shard_key,
            shards_number,
            replication_factor: None,
            placement: None,
        }
    }

    #[test]
    fn each_key_brings_its_own_shards_spread_over_peers() {
        let mut t = cluster("custom");
        assert!(t.collections["c"].shards.is_empty());
        create(&mut t, "c", &key(json!("a"), Some(2))).unwrap();
        create(&mut t, "c", &key(json!(7), None)).unwrap();
        let c = &t.collections["c"];
        let ids: Vec<_> = c.shards.iter().map(|s| (s.shard_id, s.primary)).collect();
        assert_eq!(ids, vec![(0, 1), (1, 2), (2, 3)]);
        assert_eq!(c.shard_keys(), vec![json!("a"), json!(7)]);
        let before = t.clone();
        assert!(create(&mut t, "c", &key(json!("a"), None)).is_err());
        assert!(matches!(
            drop(&mut t, "c", &json!("b")),
            Err(TesseraError::NotFound(_))
        ));
        assert_eq!(t, before);
        drop(&mut t, "c", &json!("a")).unwrap();
        assert_eq!(t.collections["c"].shard_keys(), vec![json!(7)]);
    }

    #[test]
    fn automatic_collections_take_no_keys() {
        let mut t = cluster("auto");
        assert!(matches!(
            create(&mut t, "c", &key(json!("a"), None)),
            Err(TesseraError::BadInput(_))
        ));
    }
}
