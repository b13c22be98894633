//! Commands carried by the Raft log, and what applying one returns.

use serde::{Deserialize, Serialize};
use tessera_types::{
    AliasOperation, ClusterOperation, CreateCollection, NodeType, PayloadFieldSchema, Peer, PeerId,
    QuotaConfig, ReplicaState, ReplicaStateChange, ShardId, ShardRouting, TesseraError, Topology,
    UpdateCollection,
};

use super::validation::plan_collection;
use super::{replicas, restore, transfers};

/// One change to the topology. Collection commands carry the user's request
/// rather than a finished config: defaults such as the shard count depend on the
/// peers at apply time, which only the state machine sees consistently.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum TopologyCommand {
    /// Adds a peer, or updates the uri, node type and zone of a known one.
    RegisterPeer {
        peer_id: PeerId,
        uri: String,
        node_type: NodeType,
        #[serde(default)]
        zone: Option<String>,
    },
    CreateCollection {
        name: String,
        request: Box<CreateCollection>,
        /// Chosen when the command is proposed, so replaying an entry written
        /// before the hash ring (which lacks it: `Modulo`) recreates the
        /// collection with the routing its points were placed by.
        #[serde(default)]
        routing: ShardRouting,
    },
    UpdateCollection {
        name: String,
        update: Box<UpdateCollection>,
    },
    DeleteCollection {
        name: String,
    },
    /// Indexes a payload field (or changes the type of its index).
    CreatePayloadIndex {
        collection: String,
        field: String,
        schema: PayloadFieldSchema,
    },
    DeletePayloadIndex {
        collection: String,
        field: String,
    },
    /// Removes a data-plane peer. Without `force` it is refused while the peer
    /// holds shard replicas; with it, those replicas are dropped as well.
    RemovePeer {
        peer_id: PeerId,
        force: bool,
    },
    /// Compare-and-set of replica states, all or none; a primary that leaves
    /// the in-sync set hands over to another Active replica.
    SetReplicaStates {
        changes: Vec<ReplicaStateChange>,
        epoch: Option<u64>,
    },
    AddReplica {
        collection: String,
        incarnation: u64,
        shard_id: ShardId,
        peer_id: PeerId,
        state: ReplicaState,
    },
    RemoveReplica {
        collection: String,
        incarnation: u64,
        shard_id: ShardId,
        peer_id: PeerId,
    },
    /// A user's move, replicate, drop, abort or restart (`transfers`).
    ClusterSetup {
        collection: String,
        operation: ClusterOperation,
    },
    /// Creates, deletes and renames aliases, all or none.
    UpdateAliases {
        actions: Vec<AliasOperation>,
    },
    /// Replaces the node-wide resource quota (`PUT /quotas`).
    SetQuota {
        config: QuotaConfig,
    },
    /// Fences a shard for a user's snapshot restore (`restore`).
    BeginShardRestore {
        collection: String,
        incarnation: u64,
        shard_id: ShardId,
    },
    /// Ends the restore begun at `epoch`: `restored` peers are in sync again
    /// (or, when none is, `unchanged` ones, which kept their data).
    FinishShardRestore {
        collection: String,
        incarnation: u64,
        shard_id: ShardId,
        epoch: u64,
        restored: Vec<PeerId>,
        unchanged: Vec<PeerId>,
    },
}

/// The outcome of a command that was accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Applied {
    /// The topology version after the command.
    pub topology_version: u64,
    /// Whether the command changed anything (and so bumped the version).
    pub changed: bool,
}

/// What the state machine returns for each log entry. A rejected command is a
/// normal outcome (the entry is applied, the topology is left as it was).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum CommandResponse {
    Applied(Applied),
    Rejected(#[serde(with = "TesseraErrorDef")] TesseraError),
}

impl CommandResponse {
    pub fn into_result(self) -> Result<Applied, TesseraError> {
        match self {
            CommandResponse::Applied(applied) => Ok(applied),
            CommandResponse::Rejected(err) => Err(err),
        }
    }
}

/// Serde mirror of `TesseraError`, which the shared types keep free of serde.
#[derive(Serialize, Deserialize)]
#[serde(remote = "TesseraError")]
enum TesseraErrorDef {
    BadInput(String),
    MalformedBody(String),
    NotFound(String),
    AlreadyExists(String),
    Unavailable(String),
    Timeout(String),
    Unimplemented(String),
    /// Its source stays on the node where it happened.
    Internal {
        message: String,
        #[serde(skip)]
        source: Option<tessera_types::error::ErrorSource>,
    },
    Stale(String),
    Validation(String),
    RateLimited {
        description: String,
        retry_after: Option<u64>,
    },
    BadRequest(String),
    QueryValidation(String),
    PathValidation(String),
    Inference(String),
    InsufficientStorage(String),
    Unreachable(String),
}

impl TopologyCommand {
    /// Applies the command, logged at `log_index`, to `topology`. A change bumps
    /// the version by one; a rejection leaves the topology untouched.
    pub fn apply(&self, topology: &mut Topology, log_index: u64) -> CommandResponse {
        match self.change(topology, log_index) {
            Ok(changed) => {
                if changed {
                    // A transfer ends in the entry that makes it end.
                    transfers::settle(topology);
                    topology.version += 1;
                }
                CommandResponse::Applied(Applied {
                    topology_version: topology.version,
                    changed,
                })
            }
            Err(err) => CommandResponse::Rejected(err),
        }
    }

    fn change(&self, topology: &mut Topology, log_index: u64) -> Result<bool, TesseraError> {
        match self {
            TopologyCommand::RegisterPeer {
                peer_id,
                uri,
                node_type,
                zone,
            } => {
                if topology.removed_peers.contains(peer_id) {
                    return Err(removed(*peer_id));
                }
                let peer = topology.peers.entry(*peer_id).or_insert_with(|| Peer {
                    id: *peer_id,
                    uri: String::new(),
                    node_type: *node_type,
                    last_heartbeat_ms: 0,
                    zone: None,
                });
                let mut changed =
                    peer.uri != *uri || peer.node_type != *node_type || peer.zone != *zone;
                peer.uri.clone_from(uri);
                peer.node_type = *node_type;
                peer.zone.clone_from(zone);
                // A node registers as it starts: the shards it led get a new
                // epoch, because its log may have lost an unsynced tail whose
                // operation ids it would otherwise hand out again.
                for shard in topology
                    .collections
                    .values_mut()
                    .flat_map(|c| &mut c.shards)
                    .filter(|s| s.primary == *peer_id)
                {
                    shard.epoch += 1;
                    changed = true;
                }
                Ok(changed)
            }
            TopologyCommand::CreateCollection {
                name,
                request,
                routing,
            } => {
                let mut collection =
                    plan_collection(topology, name, (**request).clone(), log_index)?;
                collection.routing = *routing;
                topology.collections.insert(name.clone(), collection);
                Ok(true)
            }
            TopologyCommand::UpdateCollection { name, update } => {
                let collection = topology
                    .collections
                    .get_mut(name)
                    .ok_or_else(|| TesseraError::collection_not_found(name))?;
                let config = update.apply_to(&collection.config)?;
                let changed = config != collection.config;
                if config.params.replication_factor != collection.config.params.replication_factor {
                    // A new factor applies to every shard, hand-set ones too.
                    for shard in &mut collection.shards {
                        shard.replication_factor = None;
                    }
                }
                collection.config = config;
                Ok(changed)
            }
            TopologyCommand::DeleteCollection { name } => {
                // Its aliases go with it.
                topology.aliases.retain(|_, collection| collection != name);
                Ok(topology.collections.remove(name).is_some())
            }
            TopologyCommand::CreatePayloadIndex {
                collection,
                field,
                schema,
            } => {
                let collection = topology
                    .collections
                    .get_mut(collection)
                    .ok_or_else(|| TesseraError::collection_not_found(collection))?;
                if field.is_empty() {
                    return Err(TesseraError::bad_input("field_name must not be empty"));
                }
                let previous = collection
                    .payload_schema
                    .insert(field.clone(), schema.clone());
                Ok(previous.as_ref() != Some(schema))
            }
            TopologyCommand::DeletePayloadIndex { collection, field } => {
                let collection = topology
                    .collections
                    .get_mut(collection)
                    .ok_or_else(|| TesseraError::collection_not_found(collection))?;
                Ok(collection.payload_schema.remove(field).is_some())
            }
            TopologyCommand::RemovePeer { peer_id, force } => {
                remove_peer(topology, *peer_id, *force)
            }
            TopologyCommand::SetReplicaStates { changes, epoch } => {
                replicas::set_states(topology, changes, *epoch)
            }
            TopologyCommand::AddReplica {
                collection,
                incarnation,
                shard_id,
                peer_id,
                state,
            } => replicas::add_replica(
                topology,
                collection,
                *incarnation,
                *shard_id,
                *peer_id,
                *state,
            ),
            TopologyCommand::RemoveReplica {
                collection,
                incarnation,
                shard_id,
                peer_id,
            } => replicas::remove_replica(topology, collection, *incarnation, *shard_id, *peer_id),
            TopologyCommand::ClusterSetup {
                collection,
                operation,
            } => transfers::apply(topology, collection, operation),
            TopologyCommand::UpdateAliases { actions } => {
                let before = topology.aliases.clone();
                topology.change_aliases(actions)?;
                Ok(topology.aliases != before)
            }
            TopologyCommand::SetQuota { config } => {
                config.validate()?;
                let changed = topology.quota != *config;
                topology.quota = *config;
                Ok(changed)
            }
            TopologyCommand::BeginShardRestore {
                collection,
                incarnation,
                shard_id,
            } => restore::begin(topology, collection, *incarnation, *shard_id),
            TopologyCommand::FinishShardRestore {
                collection,
                incarnation,
                shard_id,
                epoch,
                restored,
                unchanged,
            } => restore::finish(
                topology,
                (collection, *incarnation, *shard_id),
                *epoch,
                (restored, unchanged),
            ),
        }
    }
}

fn replicas_promote(
    shard: &mut tessera_types::ShardPlacement,
    leaving: PeerId,
) -> Result<(), TesseraError> {
    replicas::promote(shard, leaving)
}

/// Why a removed peer may not come back under its old id.
pub fn removed(peer_id: PeerId) -> TesseraError {
    TesseraError::bad_input(format!(
        "Peer {peer_id} was removed from the cluster; to join again, start it with an \
         empty data directory (it then registers as a new peer)"
    ))
}

fn remove_peer(
    topology: &mut Topology,
    peer_id: PeerId,
    force: bool,
) -> Result<bool, TesseraError> {
    if !topology.peers.contains_key(&peer_id) {
        return Err(TesseraError::not_found(format!(
            "Peer {peer_id} doesn't exist"
        )));
    }
    let holding: Vec<String> = topology
        .collections
        .values()
        .filter(|c| {
            c.shards
                .iter()
                .any(|s| s.replicas.iter().any(|r| r.peer_id == peer_id))
        })
        .map(|c| format!("`{}`", c.name))
        .collect();
    if !holding.is_empty() && !force {
        return Err(TesseraError::bad_input(format!(
            "Cannot remove peer {peer_id} as there are shards on it (collections {}); \
             move them off first, or pass force=true to drop its replicas",
            holding.join(", ")
        )));
    }
    let orphaned: Vec<String> = topology
        .collections
        .values()
        .flat_map(|c| {
            c.shards
                .iter()
                .filter(|s| {
                    s.replica(peer_id).is_some()
                        && !s
                            .replicas
                            .iter()
                            .any(|r| r.peer_id != peer_id && r.state.is_source_of_truth())
                })
                .map(move |s| format!("shard {} of `{}`", s.shard_id, c.name))
        })
        .collect();
    if !orphaned.is_empty() {
        return Err(TesseraError::bad_input(format!(
            "Cannot remove peer {peer_id}: it holds the last active replica of {}; \
             move them first, or delete the collection",
            orphaned.join(", ")
        )));
    }
    for collection in topology.collections.values_mut() {
        for shard in &mut collection.shards {
            if shard.primary == peer_id {
                replicas_promote(shard, peer_id)?;
            }
            shard.replicas.retain(|r| r.peer_id != peer_id);
        }
    }
    topology.peers.remove(&peer_id);
    topology.removed_peers.insert(peer_id);
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn register(id: PeerId) -> TopologyCommand {
        TopologyCommand::RegisterPeer {
            peer_id: id,
            uri: format!("http://node-{id}:6334"),
            node_type: NodeType::Normal,
            zone: None,
        }
    }

    fn create(name: &str) -> TopologyCommand {
        TopologyCommand::CreateCollection {
            name: name.into(),
            request: Box::new(
                serde_json::from_str(r#"{"vectors": {"size": 4, "distance": "Dot"}}"#).unwrap(),
            ),
            routing: ShardRouting::Ring,
        }
    }

    #[test]
    fn a_primary_that_registers_again_leads_in_a_new_epoch() {
        let mut topology = Topology::default();
        register(1).apply(&mut topology, 1);
        create("c").apply(&mut topology, 2);
        let epochs = |t: &Topology| -> Vec<u64> {
            t.collections["c"].shards.iter().map(|s| s.epoch).collect()
        };
        let before = epochs(&topology);
        let version = topology.version;
        let reply = register(1).apply(&mut topology, 3).into_result().unwrap();
        assert!(reply.changed);
        assert_eq!(reply.topology_version, version + 1);
        let after = epochs(&topology);
        assert!(
            before.iter().zip(&after).all(|(b, a)| *a == b + 1),
            "{before:?} -> {after:?}"
        );
        // A peer that leads nothing registers again without a change.
        register(2).apply(&mut topology, 4);
        let reply = register(2).apply(&mut topology, 5).into_result().unwrap();
        assert!(!reply.changed);
    }

    #[test]
    fn every_change_bumps_the_version_once() {
        let mut topology = Topology::default();
        let reply = register(3).apply(&mut topology, 1);
        assert_eq!(reply.into_result().unwrap().topology_version, 1);
        // The same registration again changes nothing.
        let reply = register(3).apply(&mut topology, 2).into_result().unwrap();
        assert_eq!(
            reply,
            Applied {
                topology_version: 1,
                changed: false
            }
        );
        create("c").apply(&mut topology, 3).into_result().unwrap();
        assert_eq!(topology.version, 2);
        assert_eq!(topology.collections["c"].incarnation, 3);
        // One shard per data peer by default.
        assert_eq!(topology.collections["c"].shards.len(), 1);
    }

    #[test]
    fn rejections_leave_the_topology_alone() {
        let mut topology = Topology::default();
        register(1).apply(&mut topology, 1);
        create("c").apply(&mut topology, 2);
        let before = topology.clone();
        let err = create("c")
            .apply(&mut topology, 3)
            .into_result()
            .unwrap_err();
        assert_eq!(
            err,
            TesseraError::AlreadyExists("Collection `c` already exists!".into())
        );
        let update = TopologyCommand::UpdateCollection {
            name: "missing".into(),
            update: Box::default(),
        };
        let err = update.apply(&mut topology, 4).into_result().unwrap_err();
        assert_eq!(err, TesseraError::collection_not_found("missing"));
        assert_eq!(topology, before);
    }

    #[test]
    fn deleting_a_missing_collection_is_not_a_change() {
        let mut topology = Topology::default();
        let delete = TopologyCommand::DeleteCollection { name: "c".into() };
        let reply = delete.apply(&mut topology, 1).into_result().unwrap();
        assert!(!reply.changed);
        assert_eq!(topology.version, 0);
    }

    #[test]
    fn a_peer_holding_replicas_is_removed_only_by_force() {
        let mut topology = Topology::default();
        register(1).apply(&mut topology, 1);
        register(2).apply(&mut topology, 2);
        let one_shard = r#"{"vectors": {"size": 4, "distance": "Dot"}, "shard_number": 1}"#;
        let create = TopologyCommand::CreateCollection {
            name: "c".into(),
            request: Box::new(serde_json::from_str(one_shard).unwrap()),
            routing: ShardRouting::Ring,
        };
        create.apply(&mut topology, 3).into_result().unwrap();
        let holder = topology.collections["c"].shards[0].replicas[0].peer_id;
        let idle = if holder == 1 { 2 } else { 1 };
        let before = topology.clone();

        let remove = |peer_id, force| TopologyCommand::RemovePeer { peer_id, force };
        let err = remove(holder, false)
            .apply(&mut topology, 4)
            .into_result()
            .unwrap_err();
        assert!(
            matches!(&err, TesseraError::BadInput(m) if m.contains("`c`") && m.contains("force=true")),
            "{err:?}"
        );
        assert_eq!(topology, before);
        let err = remove(99, false)
            .apply(&mut topology, 5)
            .into_result()
            .unwrap_err();
        assert_eq!(err, TesseraError::not_found("Peer 99 doesn't exist"));

        // A peer without replicas goes without force.
        remove(idle, false)
            .apply(&mut topology, 6)
            .into_result()
            .unwrap();
        assert!(!topology.peers.contains_key(&idle));
        // A removed peer may not come back under its id.
        let err = register(idle)
            .apply(&mut topology, 7)
            .into_result()
            .unwrap_err();
        assert!(
            matches!(&err, TesseraError::BadInput(m) if m.contains("was removed")),
            "{err:?}"
        );
        // Force does not drop the last copy of a shard.
        let before = topology.clone();
        let err = remove(holder, true)
            .apply(&mut topology, 8)
            .into_result()
            .unwrap_err();
        assert!(
            matches!(&err, TesseraError::BadInput(m) if m.contains("last active replica")),
            "{err:?}"
        );
        assert_eq!(topology, before);
        // Once the collection is gone, it goes.
        TopologyCommand::DeleteCollection { name: "c".into() }
            .apply(&mut topology, 9)
            .into_result()
            .unwrap();
        remove(holder, true)
            .apply(&mut topology, 10)
            .into_result()
            .unwrap();
        assert!(topology.peers.is_empty());
    }

    #[test]
    fn collections_logged_before_the_hash_ring_keep_modulo_routing() {
        let mut topology = Topology::default();
        register(1).apply(&mut topology, 1);
        // A CreateCollection entry as an earlier version wrote it.
        let old: TopologyCommand = serde_json::from_str(
            r#"{"CreateCollection": {"name": "old", "request": {"vectors": {"size": 4, "distance": "Dot"}}}}"#,
        )
        .unwrap();
        old.apply(&mut topology, 2).into_result().unwrap();
        create("new").apply(&mut topology, 3).into_result().unwrap();
        assert_eq!(topology.collections["old"].routing, ShardRouting::Modulo);
        assert_eq!(topology.collections["new"].routing, ShardRouting::Ring);
    }

    #[test]
    fn the_quota_is_set_validated_and_kept_with_the_topology() {
        let mut topology = Topology::default();
        let config: QuotaConfig =
            serde_json::from_str(r#"{"enabled": true, "max_disk_usage_percent": 90}"#).unwrap();
        let set = TopologyCommand::SetQuota { config };
        assert!(set.apply(&mut topology, 1).into_result().unwrap().changed);
        assert!(!set.apply(&mut topology, 2).into_result().unwrap().changed);
        let invalid = TopologyCommand::SetQuota {
            config: QuotaConfig {
                max_disk_usage_percent: Some(0),
                ..config
            },
        };
        let err = invalid.apply(&mut topology, 3).into_result().unwrap_err();
        assert!(matches!(err, TesseraError::Validation(_)), "{err:?}");
        // Persisted as part of the topology.
        let json = serde_json::to_string(&topology).unwrap();
        assert_eq!(
            serde_json::from_str::<Topology>(&json).unwrap().quota,
            config
        );
    }

    #[test]
    fn responses_survive_json() {
        let rejected = CommandResponse::Rejected(TesseraError::NotFound("x".into()));
        let json = serde_json::to_string(&rejected).unwrap();
        assert_eq!(
            serde_json::from_str::<CommandResponse>(&json).unwrap(),
            rejected
        );
    }
}
