//! The snapshot files a node keeps for users, under
//! `<data-dir>/snapshots/<scope>/<name>`, each beside a `<name>.checksum` file
//! holding its SHA-256 (hex), as Qdrant lays them out. Scopes:
//! `collections/<name>`, `collections/<name>/shards/<id>`, `full`, and
//! `staging` for files on their way to a recovery.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::SnapshotError;

/// Bytes per chunk when a stored file is streamed.
pub const CHUNK: usize = 1024 * 1024;
const CHECKSUM_SUFFIX: &str = ".checksum";
/// Files on their way to a recovery.
const STAGING: &str = "staging";
/// Bytes written between two starts of writeback (see `start_writeback`).
const WRITEBACK_STEP: u64 = 8 << 20;

/// What a stored file holds, which decides how it is checked before it is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoredKind {
    Shard,
    Collection,
    Full,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StoredSnapshot {
    pub name: String,
    pub created_unix_seconds: i64,
    pub size: u64,
    pub checksum: String,
}

#[derive(Clone)]
pub struct SnapshotStore {
    root: PathBuf,
}

impl SnapshotStore {
    pub fn new(data_dir: &Path) -> Self {
        SnapshotStore {
            root: data_dir.join("snapshots"),
        }
    }

    /// The store of a node starting up: files a crash left half-written, or
    /// staged for a recovery that never finished, are removed.
    pub fn open(data_dir: &Path) -> Self {
        let store = SnapshotStore::new(data_dir);
        let _ = std::fs::remove_dir_all(store.root.join(STAGING));
        remove_partial(&store.root);
        store
    }

    fn dir(&self, scope: &str) -> Result<PathBuf, SnapshotError> {
        let segments: Vec<&str> = scope.split('/').collect();
        if segments.iter().any(|s| !plain_name(s)) {
            return Err(SnapshotError::BadName(format!(
                "`{scope}` is not a snapshot scope"
            )));
        }
        Ok(segments
            .iter()
            .fold(self.root.clone(), |dir, s| dir.join(s)))
    }

    /// The stored file `name` in `scope`, which must exist.
    pub fn path(&self, scope: &str, name: &str) -> Result<PathBuf, SnapshotError> {
        let path = self.file(scope, name)?;
        if !path.is_file() {
            return Err(SnapshotError::NotFound(format!(
                "Snapshot {name} not found"
            )));
        }
        Ok(path)
    }

    fn file(&self, scope: &str, name: &str) -> Result<PathBuf, SnapshotError> {
        if !plain_name(name) || name.starts_with('.') || name.ends_with(CHECKSUM_SUFFIX) {
            return Err(SnapshotError::BadName(format!(
                "`{name}` is not a snapshot name"
            )));
        }
        Ok(self.dir(scope)?.join(name))
    }

    /// Starts writing the file `name` in `scope`; nothing shows in the store
    /// until [`SnapshotWriter::finish`] has checked it and, outside `staging`
    /// (whose files a crash makes useless), it is on disk.
    pub fn writer(
        &self,
        scope: &str,
        name: &str,
        kind: StoredKind,
    ) -> Result<SnapshotWriter, SnapshotError> {
        let path = self.file(scope, name)?;
        let dir = path.parent().expect("a file in a scope").to_path_buf();
        std::fs::create_dir_all(&dir)?;
        let partial = dir.join(format!(".{name}.{}.partial", uuid::Uuid::new_v4().simple()));
        Ok(SnapshotWriter {
            file: Some(File::create(&partial)?),
            partial,
            path,
            kind,
            durable: scope != STAGING,
            written_back: 0,
            hasher: Sha256::new(),
            size: 0,
        })
    }

    pub fn list(&self, scope: &str) -> Result<Vec<StoredSnapshot>, SnapshotError> {
        let dir = self.dir(scope)?;
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return Ok(Vec::new());
        };
        let mut listed = Vec::new();
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let is_file = entry.file_type().is_ok_and(|t| t.is_file());
            if !is_file || name.starts_with('.') || name.ends_with(CHECKSUM_SUFFIX) {
                continue;
            }
            listed.push(describe(&entry.path(), name)?);
        }
        listed.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(listed)
    }

    /// Returns whether the file existed.
    pub fn delete(&self, scope: &str, name: &str) -> Result<bool, SnapshotError> {
        let path = self.file(scope, name)?;
        let _ = std::fs::remove_file(checksum_file(&path));
        match std::fs::remove_file(&path) {
            Ok(()) => {
                tracing::info!(scope, snapshot = name, "deleted snapshot");
                Ok(true)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e.into()),
        }
    }
}

/// A stored file being written; dropped unfinished, it leaves nothing behind.
pub struct SnapshotWriter {
    file: Option<File>,
    partial: PathBuf,
    path: PathBuf,
    kind: StoredKind,
    /// Synced when finished; its pages are sent to disk as they are written.
    durable: bool,
    /// Bytes already handed to the disk's writeback.
    written_back: u64,
    hasher: Sha256,
    size: u64,
}

impl SnapshotWriter {
    pub fn write(&mut self, data: &[u8]) -> Result<(), SnapshotError> {
        self.file
            .as_mut()
            .expect("written before finish")
            .write_all(data)?;
        self.hasher.update(data);
        self.size += data.len() as u64;
        if self.durable && self.size - self.written_back >= WRITEBACK_STEP {
            self.start_writeback();
        }
        Ok(())
    }

    /// Starts the disk writing the bytes written since the last call, without
    /// waiting: the final sync then finds little left, and a snapshot costs
    /// about the disk's time for it rather than that after all the rest.
    fn start_writeback(&mut self) {
        #[cfg(target_os = "linux")]
        {
            use std::os::fd::AsRawFd;
            let fd = self
                .file
                .as_ref()
                .expect("written before finish")
                .as_raw_fd();
            let (start, len) = (self.written_back, self.size - self.written_back);
            // SAFETY: a plain syscall on an open descriptor this writer owns; an
            // error only means the final sync does all the work.
            unsafe {
                libc::sync_file_range(
                    fd,
                    start as libc::off64_t,
                    len as libc::off64_t,
                    libc::SYNC_FILE_RANGE_WRITE,
                );
            }
        }
        self.written_back = self.size;
    }

    /// Checks the file (a damaged one is refused and removed), then keeps it
    /// under its name, or the name with `-1`, `-2`… when that is taken.
    pub fn finish(mut self) -> Result<StoredSnapshot, SnapshotError> {
        let file = self.file.take().expect("finished once");
        if self.durable {
            file.sync_all()?;
        }
        drop(file);
        match self.kind {
            StoredKind::Shard => {
                super::verify(File::open(&self.partial)?, self.size)?;
            }
            StoredKind::Collection => super::archive::verify(&self.partial, true)?,
            StoredKind::Full => super::archive::verify(&self.partial, false)?,
        }
        let path = free_name(&self.path);
        let checksum = hex(&std::mem::take(&mut self.hasher).finalize());
        std::fs::write(checksum_file(&path), &checksum)?;
        std::fs::rename(&self.partial, &path)?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        tracing::info!(snapshot = %path.display(), bytes = self.size, "stored snapshot");
        describe(&path, name)
    }
}

impl Drop for SnapshotWriter {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.partial);
    }
}

fn remove_partial(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            remove_partial(&path);
        } else if path.extension().is_some_and(|e| e == "partial") {
            tracing::info!(file = %path.display(), "removing a half-written snapshot");
            let _ = std::fs::remove_file(&path);
        }
    }
}

/// One path segment that cannot climb out of the store.
fn plain_name(s: &str) -> bool {
    !s.is_empty() && s != "." && s != ".." && !s.contains(['/', '\\', '\0'])
}

fn checksum_file(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_os_string();
    name.push(CHECKSUM_SUFFIX);
    PathBuf::from(name)
}

fn free_name(path: &Path) -> PathBuf {
    if !path.exists() {
        return path.to_path_buf();
    }
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let (stem, extension) = match name.rsplit_once('.') {
        Some((stem, extension)) => (stem.to_string(), format!(".{extension}")),
        None => (name.to_string(), String::new()),
    };
    (1..)
        .map(|n| path.with_file_name(format!("{stem}-{n}{extension}")))
        .find(|p| !p.exists())
        .expect("some suffix is free")
}

fn describe(path: &Path, name: String) -> Result<StoredSnapshot, SnapshotError> {
    let meta = std::fs::metadata(path)?;
    let created = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .unwrap_or_default();
    Ok(StoredSnapshot {
        name,
        created_unix_seconds: created.as_secs() as i64,
        size: meta.len(),
        checksum: std::fs::read_to_string(checksum_file(path)).unwrap_or_default(),
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_and_names_stay_inside_the_store() {
        let store = SnapshotStore::new(Path::new("/data"));
        assert!(store.dir("collections/a/shards/0").is_ok());
        assert!(store.dir("collections/../../etc").is_err());
        assert!(store.file("full", "../x.snapshot").is_err());
        assert!(store.file("full", "x.snapshot.checksum").is_err());
        assert!(store.file("full", ".hidden").is_err());
    }

    #[test]
    fn a_damaged_shard_snapshot_is_refused_and_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = SnapshotStore::new(dir.path());
        let mut writer = store
            .writer("staging", "x.snapshot", StoredKind::Shard)
            .unwrap();
        writer
            .write(b"TESSERA-SHARD-SNAPSHOT-1\nnot really")
            .unwrap();
        assert!(matches!(writer.finish(), Err(SnapshotError::Corrupt(_))));
        assert!(store.list("staging").unwrap().is_empty());
        assert_eq!(
            std::fs::read_dir(dir.path().join("snapshots/staging"))
                .unwrap()
                .count(),
            0
        );
    }
}
