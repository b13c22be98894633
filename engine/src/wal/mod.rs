//! The shard's write-ahead log: a directory of append-only segment files of checksummed
//! records, with group commit and truncation once a checkpoint covers old records.
//!
//! Each file is named after the sequence number of its first record (`{seq:020}.wal`) and
//! holds consecutive records. Record layout: `len: u32 LE | crc: u32 LE | body: len bytes`,
//! where the body is the operation and its identity in the shard's one order (see
//! [`OpId`]), encoded as [`record`] describes, and the crc covers the length bytes and
//! the body. A torn or corrupt tail of the last file (a crash mid-write) is cut
//! off on open; damage anywhere else, a gap in the numbering, or a record that passes its
//! checksum but cannot be decoded means lost or foreign data and stops the open.
//!
//! Appends only write; [`Wal::sync_to`] makes them durable. Concurrent callers of
//! `sync_to` share one `fdatasync`: whoever gets the sync lock flushes everything written
//! so far, and the others find their record already covered.

use std::fs::{File, OpenOptions};
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use tessera_types::{OpId, ShardOperation};

mod record;

const HEADER: usize = 8;
const SUFFIX: &str = ".wal";

#[derive(Debug, thiserror::Error)]
pub enum WalError {
    #[error("WAL I/O error: {0}")]
    Io(#[from] io::Error),
    #[error("WAL is corrupt: {0}")]
    Corrupt(String),
    #[error("cannot encode WAL record: {0}")]
    Encode(#[from] rmp_serde::encode::Error),
    #[error("WAL is unusable after a failed write or sync; reopen the shard")]
    Broken,
}

/// The file records are appended to.
struct Active {
    file: Arc<File>,
    first_seq: u64,
    /// Bytes of complete records; the file never holds more once an append returns.
    len: u64,
    last_seq: u64,
    last_epoch: u64,
}

pub struct Wal {
    dir: PathBuf,
    /// A file is closed and a new one started once it reaches this many bytes.
    file_capacity: u64,
    active: Mutex<Active>,
    /// Held by the one caller running `fdatasync` for the group.
    sync_lock: Mutex<()>,
    synced_seq: AtomicU64,
    /// Set when a write or sync failed in a way that leaves the file's contents unknown.
    broken: AtomicBool,
    /// Bytes appended since the log was opened; checkpoints are due by growth.
    appended_bytes: AtomicU64,
}

fn file_name(first_seq: u64) -> String {
    format!("{first_seq:020}{SUFFIX}")
}

/// The WAL files in `dir`, by first sequence number.
fn list_files(dir: &Path) -> io::Result<Vec<(u64, PathBuf)>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let first = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(SUFFIX))
            .and_then(|n| n.parse::<u64>().ok());
        if let Some(first) = first {
            files.push((first, path));
        }
    }
    files.sort();
    Ok(files)
}

impl Wal {
    /// Opens (or creates) the log in `dir` and hands every complete record after
    /// `checkpoint` to `replay`, in order; older records are already reflected in the
    /// caller's persisted state. A torn tail is truncated with a warning.
    pub fn open<E: From<WalError>>(
        dir: &Path,
        file_capacity: u64,
        checkpoint: OpId,
        mut replay: impl FnMut(OpId, ShardOperation) -> Result<(), E>,
    ) -> Result<Wal, E> {
        let (checkpoint, checkpoint_epoch) = (checkpoint.seq, checkpoint.epoch);
        std::fs::create_dir_all(dir).map_err(WalError::from)?;
        let files = list_files(dir).map_err(WalError::from)?;
        if let Some((first, path)) = files.first() {
            if *first > checkpoint + 1 {
                return Err(WalError::Corrupt(format!(
                    "{}: starts at record {first}, but records after {checkpoint} are needed",
                    path.display()
                ))
                .into());
            }
        }
        let mut last_seq = checkpoint;
        let mut last_epoch = checkpoint_epoch;
        let mut active = None;
        for (i, (first, path)) in files.iter().enumerate() {
            let is_last = i + 1 == files.len();
            let file = OpenOptions::new()
                .read(true)
                .append(true)
                .open(path)
                .map_err(WalError::from)?;
            let file_len = file.metadata().map_err(WalError::from)?.len();
            let mut reader = BufReader::new(&file);
            let mut offset = 0u64;
            let mut expected = *first;
            let torn = loop {
                let record = match read_record(&mut reader, file_len - offset) {
                    Ok(Some(record)) => record,
                    Ok(None) => break None,
                    Err(Torn(why)) => break Some(why),
                };
                let (OpId { seq, epoch }, op) = record::decode(&record).map_err(|e| {
                    WalError::Corrupt(format!(
                        "{}: record at byte {offset} passes its checksum but does not decode: {e}",
                        path.display()
                    ))
                })?;
                if seq != expected {
                    return Err(WalError::Corrupt(format!(
                        "{}: record at byte {offset} has sequence number {seq}, expected {expected}",
                        path.display()
                    ))
                    .into());
                }
                if seq > checkpoint {
                    replay(OpId { epoch, seq }, op)?;
                }
                if seq >= last_seq {
                    last_epoch = epoch;
                }
                expected = seq + 1;
                offset += (HEADER + record.len()) as u64;
            };
            if let Some(why) = torn {
                if !is_last {
                    return Err(WalError::Corrupt(format!(
                        "{}: damaged at byte {offset} ({why}) although later WAL files exist",
                        path.display()
                    ))
                    .into());
                }
                tracing::warn!(
                    wal = %path.display(),
                    offset,
                    dropped_bytes = file_len - offset,
                    reason = why,
                    "truncating torn WAL tail"
                );
                file.set_len(offset).map_err(WalError::from)?;
                file.sync_data().map_err(WalError::from)?;
            }
            // Later files must continue where this one ends.
            if let Some((next, next_path)) = files.get(i + 1) {
                // A gap is harmless only where the checkpoint already covers it.
                if *next < expected || *next > expected.max(checkpoint + 1) {
                    return Err(WalError::Corrupt(format!(
                        "{}: starts at record {next}, but the previous file ends before {expected}",
                        next_path.display()
                    ))
                    .into());
                }
            }
            last_seq = last_seq.max(expected - 1);
            if is_last {
                active = Some(Active {
                    file: Arc::new(file),
                    first_seq: *first,
                    len: offset,
                    last_seq: expected - 1,
                    last_epoch,
                });
            }
        }
        let active = match active {
            Some(a) if a.last_seq >= last_seq => a,
            // No file, or the files end before the checkpoint: numbering continues after it.
            _ => create_file(dir, last_seq + 1, last_epoch).map_err(WalError::from)?,
        };
        Ok(Wal {
            dir: dir.to_path_buf(),
            file_capacity: file_capacity.max(1),
            synced_seq: AtomicU64::new(active.last_seq),
            active: Mutex::new(active),
            sync_lock: Mutex::new(()),
            broken: AtomicBool::new(false),
            appended_bytes: AtomicU64::new(0),
        })
    }

    /// Sequence number of the last record written.
    pub fn last_seq(&self) -> u64 {
        self.active.lock().last_seq
    }

    /// Identity of the last record written.
    pub fn last_op(&self) -> OpId {
        let active = self.active.lock();
        OpId {
            epoch: active.last_epoch,
            seq: active.last_seq,
        }
    }

    /// Bytes appended since the log was opened.
    pub fn appended_bytes(&self) -> u64 {
        self.appended_bytes.load(Ordering::Acquire)
    }

    /// Appends `op` as the next sequence number, in `epoch`, and returns that number. The
    /// record is written but not yet durable: see [`sync_to`](Self::sync_to). Callers
    /// serialize appends with the state changes they log, so the log order is the apply
    /// order.
    pub fn append(&self, epoch: u64, op: &ShardOperation) -> Result<u64, WalError> {
        if self.broken.load(Ordering::Acquire) {
            return Err(WalError::Broken);
        }
        let mut active = self.active.lock();
        let seq = active.last_seq + 1;
        let body = record::encode(OpId { epoch, seq }, op)?;
        let len = u32::try_from(body.len()).map_err(|_| {
            WalError::Io(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "operation of {} bytes exceeds the 4 GiB record limit",
                    body.len()
                ),
            ))
        })?;
        if active.len > 0 && active.len + (HEADER + body.len()) as u64 > self.file_capacity {
            self.rotate(&mut active)?;
        }
        let mut record = Vec::with_capacity(HEADER + body.len());
        record.extend_from_slice(&len.to_le_bytes());
        record.extend_from_slice(&checksum(&len.to_le_bytes(), &body).to_le_bytes());
        record.extend_from_slice(&body);
        match (&*active.file).write_all(&record) {
            Ok(()) => {
                active.len += record.len() as u64;
                active.last_seq = seq;
                active.last_epoch = epoch;
                self.appended_bytes
                    .fetch_add(record.len() as u64, Ordering::AcqRel);
                Ok(seq)
            }
            Err(e) => {
                // Cut the partial record off so the next append does not follow garbage.
                if active.file.set_len(active.len).is_err() {
                    tracing::error!(wal = %self.dir.display(), "cannot roll back a failed WAL append");
                    self.broken.store(true, Ordering::Release);
                }
                Err(e.into())
            }
        }
    }

    /// Returns once record `seq` and everything before it are on stable storage.
    pub fn sync_to(&self, seq: u64) -> Result<(), WalError> {
        if self.synced_seq.load(Ordering::Acquire) >= seq {
            return Ok(());
        }
        let _group = self.sync_lock.lock();
        if self.synced_seq.load(Ordering::Acquire) >= seq {
            return Ok(());
        }
        if self.broken.load(Ordering::Acquire) {
            return Err(WalError::Broken);
        }
        // Earlier files were synced when they were closed, so the active one is enough.
        // Appends go on while this sync runs; they join the next group.
        let (file, upto) = {
            let active = self.active.lock();
            (active.file.clone(), active.last_seq)
        };
        if let Err(e) = file.sync_data() {
            // After a failed fsync the kernel may have dropped the dirty pages: nothing
            // written since the last good sync can be trusted any more.
            tracing::error!(wal = %self.dir.display(), error = %e, "WAL fsync failed");
            self.broken.store(true, Ordering::Release);
            return Err(e.into());
        }
        self.synced_seq.fetch_max(upto, Ordering::AcqRel);
        Ok(())
    }

    /// Deletes the files whose records all have sequence numbers up to `seq`, which a
    /// durable checkpoint now covers. Returns the number of files removed.
    pub fn truncate_through(&self, seq: u64) -> Result<usize, WalError> {
        {
            let mut active = self.active.lock();
            if active.len > 0 && active.last_seq <= seq {
                self.rotate(&mut active)?;
            }
        }
        let files = list_files(&self.dir)?;
        let mut removed = 0;
        for pair in files.windows(2) {
            let ((_, path), (next_first, _)) = (&pair[0], &pair[1]);
            if *next_first <= seq + 1 {
                std::fs::remove_file(path)?;
                removed += 1;
            }
        }
        if removed > 0 {
            sync_dir(&self.dir)?;
        }
        Ok(removed)
    }

    /// The last record that may be removed while the newest records, at most `bytes` of
    /// them counted by whole files, stay. The active file always stays.
    pub fn removable_keeping(&self, bytes: u64) -> u64 {
        let Ok(files) = list_files(&self.dir) else {
            return 0;
        };
        let mut kept = 0u64;
        let mut oldest_kept = self.active.lock().first_seq;
        for (first, path) in files.iter().rev() {
            let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
            if *first < oldest_kept {
                if kept + size > bytes {
                    break;
                }
                oldest_kept = *first;
            }
            kept += size;
        }
        oldest_kept.saturating_sub(1)
    }

    /// Up to `max` records following record `after`, in order: what a replica that has
    /// everything up to `after` is missing. `None` when the log no longer holds the first
    /// of them (a checkpoint dropped it).
    #[allow(clippy::type_complexity)]
    pub fn read_after(
        &self,
        after: u64,
        max: usize,
    ) -> Result<Option<Vec<(OpId, ShardOperation)>>, WalError> {
        let last = self.last_seq();
        if after >= last {
            return Ok(Some(Vec::new()));
        }
        let files = list_files(&self.dir)?;
        let Some(start) = files.iter().rposition(|(first, _)| *first <= after + 1) else {
            return Ok(None);
        };
        let mut out = Vec::new();
        'files: for (_, path) in &files[start..] {
            let file = match File::open(path) {
                Ok(file) => file,
                // Removed by a checkpoint since it was listed.
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(e.into()),
            };
            let len = file.metadata()?.len();
            let mut reader = BufReader::new(file);
            let mut offset = 0u64;
            // A record being appended right now reads as torn: it ends the read.
            while let Ok(Some(record)) = read_record(&mut reader, len - offset) {
                offset += (HEADER + record.len()) as u64;
                let undecodable = |e: record::DecodeError| {
                    WalError::Corrupt(format!("{}: undecodable record: {e}", path.display()))
                };
                let id = record::peek_id(&record).map_err(undecodable)?;
                if id.seq <= after {
                    continue;
                }
                if id.seq > last {
                    break 'files;
                }
                let (id, op) = record::decode(&record).map_err(undecodable)?;
                out.push((id, op));
                if out.len() >= max {
                    break 'files;
                }
            }
        }
        if out.first().is_some_and(|(id, _)| id.seq != after + 1) {
            return Ok(None);
        }
        Ok(Some(out))
    }

    /// Total bytes of the WAL files.
    pub fn disk_bytes(&self) -> u64 {
        list_files(&self.dir)
            .map(|files| {
                files
                    .iter()
                    .filter_map(|(_, p)| std::fs::metadata(p).ok())
                    .map(|m| m.len())
                    .sum()
            })
            .unwrap_or(0)
    }

    /// Closes the active file (durably) and starts the next one.
    fn rotate(&self, active: &mut Active) -> Result<(), WalError> {
        if let Err(e) = active.file.sync_data() {
            self.broken.store(true, Ordering::Release);
            return Err(e.into());
        }
        self.synced_seq.fetch_max(active.last_seq, Ordering::AcqRel);
        let next = create_file(&self.dir, active.last_seq + 1, active.last_epoch)?;
        debug_assert!(next.first_seq > active.first_seq);
        *active = next;
        Ok(())
    }
}

fn create_file(dir: &Path, first_seq: u64, last_epoch: u64) -> io::Result<Active> {
    let file = OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .truncate(false)
        .open(dir.join(file_name(first_seq)))?;
    sync_dir(dir)?;
    Ok(Active {
        file: Arc::new(file),
        first_seq,
        len: 0,
        last_seq: first_seq - 1,
        last_epoch,
    })
}

struct Torn(&'static str);

/// Reads the next record's body; `None` at a clean end of file.
fn read_record(reader: &mut impl Read, remaining: u64) -> Result<Option<Vec<u8>>, Torn> {
    if remaining == 0 {
        return Ok(None);
    }
    if remaining < HEADER as u64 {
        return Err(Torn("incomplete record header"));
    }
    let mut header = [0u8; HEADER];
    reader
        .read_exact(&mut header)
        .map_err(|_| Torn("unreadable record header"))?;
    let len_bytes: [u8; 4] = header[..4].try_into().expect("4 bytes");
    let len = u32::from_le_bytes(len_bytes);
    let crc = u32::from_le_bytes(header[4..].try_into().expect("4 bytes"));
    // Zero-filled space (a crash after the file grew) reads as an empty record.
    if len == 0 {
        return Err(Torn("empty record"));
    }
    if len as u64 > remaining - HEADER as u64 {
        return Err(Torn("record extends past the end of the file"));
    }
    let mut body = vec![0u8; len as usize];
    reader
        .read_exact(&mut body)
        .map_err(|_| Torn("unreadable record body"))?;
    if checksum(&len_bytes, &body) != crc {
        return Err(Torn("checksum mismatch"));
    }
    Ok(Some(body))
}

fn checksum(len: &[u8], body: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(len);
    hasher.update(body);
    hasher.finalize()
}

/// Makes created, renamed and removed directory entries durable.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_types::{PointId, PointSelection};

    const BIG: u64 = 1 << 30;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "tessera-wal-{}-{name}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn op(n: u64) -> ShardOperation {
        ShardOperation::Delete(PointSelection::Ids(vec![PointId::Num(n)]))
    }

    fn replay_from(
        dir: &Path,
        capacity: u64,
        checkpoint: u64,
    ) -> Result<(Wal, Vec<(u64, ShardOperation)>), WalError> {
        let mut seen = Vec::new();
        let checkpoint = OpId {
            epoch: 1,
            seq: checkpoint,
        };
        let wal = Wal::open(dir, capacity, checkpoint, |id: OpId, op| {
            seen.push((id.seq, op));
            Ok::<_, WalError>(())
        })?;
        Ok((wal, seen))
    }

    fn replay_all(dir: &Path) -> Result<(Wal, Vec<(u64, ShardOperation)>), WalError> {
        replay_from(dir, BIG, 0)
    }

    fn only_file(dir: &Path) -> PathBuf {
        let files = list_files(dir).unwrap();
        assert_eq!(files.len(), 1, "{files:?}");
        files[0].1.clone()
    }

    #[test]
    fn appends_replay_in_order_and_continue_numbering() {
        let dir = temp_dir("order");
        let (wal, seen) = replay_all(&dir).unwrap();
        assert!(seen.is_empty());
        assert_eq!(wal.append(1, &op(10)).unwrap(), 1);
        wal.sync_to(1).unwrap();
        assert_eq!(wal.append(1, &op(11)).unwrap(), 2);
        drop(wal);
        let (wal, seen) = replay_all(&dir).unwrap();
        assert_eq!(seen, vec![(1, op(10)), (2, op(11))]);
        assert_eq!(wal.last_seq(), 2);
        assert_eq!(wal.append(1, &op(12)).unwrap(), 3);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn every_cut_keeps_exactly_the_complete_records() {
        let dir = temp_dir("cuts");
        let (wal, _) = replay_all(&dir).unwrap();
        let path = only_file(&dir);
        let mut ends = vec![0u64];
        for n in 0..5 {
            wal.append(1, &op(n)).unwrap();
            ends.push(std::fs::metadata(&path).unwrap().len());
        }
        drop(wal);
        let full = std::fs::read(&path).unwrap();
        for cut in 0..=full.len() {
            std::fs::write(&path, &full[..cut]).unwrap();
            let (wal, seen) = replay_all(&dir).unwrap();
            let complete = ends.iter().filter(|e| **e <= cut as u64).count() - 1;
            assert_eq!(seen.len(), complete, "cut at {cut}");
            assert_eq!(std::fs::metadata(&path).unwrap().len(), ends[complete]);
            // The log stays appendable after recovery.
            assert_eq!(wal.append(1, &op(99)).unwrap(), complete as u64 + 1);
        }
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn flipped_byte_truncates_from_the_damaged_record() {
        let dir = temp_dir("flip");
        let (wal, _) = replay_all(&dir).unwrap();
        for n in 0..3 {
            wal.append(1, &op(n)).unwrap();
        }
        drop(wal);
        let path = only_file(&dir);
        let mut bytes = std::fs::read(&path).unwrap();
        let second_record_body = bytes.len() / 2;
        bytes[second_record_body] ^= 0xff;
        std::fs::write(&path, &bytes).unwrap();
        let (_, seen) = replay_all(&dir).unwrap();
        assert_eq!(seen.len(), 1);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn undecodable_record_with_valid_checksum_is_an_error() {
        let dir = temp_dir("garbage");
        let body = b"not json";
        let len = (body.len() as u32).to_le_bytes();
        let mut bytes = len.to_vec();
        bytes.extend_from_slice(&checksum(&len, body).to_le_bytes());
        bytes.extend_from_slice(body);
        std::fs::write(dir.join(file_name(1)), &bytes).unwrap();
        assert!(matches!(replay_all(&dir), Err(WalError::Corrupt(_))));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_log_written_as_json_replays_and_continues_in_the_packed_format() {
        let dir = temp_dir("upgrade");
        let mut bytes = Vec::new();
        for seq in 1..=3u64 {
            let body = serde_json::to_vec(&(seq, 1u64, op(seq))).unwrap();
            let len = (body.len() as u32).to_le_bytes();
            bytes.extend_from_slice(&len);
            bytes.extend_from_slice(&checksum(&len, &body).to_le_bytes());
            bytes.extend_from_slice(&body);
        }
        std::fs::write(dir.join(file_name(1)), &bytes).unwrap();
        let (wal, seen) = replay_all(&dir).unwrap();
        assert_eq!(seen, (1..=3).map(|n| (n, op(n))).collect::<Vec<_>>());
        assert_eq!(wal.append(2, &op(4)).unwrap(), 4);
        let missed = wal.read_after(2, 10).unwrap().unwrap();
        assert_eq!(
            missed,
            vec![
                (OpId { epoch: 1, seq: 3 }, op(3)),
                (OpId { epoch: 2, seq: 4 }, op(4))
            ]
        );
        drop(wal);
        let (_, seen) = replay_all(&dir).unwrap();
        assert_eq!(seen, (1..=4).map(|n| (n, op(n))).collect::<Vec<_>>());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn files_rotate_and_truncation_keeps_what_the_checkpoint_lacks() {
        let dir = temp_dir("rotate");
        // Room for a few records per file.
        let (wal, _) = replay_from(&dir, 150, 0).unwrap();
        for n in 1..=10 {
            assert_eq!(wal.append(1, &op(n)).unwrap(), n);
        }
        let files = list_files(&dir).unwrap();
        assert!(files.len() >= 3, "{files:?}");
        assert!(wal.truncate_through(5).unwrap() > 0);
        assert!(list_files(&dir).unwrap().len() < files.len());
        // Everything after the checkpoint is still there, in order.
        drop(wal);
        let (wal, seen) = replay_from(&dir, 150, 5).unwrap();
        let seqs: Vec<u64> = seen.iter().map(|(s, _)| *s).collect();
        assert_eq!(seqs, (6..=10).collect::<Vec<_>>());
        // A checkpoint covering everything leaves one empty file that continues the numbering.
        wal.truncate_through(10).unwrap();
        assert_eq!(list_files(&dir).unwrap().len(), 1);
        drop(wal);
        let (wal, seen) = replay_from(&dir, 150, 10).unwrap();
        assert!(seen.is_empty());
        assert_eq!(wal.append(1, &op(11)).unwrap(), 11);
        // Records older than the checkpoint must be there: a gap is corruption.
        drop(wal);
        assert!(matches!(
            replay_from(&dir, 150, 3),
            Err(WalError::Corrupt(_))
        ));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn read_after_returns_what_a_replica_misses_until_a_checkpoint_drops_it() {
        let dir = temp_dir("read-after");
        let (wal, _) = replay_from(&dir, 150, 0).unwrap();
        for n in 1..=10 {
            wal.append(n / 5 + 1, &op(n)).unwrap();
        }
        let ops = wal.read_after(3, 4).unwrap().unwrap();
        let ids: Vec<_> = ops.iter().map(|(id, _)| (id.seq, id.epoch)).collect();
        assert_eq!(ids, vec![(4, 1), (5, 2), (6, 2), (7, 2)]);
        assert_eq!(wal.read_after(10, 4).unwrap().unwrap().len(), 0);
        assert_eq!(wal.last_op(), OpId { epoch: 3, seq: 10 });
        wal.truncate_through(6).unwrap();
        assert!(wal.read_after(0, 4).unwrap().is_none());
        assert_eq!(wal.read_after(8, 4).unwrap().unwrap().len(), 2);
    }

    #[test]
    fn group_commit_covers_concurrent_writers() {
        let dir = temp_dir("group");
        let (wal, _) = replay_all(&dir).unwrap();
        let wal = Arc::new(wal);
        let writers: Vec<_> = (0..8)
            .map(|w| {
                let wal = wal.clone();
                std::thread::spawn(move || {
                    for n in 0..20 {
                        let seq = wal.append(1, &op(w * 100 + n)).unwrap();
                        wal.sync_to(seq).unwrap();
                        assert!(wal.synced_seq.load(Ordering::Acquire) >= seq);
                    }
                })
            })
            .collect();
        for w in writers {
            w.join().unwrap();
        }
        drop(wal);
        let (_, seen) = replay_all(&dir).unwrap();
        assert_eq!(seen.len(), 160);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
