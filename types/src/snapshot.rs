//! Snapshots as users see them (Qdrant's listing and recover shapes) and the
//! manifest a collection snapshot carries.
//!
//! A collection snapshot is a tar archive: `collection.json` (a
//! [`CollectionSnapshotManifest`]) and one shard snapshot per shard at
//! `shards/<id>.snapshot`. A full snapshot holds one such archive's entries per
//! collection under `collections/<name>/`.

use serde::{Deserialize, Serialize};

use crate::collection::{CollectionConfig, CreateCollection, PayloadSchema};
use crate::error::{Result, TesseraError};
use crate::routing::ShardRouting;
use crate::topology::{CollectionState, ShardId};

/// The manifest's entry name inside a collection snapshot.
pub const COLLECTION_MANIFEST: &str = "collection.json";

/// The entry holding shard `shard_id` inside a collection snapshot.
pub fn shard_entry(shard_id: ShardId) -> String {
    format!("shards/{shard_id}.snapshot")
}

/// One snapshot file, as `GET .../snapshots` lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SnapshotDescription {
    pub name: String,
    pub creation_time: Option<String>,
    pub size: u64,
    /// SHA-256 of the file, hex.
    pub checksum: Option<String>,
}

/// Which data wins when a snapshot is recovered into a collection that has data.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum SnapshotPriority {
    /// Every replica is replaced by the snapshot, as is.
    NoSync,
    /// The snapshot replaces what every replica holds.
    Snapshot,
    /// Shards that hold points keep them; empty shards take the snapshot's.
    #[default]
    Replica,
}

/// Body of `PUT /collections/{c}/snapshots/recover` (and the shard one).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SnapshotRecover {
    /// `file:///path` on the gateway's machine, or an `http://` URL.
    pub location: String,
    #[serde(default)]
    pub priority: Option<SnapshotPriority>,
    /// SHA-256 the file must have, hex.
    #[serde(default)]
    pub checksum: Option<String>,
    /// Sent as the `api-key` header when fetching from a URL.
    #[serde(default)]
    pub api_key: Option<String>,
}

/// What a collection snapshot says about the collection it was taken of.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CollectionSnapshotManifest {
    pub collection: String,
    pub config: CollectionConfig,
    pub routing: ShardRouting,
    #[serde(default)]
    pub payload_schema: PayloadSchema,
    pub shards: Vec<SnapshotShard>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SnapshotShard {
    pub shard_id: ShardId,
    #[serde(default)]
    pub shard_key: Option<serde_json::Value>,
}

impl CollectionSnapshotManifest {
    pub fn of(collection: &CollectionState) -> Self {
        CollectionSnapshotManifest {
            collection: collection.name.clone(),
            config: collection.config.clone(),
            routing: collection.routing,
            payload_schema: collection.payload_schema.clone(),
            shards: collection
                .shards
                .iter()
                .map(|s| SnapshotShard {
                    shard_id: s.shard_id,
                    shard_key: s.shard_key.clone(),
                })
                .collect(),
        }
    }

    /// The request that makes a collection like the one snapshotted.
    pub fn create_request(&self) -> Result<CreateCollection> {
        let params = &self.config.params;
        Ok(CreateCollection {
            vectors: Some(params.vectors.clone()),
            shard_number: Some(params.shard_number),
            sharding_method: params.sharding_method,
            replication_factor: Some(params.replication_factor),
            write_consistency_factor: Some(params.write_consistency_factor),
            on_disk_payload: Some(params.on_disk_payload),
            hnsw_config: Some(
                serde_json::from_value(to_json(&self.config.hnsw_config)?)
                    .map_err(TesseraError::internal_from)?,
            ),
            wal_config: Some(to_json(&self.config.wal_config)?),
            optimizers_config: Some(to_json(&self.config.optimizer_config)?),
            quantization_config: self.config.quantization_config.clone(),
            ..Default::default()
        })
    }

    /// Whether the snapshot's shards can replace `collection`'s: the same
    /// shards, vectors and routing. Anything else would put points where the
    /// collection does not look for them.
    pub fn check_fits(&self, collection: &CollectionState) -> Result<()> {
        let mut ours: Vec<ShardId> = self.shards.iter().map(|s| s.shard_id).collect();
        let mut theirs: Vec<ShardId> = collection.shards.iter().map(|s| s.shard_id).collect();
        ours.sort_unstable();
        theirs.sort_unstable();
        let refuse = |why: String| {
            Err(TesseraError::bad_input(format!(
                "Snapshot of collection `{}` does not fit collection `{}`: {why}",
                self.collection, collection.name
            )))
        };
        if ours != theirs {
            return refuse(format!("it has shards {ours:?}, the collection {theirs:?}"));
        }
        if self.config.params.vectors != collection.config.params.vectors {
            return refuse("their vector parameters differ".into());
        }
        if self.routing != collection.routing {
            return refuse(format!(
                "it routes points by {:?}, the collection by {:?}",
                self.routing, collection.routing
            ));
        }
        Ok(())
    }
}

impl SnapshotRecover {
    /// Compares a file's SHA-256 with the one the user asked for.
    pub fn check_checksum(&self, actual: &str) -> Result<()> {
        match &self.checksum {
            Some(expected) if !expected.eq_ignore_ascii_case(actual) => {
                Err(TesseraError::bad_input(format!(
                    "Snapshot checksum mismatch: expected {expected}, got {actual}"
                )))
            }
            _ => Ok(()),
        }
    }
}

fn to_json<T: Serialize>(value: &T) -> Result<serde_json::Value> {
    serde_json::to_value(value).map_err(TesseraError::internal_from)
}
