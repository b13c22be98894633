//! The shard's write-ahead log: one append-only file of checksummed records.
//!
//! Record layout: `len: u32 LE | crc: u32 LE | body: len bytes`, where the body is the
//! JSON of `(seq, ShardOperation)` and the crc covers the length bytes and the body.
//! A torn or corrupt tail (a crash mid-write) is cut off on open; a record that passes
//! its checksum but cannot be decoded means a format or logic error and stops the open.

use std::fs::{File, OpenOptions};
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use tessera_types::ShardOperation;

const HEADER: usize = 8;

#[derive(Debug, thiserror::Error)]
pub enum WalError {
    #[error("WAL I/O error: {0}")]
    Io(#[from] io::Error),
    #[error("WAL is corrupt: {0}")]
    Corrupt(String),
    #[error("cannot encode WAL record: {0}")]
    Encode(#[from] serde_json::Error),
    #[error("WAL is unusable after a write that could not be rolled back; reopen the shard")]
    Broken,
}

pub struct Wal {
    file: File,
    path: PathBuf,
    /// Bytes of complete records; the file never holds more once an append returns.
    len: u64,
    last_seq: u64,
    /// Set when a failed append could not be rolled back, so later records would follow garbage.
    broken: bool,
}

impl Wal {
    /// Opens (or creates) the log at `path` and hands every complete record to `replay`,
    /// in order. A torn tail is truncated with a warning.
    pub fn open<E: From<WalError>>(
        path: &Path,
        mut replay: impl FnMut(u64, ShardOperation) -> Result<(), E>,
    ) -> Result<Wal, E> {
        let created = !path.exists();
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
            .map_err(WalError::from)?;
        if created {
            sync_parent(path).map_err(WalError::from)?;
        }
        let file_len = file.metadata().map_err(WalError::from)?.len();
        let mut reader = BufReader::new(&file);
        let mut offset = 0u64;
        let mut last_seq = 0u64;
        let torn = loop {
            let record = match read_record(&mut reader, file_len - offset) {
                Ok(Some(record)) => record,
                Ok(None) => break None,
                Err(Torn(why)) => break Some(why),
            };
            let (seq, op): (u64, ShardOperation) =
                serde_json::from_slice(&record).map_err(|e| {
                    WalError::Corrupt(format!(
                        "{}: record at byte {offset} passes its checksum but does not decode: {e}",
                        path.display()
                    ))
                })?;
            if seq <= last_seq {
                return Err(WalError::Corrupt(format!(
                    "{}: record at byte {offset} has sequence number {seq} after {last_seq}",
                    path.display()
                ))
                .into());
            }
            replay(seq, op)?;
            last_seq = seq;
            offset += (HEADER + record.len()) as u64;
        };
        if let Some(why) = torn {
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
        Ok(Wal {
            file,
            path: path.to_path_buf(),
            len: offset,
            last_seq,
            broken: false,
        })
    }

    /// Sequence number of the last record written.
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// Appends `op` as the next sequence number and returns that number. With `sync`
    /// the record is on stable storage before this returns.
    pub fn append(&mut self, op: &ShardOperation, sync: bool) -> Result<u64, WalError> {
        if self.broken {
            return Err(WalError::Broken);
        }
        let seq = self.last_seq + 1;
        let body = serde_json::to_vec(&(seq, op))?;
        let len = u32::try_from(body.len()).map_err(|_| {
            WalError::Io(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "operation of {} bytes exceeds the 4 GiB record limit",
                    body.len()
                ),
            ))
        })?;
        let mut record = Vec::with_capacity(HEADER + body.len());
        record.extend_from_slice(&len.to_le_bytes());
        record.extend_from_slice(&checksum(&len.to_le_bytes(), &body).to_le_bytes());
        record.extend_from_slice(&body);
        let written = self.file.write_all(&record).and_then(|()| {
            if sync {
                self.file.sync_data()
            } else {
                Ok(())
            }
        });
        match written {
            Ok(()) => {
                self.len += record.len() as u64;
                self.last_seq = seq;
                Ok(seq)
            }
            Err(e) => {
                // Cut the partial record off so the next append does not follow garbage.
                if self.file.set_len(self.len).is_err() {
                    tracing::error!(wal = %self.path.display(), "cannot roll back a failed WAL append");
                    self.broken = true;
                }
                Err(e.into())
            }
        }
    }
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

/// Makes a newly created file's directory entry durable.
fn sync_parent(path: &Path) -> io::Result<()> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => File::open(dir)?.sync_all(),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_types::{PointId, PointSelection};

    fn temp_path(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "tessera-wal-{}-{name}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("wal.log")
    }

    fn op(n: u64) -> ShardOperation {
        ShardOperation::Delete(PointSelection::Ids(vec![PointId::Num(n)]))
    }

    fn replay_all(path: &Path) -> Result<(Wal, Vec<(u64, ShardOperation)>), WalError> {
        let mut seen = Vec::new();
        let wal = Wal::open(path, |seq, op| {
            seen.push((seq, op));
            Ok::<_, WalError>(())
        })?;
        Ok((wal, seen))
    }

    #[test]
    fn appends_replay_in_order_and_continue_numbering() {
        let path = temp_path("order");
        let (mut wal, seen) = replay_all(&path).unwrap();
        assert!(seen.is_empty());
        assert_eq!(wal.append(&op(10), true).unwrap(), 1);
        assert_eq!(wal.append(&op(11), false).unwrap(), 2);
        drop(wal);
        let (mut wal, seen) = replay_all(&path).unwrap();
        assert_eq!(seen, vec![(1, op(10)), (2, op(11))]);
        assert_eq!(wal.last_seq(), 2);
        assert_eq!(wal.append(&op(12), true).unwrap(), 3);
        std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }

    #[test]
    fn every_cut_keeps_exactly_the_complete_records() {
        let path = temp_path("cuts");
        let (mut wal, _) = replay_all(&path).unwrap();
        let mut ends = vec![0u64];
        for n in 0..5 {
            wal.append(&op(n), false).unwrap();
            ends.push(std::fs::metadata(&path).unwrap().len());
        }
        drop(wal);
        let full = std::fs::read(&path).unwrap();
        for cut in 0..=full.len() {
            std::fs::write(&path, &full[..cut]).unwrap();
            let (mut wal, seen) = replay_all(&path).unwrap();
            let complete = ends.iter().filter(|e| **e <= cut as u64).count() - 1;
            assert_eq!(seen.len(), complete, "cut at {cut}");
            assert_eq!(std::fs::metadata(&path).unwrap().len(), ends[complete]);
            // The log stays appendable after recovery.
            assert_eq!(wal.append(&op(99), false).unwrap(), complete as u64 + 1);
        }
        std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }

    #[test]
    fn flipped_byte_truncates_from_the_damaged_record() {
        let path = temp_path("flip");
        let (mut wal, _) = replay_all(&path).unwrap();
        for n in 0..3 {
            wal.append(&op(n), false).unwrap();
        }
        drop(wal);
        let mut bytes = std::fs::read(&path).unwrap();
        let second_record_body = bytes.len() / 2;
        bytes[second_record_body] ^= 0xff;
        std::fs::write(&path, &bytes).unwrap();
        let (_, seen) = replay_all(&path).unwrap();
        assert_eq!(seen.len(), 1);
        std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }

    #[test]
    fn undecodable_record_with_valid_checksum_is_an_error() {
        let path = temp_path("garbage");
        let body = b"not json";
        let len = (body.len() as u32).to_le_bytes();
        let mut bytes = len.to_vec();
        bytes.extend_from_slice(&checksum(&len, body).to_le_bytes());
        bytes.extend_from_slice(body);
        std::fs::write(&path, &bytes).unwrap();
        assert!(matches!(replay_all(&path), Err(WalError::Corrupt(_))));
        std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }
}
