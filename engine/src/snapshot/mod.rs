//! Shard snapshots: one file holding a checkpoint's files, verified by a CRC32.
//!
//! Layout: the magic `TESSERA-SHARD-SNAPSHOT-1\n`, then for each file its relative path
//! (u32 LE length, UTF-8 bytes) and contents (u64 LE length, bytes), then the CRC32 of
//! everything before it (u32 LE). Both ways stream through a small buffer, so a shard of
//! any size costs the same memory. Restoring checks every path before writing its file
//! and the checksum at the end; a damaged snapshot leaves the target empty.
//!
//! Users' snapshot files (collection, shard and full snapshots) are kept by
//! [`store::SnapshotStore`]; collection and full snapshots are tar archives of
//! shard snapshots, checked by [`archive`].

pub mod archive;
pub mod store;

use std::io::{self, BufReader, BufWriter, Read, Write};
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

/// Bytes a snapshot is written and read through at a time: what packing or unpacking a
/// shard of any size costs in memory.
const BUFFER: usize = 1 << 20;
/// Longest file name an entry may carry; a longer one is damage, not a name.
const MAX_NAME: usize = 4096;

/// Writes the files `relative` (paths under `root`) as one snapshot file at `out`,
/// atomically (temporary name, rename), streaming each file through. The file
/// is not synced to disk: a packed snapshot is a scratch file, streamed to a
/// store or another node and removed, and a crash ends whatever needed it.
pub(crate) fn write(root: &Path, relative: &[PathBuf], out: &Path) -> Result<(), SnapshotError> {
    let mut tmp_name = out.file_name().unwrap_or_default().to_os_string();
    tmp_name.push(".tmp");
    let tmp = out.with_file_name(tmp_name);
    let mut body = Checksummed::new(BufWriter::with_capacity(
        BUFFER,
        std::fs::File::create(&tmp)?,
    ));
    body.write_all(MAGIC)?;
    for path in relative {
        let name = path
            .to_str()
            .ok_or_else(|| SnapshotError::Corrupt(format!("{} is not UTF-8", path.display())))?;
        let mut data = std::fs::File::open(root.join(path))?;
        let len = data.metadata()?.len();
        body.write_all(&(name.len() as u32).to_le_bytes())?;
        body.write_all(name.as_bytes())?;
        body.write_all(&len.to_le_bytes())?;
        // Checkpoint files never change once written; a short copy means one did.
        if io::copy(&mut (&mut data).take(len), &mut body)? != len {
            return Err(SnapshotError::Corrupt(format!(
                "{} shrank while it was packed",
                path.display()
            )));
        }
    }
    let crc = body.crc.finalize();
    let mut file = body.inner;
    file.write_all(&crc.to_le_bytes())?;
    file.flush()?;
    std::fs::rename(&tmp, out)?;
    Ok(())
}

/// Unpacks the snapshot at `snapshot` into `dir`, which must be missing or empty,
/// streaming each file out. The checksum covers the whole file and is known only at its
/// end: a snapshot found damaged leaves `dir` empty again.
pub(crate) fn restore(snapshot: &Path, dir: &Path) -> Result<(), SnapshotError> {
    if dir.exists() && std::fs::read_dir(dir)?.next().is_some() {
        return Err(SnapshotError::NotEmpty(dir.to_path_buf()));
    }
    let file = std::fs::File::open(snapshot)?;
    let len = file.metadata()?.len();
    if len < (MAGIC.len() + 4) as u64 {
        return Err(SnapshotError::Corrupt("not a shard snapshot".into()));
    }
    std::fs::create_dir_all(dir)?;
    let unpacked = unpack(BufReader::with_capacity(BUFFER, file), len - 4, dir);
    if unpacked.is_err() {
        // `dir` was empty: everything in it now came from this snapshot.
        for entry in std::fs::read_dir(dir)?.flatten() {
            let path = entry.path();
            let _ = if path.is_dir() {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
        }
    }
    unpacked
}

/// Writes the entries of the `body_len` bytes before the checksum into `dir`, then
/// checks the checksum.
fn unpack(mut reader: impl Read, body_len: u64, dir: &Path) -> Result<(), SnapshotError> {
    let truncated = |_| SnapshotError::Corrupt("truncated entry".into());
    let mut body = Checksummed::new((&mut reader).take(body_len));
    let mut magic = [0u8; MAGIC.len()];
    body.read_exact(&mut magic).map_err(truncated)?;
    if magic != MAGIC {
        return Err(SnapshotError::Corrupt("not a shard snapshot".into()));
    }
    while body.inner.limit() > 0 {
        let mut word = [0u8; 4];
        body.read_exact(&mut word).map_err(truncated)?;
        let name_len = u32::from_le_bytes(word) as usize;
        if name_len > MAX_NAME {
            return Err(SnapshotError::Corrupt(format!(
                "an entry's name is {name_len} bytes long"
            )));
        }
        let mut name = vec![0u8; name_len];
        body.read_exact(&mut name).map_err(truncated)?;
        let name = String::from_utf8(name)
            .map_err(|_| SnapshotError::Corrupt("file name is not UTF-8".into()))?;
        let path = PathBuf::from(&name);
        // Only plain relative paths: a snapshot must not write outside the target.
        if name.is_empty()
            || name.contains('\0')
            || !path.components().all(|c| matches!(c, Component::Normal(_)))
        {
            return Err(SnapshotError::Corrupt(format!("bad path {name}")));
        }
        let mut size = [0u8; 8];
        body.read_exact(&mut size).map_err(truncated)?;
        let size = u64::from_le_bytes(size);
        if size > body.inner.limit() {
            return Err(SnapshotError::Corrupt(format!(
                "{name} runs past the end of the snapshot"
            )));
        }
        // A name that clashes with an earlier entry's (a file where a directory
        // is, or the other way round) is damage, not an I/O failure.
        let clash = |e: io::Error| match e.kind() {
            io::ErrorKind::NotADirectory
            | io::ErrorKind::IsADirectory
            | io::ErrorKind::AlreadyExists => {
                SnapshotError::Corrupt(format!("{name} clashes with another entry"))
            }
            _ => SnapshotError::Io(e),
        };
        let target = dir.join(path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(clash)?;
        }
        let mut out = std::fs::File::create(&target).map_err(clash)?;
        if io::copy(&mut (&mut body).take(size), &mut out)? != size {
            return Err(SnapshotError::Corrupt("truncated entry".into()));
        }
        out.sync_all()?;
    }
    let computed = body.crc.finalize();
    let mut stored = [0u8; 4];
    reader.read_exact(&mut stored).map_err(truncated)?;
    if computed != u32::from_le_bytes(stored) {
        return Err(SnapshotError::Corrupt("checksum mismatch".into()));
    }
    Ok(())
}

/// A reader or writer that keeps the CRC32 of the bytes through it.
struct Checksummed<T> {
    inner: T,
    crc: crc32fast::Hasher,
}

impl<T> Checksummed<T> {
    fn new(inner: T) -> Self {
        Checksummed {
            inner,
            crc: crc32fast::Hasher::new(),
        }
    }
}

impl<W: Write> Write for Checksummed<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.crc.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl<R: Read> Read for Checksummed<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.crc.update(&buf[..n]);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(root: &Path) -> Vec<PathBuf> {
        let entries = [
            ("manifest.json", b"{}".to_vec()),
            (
                "segments/1/vectors.bin",
                (0..3000u32).flat_map(|i| i.to_le_bytes()).collect(),
            ),
            ("segments/1/empty", Vec::new()),
        ];
        entries
            .iter()
            .map(|(name, data)| {
                let path = root.join(name);
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::write(&path, data).unwrap();
                PathBuf::from(name)
            })
            .collect()
    }

    fn same_files(a: &Path, b: &Path, names: &[PathBuf]) {
        for name in names {
            assert_eq!(
                std::fs::read(a.join(name)).unwrap(),
                std::fs::read(b.join(name)).unwrap(),
                "{}",
                name.display()
            );
        }
    }

    /// A snapshot of `files` written under `dir`: the source, its names, the file.
    fn written(dir: &Path) -> (PathBuf, Vec<PathBuf>, PathBuf) {
        let source = dir.join("source");
        let names = files(&source);
        let out = dir.join("shard.snapshot");
        write(&source, &names, &out).unwrap();
        (source, names, out)
    }

    /// Restoring the snapshot holding `bytes` is refused as damage and leaves `target` empty.
    fn assert_refused(bytes: &[u8], file: &Path, target: &Path) {
        std::fs::write(file, bytes).unwrap();
        let restored = restore(file, target);
        assert!(
            matches!(restored, Err(SnapshotError::Corrupt(_))),
            "{restored:?}"
        );
        assert_eq!(std::fs::read_dir(target).map_or(0, |d| d.count()), 0);
    }

    #[test]
    fn a_snapshot_unpacks_to_the_files_it_packed() {
        let dir = tempfile::tempdir().unwrap();
        let (source, names, out) = written(dir.path());
        verify(
            std::fs::File::open(&out).unwrap(),
            std::fs::metadata(&out).unwrap().len(),
        )
        .unwrap();
        let target = dir.path().join("target");
        restore(&out, &target).unwrap();
        same_files(&source, &target, &names);
        assert!(matches!(
            restore(&out, &target),
            Err(SnapshotError::NotEmpty(_))
        ));
    }

    /// A snapshot file of `entries`, written by hand.
    fn packed(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut bytes = MAGIC.to_vec();
        for (name, data) in entries {
            bytes.extend_from_slice(&(name.len() as u32).to_le_bytes());
            bytes.extend_from_slice(name.as_bytes());
            bytes.extend_from_slice(&(data.len() as u64).to_le_bytes());
            bytes.extend_from_slice(data);
        }
        let crc = crc32fast::hash(&bytes);
        bytes.extend_from_slice(&crc.to_le_bytes());
        bytes
    }

    #[test]
    fn entries_that_cannot_be_files_are_damage() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("bad.snapshot");
        let target = dir.path().join("target");
        let cases: [&[(&str, &[u8])]; 4] = [
            &[("a", b"1"), ("a/b", b"2")],
            &[("a/b", b"1"), ("a", b"2")],
            &[("", b"1")],
            &[("../escape", b"1")],
        ];
        for entries in cases {
            assert_refused(&packed(entries), &file, &target);
        }
        std::fs::write(&file, packed(&[("a/b", b"1"), ("c", b"")])).unwrap();
        restore(&file, &target).unwrap();
        assert_eq!(std::fs::read(target.join("a/b")).unwrap(), b"1");
        assert_eq!(std::fs::read(target.join("c")).unwrap(), b"");
    }

    #[test]
    fn a_damaged_or_cut_snapshot_is_refused_and_leaves_the_target_empty() {
        let dir = tempfile::tempdir().unwrap();
        let (_, _, out) = written(dir.path());
        let good = std::fs::read(&out).unwrap();
        let damaged = dir.path().join("damaged.snapshot");
        let target = dir.path().join("target");
        let mut cases: Vec<Vec<u8>> = (0..good.len())
            .step_by(97)
            .map(|at| {
                let mut bad = good.clone();
                bad[at] ^= 0x5a;
                bad
            })
            .collect();
        cases.extend([0, 10, good.len() / 2, good.len() - 1].map(|cut| good[..cut].to_vec()));
        for bad in cases {
            assert_refused(&bad, &damaged, &target);
        }
    }
}
