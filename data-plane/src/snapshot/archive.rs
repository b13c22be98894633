//! Collection and full snapshots: tar archives whose `*.snapshot` entries are
//! shard snapshots and whose `collection.json` entries are manifests. Checked
//! whole before a store keeps one, so a damaged file never reaches a restore.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use tessera_types::{shard_entry, CollectionSnapshotManifest, COLLECTION_MANIFEST};

use super::SnapshotError;

/// Reads every entry of the archive at `path`: each shard snapshot's checksum,
/// each manifest's JSON, and (for a collection snapshot, `require_manifest`) a
/// root manifest whose shards are all present.
pub(crate) fn verify(path: &Path, require_manifest: bool) -> Result<(), SnapshotError> {
    let damaged =
        |e: std::io::Error| SnapshotError::Corrupt(format!("not a snapshot archive: {e}"));
    let mut archive = tar::Archive::new(File::open(path)?);
    let mut manifest = None;
    let mut shard_entries = Vec::new();
    for entry in archive.entries().map_err(damaged)? {
        let mut entry = entry.map_err(damaged)?;
        let name = entry
            .path()
            .map_err(damaged)?
            .to_string_lossy()
            .into_owned();
        let size = entry.size();
        if name.ends_with(".snapshot") {
            super::verify(&mut entry, size).map_err(|e| match e {
                SnapshotError::Corrupt(why) => SnapshotError::Corrupt(format!("{name}: {why}")),
                other => other,
            })?;
            shard_entries.push(name);
        } else if name.ends_with(COLLECTION_MANIFEST) {
            let mut json = Vec::new();
            entry.read_to_end(&mut json).map_err(damaged)?;
            let parsed: CollectionSnapshotManifest = serde_json::from_slice(&json)
                .map_err(|e| SnapshotError::Corrupt(format!("{name}: {e}")))?;
            if name == COLLECTION_MANIFEST {
                manifest = Some(parsed);
            }
        }
    }
    if require_manifest {
        let manifest = manifest.ok_or_else(|| {
            SnapshotError::Corrupt(format!(
                "not a collection snapshot: no {COLLECTION_MANIFEST}"
            ))
        })?;
        for shard in &manifest.shards {
            let entry = shard_entry(shard.shard_id);
            if !shard_entries.contains(&entry) {
                return Err(SnapshotError::Corrupt(format!("{entry} is missing")));
            }
        }
    }
    Ok(())
}

/// Streams the entry `entry` of the archive at `path` to `sink` in chunks,
/// telling it the entry's size first. Returns early when `sink` says stop.
pub(crate) fn read_entry(
    path: &Path,
    entry: &str,
    mut sink: impl FnMut(u64, &[u8]) -> bool,
) -> Result<(), SnapshotError> {
    let damaged =
        |e: std::io::Error| SnapshotError::Corrupt(format!("not a snapshot archive: {e}"));
    let mut archive = tar::Archive::new(File::open(path)?);
    for found in archive.entries().map_err(damaged)? {
        let mut found = found.map_err(damaged)?;
        if found.path().map_err(damaged)?.to_string_lossy() != entry {
            continue;
        }
        let size = found.size();
        let mut buffer = vec![0u8; super::store::CHUNK];
        let mut first = true;
        loop {
            let n = found.read(&mut buffer)?;
            // An empty entry still sends one chunk, which carries its size.
            if n == 0 && !first {
                return Ok(());
            }
            if !sink(size, &buffer[..n]) || n == 0 {
                return Ok(());
            }
            first = false;
        }
    }
    Err(SnapshotError::NotFound(format!(
        "the snapshot has no entry {entry}"
    )))
}
