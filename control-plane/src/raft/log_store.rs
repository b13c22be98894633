//! The Raft log and vote in sled. Entries are encoded by `codec` under their
//! big-endian index, so sled's key order is log order.

// openraft's StorageError is large, and the storage traits must return it.
#![allow(clippy::result_large_err)]

use std::fmt::Debug;
use std::ops::RangeBounds;

use openraft::storage::{LogFlushed, RaftLogStorage};
use openraft::{
    AnyError, Entry, LogId, LogState, RaftLogId, RaftLogReader, StorageError, StorageIOError, Vote,
};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{codec, NodeId, TypeConfig};

type StorageResult<T> = Result<T, StorageError<NodeId>>;
type IoError = fn(AnyError) -> StorageIOError<NodeId>;

const VOTE_KEY: &[u8] = b"vote";
const COMMITTED_KEY: &[u8] = b"committed";
const LAST_PURGED_KEY: &[u8] = b"last_purged";

/// Cheap to clone: the clones share sled's trees, which is how openraft's
/// separate log readers see the log.
#[derive(Clone)]
pub struct LogStore {
    logs: sled::Tree,
    meta: sled::Tree,
}

impl LogStore {
    pub fn new(logs: sled::Tree, meta: sled::Tree) -> Self {
        Self { logs, meta }
    }

    /// The number of entries on disk: the log not yet purged behind a snapshot.
    pub fn stored_entries(&self) -> u64 {
        self.logs.len() as u64
    }

    fn read_meta<T: DeserializeOwned>(&self, key: &[u8], err: IoError) -> StorageResult<Option<T>> {
        let Some(bytes) = self.meta.get(key).map_err(|e| err(AnyError::new(&e)))? else {
            return Ok(None);
        };
        let value = codec::decode(&bytes).map_err(|e| err(AnyError::new(&e)))?;
        Ok(Some(value))
    }

    /// Writes and flushes: openraft relies on the vote and purge marker being
    /// durable when these calls return.
    async fn write_meta<T: Serialize>(
        &self,
        key: &[u8],
        value: &T,
        err: IoError,
    ) -> StorageResult<()> {
        let bytes = codec::encode(value).map_err(|e| err(AnyError::new(&e)))?;
        self.meta
            .insert(key, bytes)
            .map_err(|e| err(AnyError::new(&e)))?;
        self.meta
            .flush_async()
            .await
            .map_err(|e| err(AnyError::new(&e)))?;
        Ok(())
    }

    fn last_log_id(&self) -> StorageResult<Option<LogId<NodeId>>> {
        match self.logs.last().map_err(read_logs)? {
            Some((_, bytes)) => Ok(Some(*decode_entry(&bytes)?.get_log_id())),
            None => Ok(None),
        }
    }

    /// Removes every entry whose index is in `range`.
    async fn remove(&self, range: impl RangeBounds<[u8; 8]>) -> StorageResult<()> {
        let mut batch = sled::Batch::default();
        for item in self.logs.range(range) {
            let (key, _) = item.map_err(read_logs)?;
            batch.remove(key);
        }
        self.logs.apply_batch(batch).map_err(write_logs)?;
        self.logs.flush_async().await.map_err(write_logs)?;
        Ok(())
    }
}

fn read_logs(e: sled::Error) -> StorageIOError<NodeId> {
    StorageIOError::read_logs(AnyError::new(&e))
}

fn write_logs(e: sled::Error) -> StorageIOError<NodeId> {
    StorageIOError::write_logs(AnyError::new(&e))
}

fn decode_entry(bytes: &[u8]) -> StorageResult<Entry<TypeConfig>> {
    Ok(codec::decode(bytes).map_err(|e| StorageIOError::read_logs(AnyError::new(&e)))?)
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(
        &mut self,
        range: RB,
    ) -> StorageResult<Vec<Entry<TypeConfig>>> {
        let start = match range.start_bound() {
            std::ops::Bound::Included(i) => *i,
            std::ops::Bound::Excluded(i) => i.saturating_add(1),
            std::ops::Bound::Unbounded => 0,
        };
        let mut entries = Vec::new();
        for item in self.logs.range(start.to_be_bytes()..) {
            let (_, bytes) = item.map_err(read_logs)?;
            let entry = decode_entry(&bytes)?;
            if !range.contains(&entry.log_id.index) {
                break;
            }
            entries.push(entry);
        }
        Ok(entries)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> StorageResult<LogState<TypeConfig>> {
        let last_purged_log_id =
            self.read_meta::<LogId<NodeId>>(LAST_PURGED_KEY, StorageIOError::read_logs)?;
        let last_log_id = self.last_log_id()?.or(last_purged_log_id);
        Ok(LogState {
            last_purged_log_id,
            last_log_id,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> StorageResult<()> {
        self.write_meta(VOTE_KEY, vote, StorageIOError::write_vote)
            .await
    }

    async fn read_vote(&mut self) -> StorageResult<Option<Vote<NodeId>>> {
        self.read_meta(VOTE_KEY, StorageIOError::read_vote)
    }

    async fn save_committed(&mut self, committed: Option<LogId<NodeId>>) -> StorageResult<()> {
        self.write_meta(COMMITTED_KEY, &committed, StorageIOError::write)
            .await
    }

    async fn read_committed(&mut self) -> StorageResult<Option<LogId<NodeId>>> {
        Ok(self
            .read_meta::<Option<LogId<NodeId>>>(COMMITTED_KEY, StorageIOError::read)?
            .flatten())
    }

    async fn append<I>(&mut self, entries: I, callback: LogFlushed<TypeConfig>) -> StorageResult<()>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + Send,
        I::IntoIter: Send,
    {
        let mut batch = sled::Batch::default();
        for entry in entries {
            let bytes = codec::encode(&entry)
                .map_err(|e| StorageIOError::write_log_entry(entry.log_id, AnyError::new(&e)))?;
            batch.insert(&entry.log_id.index.to_be_bytes(), bytes);
        }
        self.logs.apply_batch(batch).map_err(write_logs)?;
        let flushed = self.logs.flush_async().await;
        let result = flushed.map(drop).map_err(std::io::Error::other);
        callback.log_io_completed(result);
        Ok(())
    }

    async fn truncate(&mut self, log_id: LogId<NodeId>) -> StorageResult<()> {
        self.remove(log_id.index.to_be_bytes()..).await
    }

    async fn purge(&mut self, log_id: LogId<NodeId>) -> StorageResult<()> {
        // Record the purge point first: a crash in between leaves extra
        // entries, never a gap that get_log_state cannot explain.
        self.write_meta(LAST_PURGED_KEY, &log_id, StorageIOError::write_logs)
            .await?;
        self.remove(..=log_id.index.to_be_bytes()).await
    }
}

#[cfg(test)]
mod tests {
    use openraft::{CommittedLeaderId, EntryPayload};

    use super::*;
    use crate::topology::TopologyCommand;

    /// A log written before entries were tagged with their format (JSON)
    /// still reads, and new entries go after it in the tagged format.
    #[tokio::test]
    async fn a_log_written_as_json_still_reads() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::open(dir.path()).unwrap();
        let (logs, meta) = (db.open_tree("logs").unwrap(), db.open_tree("meta").unwrap());
        let command = TopologyCommand::DeleteCollection { name: "old".into() };
        let old = Entry::<TypeConfig> {
            log_id: LogId::new(CommittedLeaderId::new(1, 5), 1),
            payload: EntryPayload::Normal(command.clone()),
        };
        logs.insert(1u64.to_be_bytes(), serde_json::to_vec(&old).unwrap())
            .unwrap();
        let vote = Vote::<NodeId>::new_committed(1, 5);
        meta.insert(VOTE_KEY, serde_json::to_vec(&vote).unwrap())
            .unwrap();
        meta.insert(COMMITTED_KEY, b"null".to_vec()).unwrap();

        let mut store = LogStore::new(logs.clone(), meta);
        assert_eq!(store.read_vote().await.unwrap(), Some(vote));
        assert_eq!(store.read_committed().await.unwrap(), None);
        assert_eq!(
            store.get_log_state().await.unwrap().last_log_id,
            Some(old.log_id)
        );
        let read = store.try_get_log_entries(1..2).await.unwrap();
        assert_eq!(read[0].payload, EntryPayload::Normal(command));

        let new = Entry::<TypeConfig> {
            log_id: LogId::new(CommittedLeaderId::new(1, 5), 2),
            payload: EntryPayload::Blank,
        };
        logs.insert(2u64.to_be_bytes(), codec::encode(&new).unwrap())
            .unwrap();
        let read = store.try_get_log_entries(1..3).await.unwrap();
        assert_eq!(read.len(), 2);
        assert_eq!(read[1].log_id, new.log_id);
    }
}
