//! Shard snapshots: one file holding a checkpoint's files, verified by a CRC32.
//!
//! Layout: the magic `TESSERA-SHARD-SNAPSHOT-1\n`, then for each file its relative path
//! (u32 LE length, UTF-8 bytes) and contents (u64 LE length, bytes), then the CRC32 of
//! everything before it (u32 LE). Restoring checks the checksum and every path before
//! writing anything.
//!
//! Users' snapshot files (collection, shard and full snapshots) are kept by
//! [`store::SnapshotStore`]; collection and full snapshots are tar archives of
//! shard snapshots, checked by [`archive`].

pub mod archive;
pub mod store;

use std::io::{self, Read, Write};
use std::path::{Component, Path, PathBuf};

const MAGIC: &[u8] = b"TESSERA-SHARD-SNAPSHOT-1\n";

#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("snapshot I/O error: {0}")]
    Io(#[from] io::Error),
    #[error("snapshot is damaged: {0}")]
    Corrupt(String),
    #[error("restore target {0} is not empty")]
    NotEmpty(PathBuf),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    BadName(String),
}

impl From<SnapshotError> for tessera_types::TesseraError {
    fn from(e: SnapshotError) -> Self {
        use tessera_types::TesseraError;
        match e {
            SnapshotError::Io(e) => TesseraError::internal(e),
            SnapshotError::NotFound(msg) => TesseraError::NotFound(msg),
            SnapshotError::Corrupt(_) | SnapshotError::NotEmpty(_) | SnapshotError::BadName(_) => {
                TesseraError::BadInput(e.to_string())
            }
        }
    }
}

/// Checks that `reader`, `len` bytes long, is a whole shard snapshot: the magic
/// at its start and the checksum at its end, read through once.
pub fn verify(mut reader: impl Read, len: u64) -> Result<(), SnapshotError> {
    let short = || SnapshotError::Corrupt("not a shard snapshot (too short)".into());
    if len < (MAGIC.len() + 4) as u64 {
        return Err(short());
    }
    let mut magic = vec![0u8; MAGIC.len()];
    reader.read_exact(&mut magic).map_err(|_| short())?;
    if magic != MAGIC {
        return Err(SnapshotError::Corrupt("not a shard snapshot".into()));
    }
    let mut crc = crc32fast::Hasher::new();
    crc.update(&magic);
    let mut left = len - MAGIC.len() as u64 - 4;
    let mut buffer = vec![0u8; 1 << 20];
    while left > 0 {
        let n = reader.read(&mut buffer[..left.min(1 << 20) as usize])?;
        if n == 0 {
            return Err(SnapshotError::Corrupt("truncated".into()));
        }
        crc.update(&buffer[..n]);
        left -= n as u64;
    }
    let mut stored = [0u8; 4];
    reader
        .read_exact(&mut stored)
        .map_err(|_| SnapshotError::Corrupt("truncated".into()))?;
    if crc.finalize() != u32::from_le_bytes(stored) {
        return Err(SnapshotError::Corrupt("checksum mismatch".into()));
    }
    Ok(())
}

/// Writes the files `relative` (paths under `root`) as one snapshot file at `out`,
/// atomically (temporary name, fsync, rename).
pub(crate) fn write(root: &Path, relative: &[PathBuf], out: &Path) -> Result<(), SnapshotError> {
    let mut body = MAGIC.to_vec();
    for path in relative {
        let name = path
            .to_str()
            .ok_or_else(|| SnapshotError::Corrupt(format!("{} is not UTF-8", path.display())))?;
        let data = std::fs::read(root.join(path))?;
        body.extend_from_slice(&(name.len() as u32).to_le_bytes());
        body.extend_from_slice(name.as_bytes());
        body.extend_from_slice(&(data.len() as u64).to_le_bytes());
        body.extend_from_slice(&data);
    }
    let crc = crc32fast::hash(&body);
    body.extend_from_slice(&crc.to_le_bytes());
    let mut tmp_name = out.file_name().unwrap_or_default().to_os_string();
    tmp_name.push(".tmp");
    let tmp = out.with_file_name(tmp_name);
    {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(&body)?;
        file.sync_all()?;
    }
    std::fs::rename(&tmp, out)?;
    Ok(())
}

fn take<'a>(bytes: &mut &'a [u8], n: usize) -> Result<&'a [u8], SnapshotError> {
    if bytes.len() < n {
        return Err(SnapshotError::Corrupt("truncated entry".into()));
    }
    let (head, rest) = bytes.split_at(n);
    *bytes = rest;
    Ok(head)
}

/// Unpacks the snapshot at `snapshot` into `dir`, which must be missing or empty.
pub(crate) fn restore(snapshot: &Path, dir: &Path) -> Result<(), SnapshotError> {
    if dir.exists() && std::fs::read_dir(dir)?.next().is_some() {
        return Err(SnapshotError::NotEmpty(dir.to_path_buf()));
    }
    let all = std::fs::read(snapshot)?;
    if all.len() < MAGIC.len() + 4 || !all.starts_with(MAGIC) {
        return Err(SnapshotError::Corrupt("not a shard snapshot".into()));
    }
    let (body, crc) = all.split_at(all.len() - 4);
    if crc32fast::hash(body) != u32::from_le_bytes(crc.try_into().expect("4 bytes")) {
        return Err(SnapshotError::Corrupt("checksum mismatch".into()));
    }
    let mut rest = &body[MAGIC.len()..];
    let mut files = Vec::new();
    while !rest.is_empty() {
        let len = u32::from_le_bytes(take(&mut rest, 4)?.try_into().expect("4 bytes")) as usize;
        let name = std::str::from_utf8(take(&mut rest, len)?)
            .map_err(|_| SnapshotError::Corrupt("file name is not UTF-8".into()))?;
        let path = PathBuf::from(name);
        // Only plain relative paths: a snapshot must not write outside the target.
        if !path.components().all(|c| matches!(c, Component::Normal(_))) {
            return Err(SnapshotError::Corrupt(format!("bad path {name}")));
        }
        let len = u64::from_le_bytes(take(&mut rest, 8)?.try_into().expect("8 bytes")) as usize;
        files.push((path, take(&mut rest, len)?));
    }
    for (path, data) in files {
        let target = dir.join(path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let mut file = std::fs::File::create(&target)?;
        file.write_all(data)?;
        file.sync_all()?;
    }
    Ok(())
}
