//! Snapshots as users take, list, download and recover them, for a
//! collection, one shard, or the whole storage (every collection).
//!
//! Data nodes keep the files (`ShardClient::store_snapshot`); the gateway composes
//! them: a collection snapshot is a tar archive streamed into one node's store
//! (the keeper, the primary of the collection's first shard) from shard
//! snapshots that the nodes holding in-sync replicas pack. Listing and
//! downloading ask every data node, so a snapshot is found wherever it was
//! kept. Recovering stages the file in a node's store (where it is checked
//! whole: a damaged file changes nothing), creates the collection if it is
//! missing, and replaces every in-sync replica of each shard with the
//! snapshot's data; replicas out of sync catch up from their primary after.

mod archive;
mod restore;
mod source;

use futures::future::join_all;
use futures::{Stream, StreamExt};
use tessera_types::shard_client::{SnapshotFile, SnapshotKind, SnapshotLocation};
use tessera_types::time::UtcDateTime;
use tessera_types::{
    shard_entry, CollectionSnapshotManifest, CollectionState, NodeType, PeerId, ShardId,
    ShardRouting, ShardingMethod, SnapshotDescription, SnapshotPriority, SnapshotRecover,
    TesseraError, Topology, COLLECTION_MANIFEST,
};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use crate::routing::target;
use crate::service::{replica_deadline, Gateway, Result};

pub use tessera_types::shard_client::ByteStream;

/// What a snapshot is of, which names its place in a node's store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SnapshotScope {
    Collection(String),
    Shard(String, ShardId),
    Full,
}

impl SnapshotScope {
    fn store_path(&self) -> String {
        match self {
            SnapshotScope::Collection(name) => format!("collections/{name}"),
            SnapshotScope::Shard(name, id) => format!("collections/{name}/shards/{id}"),
            SnapshotScope::Full => "full".into(),
        }
    }

    fn kind(&self) -> SnapshotKind {
        match self {
            SnapshotScope::Collection(_) => SnapshotKind::Collection,
            SnapshotScope::Shard(..) => SnapshotKind::Shard,
            SnapshotScope::Full => SnapshotKind::Full,
        }
    }
}

const STAGING: &str = "staging";

impl Gateway {
    /// `POST /collections/{c}/snapshots`, `POST /collections/{c}/shards/{id}/snapshots`,
    /// `POST /snapshots`.
    pub async fn create_snapshot(&self, scope: &SnapshotScope) -> Result<SnapshotDescription> {
        let topology = self.topology().current();
        let stamp = UtcDateTime::now().file_stamp();
        let (keeper, name) = match scope {
            SnapshotScope::Collection(collection) => {
                let (_, state) = self.collection(collection)?;
                let keeper = keeper(&topology, Some(&state))?;
                (keeper, format!("{collection}-{keeper}-{stamp}.snapshot"))
            }
            SnapshotScope::Shard(collection, shard_id) => {
                let (_, state) = self.collection(collection)?;
                let keeper = in_sync_replica(&topology, &state, *shard_id)?;
                (
                    keeper,
                    format!("{collection}-shard-{shard_id}-{keeper}-{stamp}.snapshot"),
                )
            }
            SnapshotScope::Full => {
                let keeper = keeper(&topology, None)?;
                (keeper, format!("full-snapshot-{stamp}.snapshot"))
            }
        };
        let location = SnapshotLocation {
            scope: scope.store_path(),
            name,
            entry: String::new(),
        };
        let (tx, upload) = self.start_upload(&topology, keeper, location, scope.kind())?;
        let written = match scope {
            SnapshotScope::Collection(collection) => {
                let (_, state) = self.collection(collection)?;
                self.send_collection(&topology, &state, "", &tx).await?;
                send(&tx, archive::end()).await
            }
            SnapshotScope::Shard(collection, shard_id) => {
                let (_, state) = self.collection(collection)?;
                let mut chunks = self.shard_snapshot(&topology, &state, *shard_id).await?;
                let mut result = Ok(());
                while let Some(chunk) = chunks.next().await {
                    result = match chunk {
                        Ok(data) => send(&tx, data).await,
                        Err(e) => Err(e),
                    };
                    if result.is_err() {
                        break;
                    }
                }
                result
            }
            SnapshotScope::Full => {
                let mut result = Ok(());
                for state in topology.collections.values() {
                    let prefix = format!("collections/{}/", state.name);
                    result = self.send_collection(&topology, state, &prefix, &tx).await;
                    if result.is_err() {
                        break;
                    }
                }
                match result {
                    Ok(()) => send(&tx, archive::end()).await,
                    err => err,
                }
            }
        };
        if let Err(e) = written {
            abandon(tx, upload, &e).await;
            return Err(e);
        }
        drop(tx);
        let info = upload.await.map_err(TesseraError::internal_from)??;
        tracing::info!(snapshot = %info.name, peer = keeper, bytes = info.size, "snapshot created");
        Ok(description(info))
    }

    /// Every snapshot of `scope` on any data node, by name.
    pub async fn list_snapshots(&self, scope: &SnapshotScope) -> Result<Vec<SnapshotDescription>> {
        self.check_scope(scope)?;
        let mut listed: Vec<SnapshotDescription> = self
            .list_on_peers(scope)
            .await
            .into_iter()
            .map(|(_, info)| description(info))
            .collect();
        listed.sort_by(|a, b| a.name.cmp(&b.name));
        listed.dedup_by(|a, b| a.name == b.name);
        Ok(listed)
    }

    /// Deletes the snapshot from every node that keeps it; 404 when none does.
    pub async fn delete_snapshot(&self, scope: &SnapshotScope, name: &str) -> Result<bool> {
        self.check_scope(scope)?;
        let topology = self.topology().current();
        let location = SnapshotLocation {
            scope: scope.store_path(),
            name: name.to_string(),
            entry: String::new(),
        };
        let replies = join_all(topology.peers.keys().map(|&peer| {
            let location = location.clone();
            let topology = &topology;
            async move {
                let node = self.data_planes().shards(topology, peer)?;
                node.delete_snapshot(location, replica_deadline()).await
            }
        }))
        .await;
        let mut found = false;
        for reply in replies {
            match reply {
                Ok(deleted) => found |= deleted,
                Err(e @ TesseraError::BadInput(_)) => return Err(e),
                Err(_) => {}
            }
        }
        if !found {
            return Err(snapshot_not_found(name));
        }
        Ok(true)
    }

    /// The bytes of a stored snapshot, from whichever node keeps it.
    pub async fn download_snapshot(&self, scope: &SnapshotScope, name: &str) -> Result<ByteStream> {
        self.check_scope(scope)?;
        let topology = self.topology().current();
        let keeper = self
            .list_on_peers(scope)
            .await
            .into_iter()
            .find(|(_, info)| info.name == name)
            .map(|(peer, _)| peer)
            .ok_or_else(|| snapshot_not_found(name))?;
        let location = SnapshotLocation {
            scope: scope.store_path(),
            name: name.to_string(),
            entry: String::new(),
        };
        let node = self.data_planes().shards(&topology, keeper)?;
        node.read_snapshot(location).await
    }

    /// `GET /collections/{c}/shards/{id}/snapshot`: a shard snapshot streamed
    /// as it is packed, kept nowhere.
    pub async fn stream_shard_snapshot(
        &self,
        collection: &str,
        shard_id: ShardId,
    ) -> Result<ByteStream> {
        let (topology, state) = self.collection(collection)?;
        self.shard_snapshot(&topology, &state, shard_id).await
    }

    /// `PUT /collections/{c}/snapshots/recover` and the shard one.
    pub async fn recover_snapshot(
        &self,
        scope: &SnapshotScope,
        request: SnapshotRecover,
    ) -> Result<bool> {
        // A shard is recovered into an existing collection: checked before
        // the location, as Qdrant does.
        if let SnapshotScope::Shard(collection, _) = scope {
            self.collection(collection)?;
        }
        let source = source::open(&request.location, request.api_key.as_deref()).await?;
        self.recover_from(scope, source, request).await
    }

    /// Recovers from a snapshot's bytes: staged and checked first, so a
    /// damaged file changes nothing.
    pub async fn recover_from(
        &self,
        scope: &SnapshotScope,
        mut source: impl Stream<Item = Result<Vec<u8>>> + Unpin + Send,
        request: SnapshotRecover,
    ) -> Result<bool> {
        let topology = self.topology().current();
        let existing = match scope {
            SnapshotScope::Collection(name) => topology.resolve(name).cloned(),
            SnapshotScope::Shard(name, _) => Some(self.collection(name)?.1),
            SnapshotScope::Full => {
                return Err(TesseraError::bad_input(
                    "a full snapshot is recovered collection by collection",
                ))
            }
        };
        let stager = keeper(&topology, existing.as_ref())?;
        let staged = SnapshotLocation {
            scope: STAGING.into(),
            name: format!("recover-{}.snapshot", uuid::Uuid::new_v4().simple()),
            entry: String::new(),
        };
        let (tx, upload) = self.start_upload(&topology, stager, staged.clone(), scope.kind())?;
        let mut sent = Ok(());
        while let Some(chunk) = source.next().await {
            sent = match chunk {
                Ok(data) => send(&tx, data).await,
                Err(e) => Err(e),
            };
            if sent.is_err() {
                break;
            }
        }
        if let Err(e) = sent {
            abandon(tx, upload, &e).await;
            return Err(e);
        }
        drop(tx);
        let info = upload.await.map_err(TesseraError::internal_from)??;
        let outcome = self
            .recover_staged(scope, existing, stager, &staged, &info, &request)
            .await;
        let node = self.data_planes().shards(&topology, stager)?;
        if let Err(e) = node.delete_snapshot(staged, replica_deadline()).await {
            tracing::warn!(error = %e, "could not remove a staged snapshot");
        }
        outcome
    }

    async fn recover_staged(
        &self,
        scope: &SnapshotScope,
        existing: Option<CollectionState>,
        stager: PeerId,
        staged: &SnapshotLocation,
        info: &SnapshotFile,
        request: &SnapshotRecover,
    ) -> Result<bool> {
        request.check_checksum(&info.checksum)?;
        let priority = request.priority.unwrap_or_default();
        match scope {
            SnapshotScope::Shard(collection, shard_id) => {
                let (_, state) = self.collection(collection)?;
                state
                    .shard(*shard_id)
                    .ok_or_else(|| shard_not_found(collection, *shard_id))?;
                let source = (stager, staged.clone());
                self.restore_shard(&state, *shard_id, priority, source)
                    .await?;
            }
            SnapshotScope::Collection(collection) => {
                let manifest = self.read_manifest(stager, staged).await?;
                let created = existing.is_none();
                let state = match existing {
                    Some(state) => state,
                    None => self.create_from_manifest(collection, &manifest).await?,
                };
                manifest.check_fits(&state)?;
                // A collection made for the snapshot holds nothing to prefer.
                let priority = if created {
                    SnapshotPriority::Snapshot
                } else {
                    priority
                };
                for shard in &manifest.shards {
                    let source = SnapshotLocation {
                        entry: shard_entry(shard.shard_id),
                        ..staged.clone()
                    };
                    self.restore_shard(&state, shard.shard_id, priority, (stager, source))
                        .await?;
                }
            }
            SnapshotScope::Full => unreachable!("refused before staging"),
        }
        tracing::info!(location = %request.location, ?priority, "snapshot recovered");
        Ok(true)
    }

    async fn read_manifest(
        &self,
        peer: PeerId,
        staged: &SnapshotLocation,
    ) -> Result<CollectionSnapshotManifest> {
        let topology = self.topology().current();
        let node = self.data_planes().shards(&topology, peer)?;
        let location = SnapshotLocation {
            entry: COLLECTION_MANIFEST.into(),
            ..staged.clone()
        };
        let mut json = Vec::new();
        let mut chunks = node.read_snapshot(location).await?;
        while let Some(chunk) = chunks.next().await {
            json.extend(chunk?);
        }
        serde_json::from_slice(&json)
            .map_err(|e| TesseraError::bad_input(format!("Snapshot manifest is unreadable: {e}")))
    }

    /// Makes the collection a snapshot was taken of, with its payload indexes.
    async fn create_from_manifest(
        &self,
        name: &str,
        manifest: &CollectionSnapshotManifest,
    ) -> Result<CollectionState> {
        if manifest.config.params.sharding_method == Some(ShardingMethod::Custom) {
            return Err(TesseraError::Unimplemented(
                "recovering a custom-sharded collection snapshot needs the collection and its shard keys to exist first".into(),
            ));
        }
        if manifest.routing != ShardRouting::Ring {
            return Err(TesseraError::bad_input(format!(
                "Snapshot of `{}` routes points by {:?}; only an existing collection with the same routing can take it",
                manifest.collection, manifest.routing
            )));
        }
        self.create_collection(name, manifest.create_request()?)
            .await?;
        for (field, schema) in &manifest.payload_schema {
            self.create_payload_index(name, field, schema.clone())
                .await?;
        }
        tracing::info!(collection = name, from = %manifest.collection, "created a collection for a snapshot");
        Ok(self.collection(name)?.1)
    }

    /// Streams the archive entries of one collection into `tx`: its manifest,
    /// then each shard as an in-sync replica packs it.
    async fn send_collection(
        &self,
        topology: &Topology,
        state: &CollectionState,
        prefix: &str,
        tx: &mpsc::Sender<Result<Vec<u8>>>,
    ) -> Result<()> {
        let manifest = serde_json::to_vec_pretty(&CollectionSnapshotManifest::of(state))
            .map_err(TesseraError::internal_from)?;
        send(tx, archive::manifest_entry(prefix, &manifest)?).await?;
        for shard in &state.shards {
            let (size, mut chunks) = self
                .sized_shard_snapshot(topology, state, shard.shard_id)
                .await?;
            let path = format!("{prefix}{}", shard_entry(shard.shard_id));
            send(tx, archive::entry_header(&path, size)?).await?;
            let mut sent = 0u64;
            while let Some(chunk) = chunks.next().await {
                let data = chunk?;
                sent += data.len() as u64;
                send(tx, data).await?;
            }
            if sent != size {
                return Err(TesseraError::Unavailable(format!(
                    "shard {} snapshot broke off after {sent} of {size} bytes",
                    shard.shard_id
                )));
            }
            send(tx, archive::padding(size)).await?;
        }
        Ok(())
    }

    async fn shard_snapshot(
        &self,
        topology: &Topology,
        state: &CollectionState,
        shard_id: ShardId,
    ) -> Result<ByteStream> {
        let (_, chunks) = self.sized_shard_snapshot(topology, state, shard_id).await?;
        Ok(chunks)
    }

    /// A shard snapshot packed by an in-sync replica, with its size.
    async fn sized_shard_snapshot(
        &self,
        topology: &Topology,
        state: &CollectionState,
        shard_id: ShardId,
    ) -> Result<(u64, ByteStream)> {
        let peer = in_sync_replica(topology, state, shard_id)?;
        let node = self.data_planes().shards(topology, peer)?;
        node.shard_snapshot(target(topology, state, shard_id)).await
    }

    /// Opens an upload into `peer`'s store; returns the feed and the call.
    /// Aborting the call (or sending an error) keeps nothing in the store.
    #[allow(clippy::type_complexity)]
    fn start_upload(
        &self,
        topology: &Topology,
        peer: PeerId,
        location: SnapshotLocation,
        kind: SnapshotKind,
    ) -> Result<(
        mpsc::Sender<Result<Vec<u8>>>,
        tokio::task::JoinHandle<Result<SnapshotFile>>,
    )> {
        let node = self.data_planes().shards(topology, peer)?;
        let (tx, rx) = mpsc::channel(4);
        let upload = tokio::spawn(async move {
            node.store_snapshot(location, kind, Box::pin(ReceiverStream::new(rx)))
                .await
        });
        Ok((tx, upload))
    }

    async fn list_on_peers(&self, scope: &SnapshotScope) -> Vec<(PeerId, SnapshotFile)> {
        let topology = self.topology().current();
        let replies = join_all(topology.peers.keys().map(|&peer| {
            let topology = &topology;
            async move {
                let node = self.data_planes().shards(topology, peer)?;
                node.list_snapshots(scope.store_path(), replica_deadline())
                    .await
                    .map(|files| (peer, files))
            }
        }))
        .await;
        let mut listed = Vec::new();
        for reply in replies {
            match reply {
                Ok((peer, files)) => listed.extend(files.into_iter().map(|s| (peer, s))),
                Err(e) => tracing::warn!(error = %e, "a data node did not list its snapshots"),
            }
        }
        listed
    }

    /// Collection and shard scopes name a collection that exists (listing the
    /// snapshots of a deleted one still works: they outlive it).
    fn check_scope(&self, scope: &SnapshotScope) -> Result<()> {
        if let SnapshotScope::Shard(name, shard_id) = scope {
            let (_, state) = self.collection(name)?;
            state
                .shard(*shard_id)
                .ok_or_else(|| shard_not_found(name, *shard_id))?;
        }
        Ok(())
    }
}

/// Ends an upload in `error` (a feed that merely closed would read as a
/// whole file): the store keeps nothing of it.
async fn abandon(
    tx: mpsc::Sender<Result<Vec<u8>>>,
    upload: tokio::task::JoinHandle<Result<SnapshotFile>>,
    error: &TesseraError,
) {
    let _ = tx.send(Err(error.clone())).await;
    upload.abort();
}

async fn send(tx: &mpsc::Sender<Result<Vec<u8>>>, data: Vec<u8>) -> Result<()> {
    tx.send(Ok(data)).await.map_err(|_| {
        TesseraError::Unavailable("the data node stopped receiving the snapshot".into())
    })
}

/// The node that keeps a new snapshot: the primary of the collection's first
/// shard (alive, or the shard would have another), else the lowest-numbered
/// data node.
fn keeper(topology: &Topology, collection: Option<&CollectionState>) -> Result<PeerId> {
    if let Some(primary) = collection.and_then(|c| c.shards.first()).map(|s| s.primary) {
        return Ok(primary);
    }
    topology
        .peers
        .values()
        .filter(|p| p.node_type == NodeType::Normal)
        .map(|p| p.id)
        .min()
        .ok_or_else(|| TesseraError::Unavailable("the cluster has no data nodes".into()))
}

/// An in-sync replica of the shard, the primary first.
fn in_sync_replica(
    topology: &Topology,
    state: &CollectionState,
    shard_id: ShardId,
) -> Result<PeerId> {
    let placement = state
        .shard(shard_id)
        .ok_or_else(|| shard_not_found(&state.name, shard_id))?;
    let readable = placement.readable();
    if readable.contains(&placement.primary) {
        return Ok(placement.primary);
    }
    readable
        .into_iter()
        .find(|peer| topology.peers.contains_key(peer))
        .ok_or_else(|| TesseraError::Unavailable(format!("shard {shard_id} has no active replica")))
}

fn shard_not_found(collection: &str, shard_id: ShardId) -> TesseraError {
    TesseraError::not_found(format!(
        "Shard {shard_id} of collection `{collection}` does not exist"
    ))
}

fn snapshot_not_found(name: &str) -> TesseraError {
    TesseraError::not_found(format!("Snapshot {name} not found"))
}

fn description(info: SnapshotFile) -> SnapshotDescription {
    SnapshotDescription {
        name: info.name,
        creation_time: Some(UtcDateTime::from_unix_seconds(info.created_unix_seconds).iso_local()),
        size: info.size,
        checksum: (!info.checksum.is_empty()).then_some(info.checksum),
    }
}
