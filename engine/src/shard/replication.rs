//! The shard's side of replication: operations carry their identity in the shard's one
//! order (`OpId`: the primary's epoch and a sequence number). A primary assigns them; a
//! replica applies them strictly in sequence, skips the ones it has, and refuses those
//! that do not follow its own history. Histories are compared by epoch: within one
//! epoch a single primary assigned each sequence number once, so equal `(epoch, seq)`
//! means the same operation and the same history before it.

use std::time::{Duration, Instant};

use tessera_types::{OpId, ShardOperation};

use super::{apply, prepare, Inner, Shard, ShardError};

/// What a replica did with forwarded operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replicated {
    /// All applied (or already there).
    Applied,
    /// Operations before the first one are missing; the replica has up to `last`.
    Gap { last: OpId },
    /// The replica's history differs from the sender's: only a snapshot mends it.
    Diverged { last: OpId },
}

/// An operation a primary ordered, as the replicas must apply it.
pub struct Ordered {
    pub id: OpId,
    /// The epoch of the operation before it.
    pub prev_epoch: u64,
    /// The operation as logged (vectors validated and normalized).
    pub op: ShardOperation,
}

/// The epoch of operation `seq` in a history whose epochs began at `epochs`.
pub(crate) fn epoch_at(epochs: &[(u64, u64)], seq: u64) -> u64 {
    if seq == 0 {
        return 0;
    }
    epochs
        .iter()
        .rev()
        .find(|(first, _)| *first <= seq)
        .map(|(_, epoch)| *epoch)
        .unwrap_or(0)
}

/// Records that `id` is in the history, opening a new epoch when it starts one.
pub(crate) fn note_epoch(epochs: &mut Vec<(u64, u64)>, id: OpId) {
    if epochs.last().is_none_or(|(_, epoch)| *epoch != id.epoch) {
        epochs.push((id.seq, id.epoch));
    }
}

impl Inner {
    /// Logs and applies `op` (already prepared) as the next operation. Caller holds
    /// `apply_lock`.
    fn append_and_apply(&self, epoch: u64, op: ShardOperation) -> Result<OpId, ShardError> {
        let segments = self.segments();
        let plan = apply::plan(&segments, &op)?;
        let seq = self.wal.append(epoch, &op)?;
        let id = OpId { epoch, seq };
        note_epoch(&mut self.epochs.write(), id);
        apply::apply(&segments, seq, op, plan);
        self.appendable_dirty.store(true, Ordering::Release);
        Ok(id)
    }

    fn sync(&self, wait: bool, seq: u64) -> Result<(), ShardError> {
        if wait {
            self.wal.sync_to(seq)?;
        }
        Ok(())
    }
}

use std::sync::atomic::Ordering;

impl Shard {
    /// The last operation this replica holds.
    pub fn last_op(&self) -> OpId {
        self.inner.wal.last_op()
    }

    /// What the WAL keeps behind each checkpoint for replicas that fall behind.
    pub fn set_wal_retention(&self, retention: super::WalRetention) {
        self.inner.wal_keeper.set_retention(retention);
    }

    /// Keeps the operations after `after` in the WAL for `holder` (a replica catching
    /// up), until it unpins or stops renewing the pin for a few minutes.
    pub fn pin_wal(&self, holder: &str, after: u64) {
        self.inner.wal_keeper.pin(holder, after);
    }

    pub fn unpin_wal(&self, holder: &str) {
        self.inner.wal_keeper.unpin(holder);
    }

    /// As primary in `epoch`: orders `op` after everything before, logs and applies it.
    pub fn apply_as_primary(
        &self,
        epoch: u64,
        op: ShardOperation,
        wait: bool,
    ) -> Result<Ordered, ShardError> {
        let ordered = {
            let _writer = self.inner.apply_lock.lock();
            let last = self.inner.wal.last_op();
            if epoch < last.epoch {
                return Err(ShardError::Stale(format!(
                    "this replica is at epoch {}, the write was sent for epoch {epoch}",
                    last.epoch
                )));
            }
            let op = {
                let config = self.inner.config.read();
                super::resources::check(&config, &self.inner.dir, &op)?;
                prepare(op, &config)?
            };
            let id = self.inner.append_and_apply(epoch, op.clone())?;
            self.inner.applied.notify_all();
            Ordered {
                id,
                prev_epoch: last.epoch,
                op,
            }
        };
        self.inner.sync(wait, ordered.id.seq)?;
        Ok(ordered)
    }

    /// As a replica: applies consecutive operations `ops` from the primary, the first of
    /// which follows an operation of epoch `prev_epoch`. One that comes before its
    /// predecessor waits up to `gap_wait` for it (forwards travel concurrently).
    pub fn apply_replicated(
        &self,
        prev_epoch: u64,
        ops: Vec<(OpId, ShardOperation)>,
        wait: bool,
        gap_wait: Duration,
    ) -> Result<Replicated, ShardError> {
        let Some(first) = ops.first().map(|(id, _)| *id) else {
            return Ok(Replicated::Applied);
        };
        let deadline = Instant::now() + gap_wait;
        let mut writer = self.inner.apply_lock.lock();
        while self.inner.wal.last_seq() + 1 < first.seq {
            if self
                .inner
                .applied
                .wait_until(&mut writer, deadline)
                .timed_out()
            {
                return Ok(Replicated::Gap {
                    last: self.inner.wal.last_op(),
                });
            }
        }
        let mut prev = prev_epoch;
        let mut last_applied = 0;
        for (id, op) in ops {
            let last = self.inner.wal.last_op();
            if id.seq <= last.seq {
                // Already here, if the histories agree at this point.
                let mine = epoch_at(&self.inner.epochs.read(), id.seq);
                if mine != id.epoch {
                    return Ok(Replicated::Diverged { last });
                }
            } else if prev != last.epoch {
                return Ok(Replicated::Diverged { last });
            } else {
                self.inner.append_and_apply(id.epoch, op)?;
                self.inner.applied.notify_all();
            }
            last_applied = id.seq;
            prev = id.epoch;
        }
        drop(writer);
        self.inner.sync(wait, last_applied)?;
        Ok(Replicated::Applied)
    }

    /// Up to `max` operations that follow `after` (a replica's last operation), if this
    /// replica's WAL still holds them and `after` is in its history; `None` means the
    /// replica must start over from a snapshot.
    #[allow(clippy::type_complexity)]
    pub fn ops_after(
        &self,
        after: OpId,
        max: usize,
    ) -> Result<Option<Vec<(OpId, ShardOperation)>>, ShardError> {
        let last = self.inner.wal.last_op();
        if after.seq > last.seq || epoch_at(&self.inner.epochs.read(), after.seq) != after.epoch {
            return Ok(None);
        }
        Ok(self.inner.wal.read_after(after.seq, max)?)
    }

    /// Writes a snapshot to `out` and returns the last operation it holds. With a
    /// `holder` (a replica that continues from it) the WAL keeps the operations after
    /// it until the replica asks for them (its own pin takes over) or the lease runs out.
    pub fn snapshot_at(
        &self,
        out: &std::path::Path,
        holder: Option<&str>,
    ) -> Result<OpId, ShardError> {
        let seq = self.snapshot_pinning(out, holder)?;
        Ok(OpId {
            epoch: epoch_at(&self.inner.epochs.read(), seq),
            seq,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epochs_of_a_history() {
        let mut epochs = Vec::new();
        for (seq, epoch) in [(1, 1), (2, 1), (3, 2), (4, 2), (5, 5)] {
            note_epoch(&mut epochs, OpId { epoch, seq });
        }
        assert_eq!(epochs, vec![(1, 1), (3, 2), (5, 5)]);
        assert_eq!(epoch_at(&epochs, 0), 0);
        assert_eq!(epoch_at(&epochs, 2), 1);
        assert_eq!(epoch_at(&epochs, 4), 2);
        assert_eq!(epoch_at(&epochs, 9), 5);
    }
}
