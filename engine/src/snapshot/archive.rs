//! Collection and full snapshots: tar archives whose `*.snapshot` entries are
//! shard snapshots and whose `collection.json` entries are manifests. Checked
//! whole before a store keeps one, so a damaged file never reaches a restore.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use tessera_types::{shard_entry, CollectionSnapshotManifest, COLLECTION_MANIFEST};

use super::SnapshotError;

/// Tar's unit: headers, and the padding each entry's data is filled up to.
const BLOCK: u64 = 512;

/// Reads every byte of the archive at `path`: each header (whose checksum tar
/// checks), each shard snapshot's checksum, each manifest's JSON, and that
/// the padding and the end of the archive are zeros, as written. For a
/// collection snapshot (`require_manifest`), a root manifest whose shards are
/// all present.
pub fn verify(path: &Path, require_manifest: bool) -> Result<(), SnapshotError> {
    let zeros = verify_entries(path, require_manifest)?;
    // Padding inside the archive and the blocks after its last entry hold no
    // data a reader looks at: a damaged byte there must still be caught.
    let mut file = File::open(path)?;
    let len = file.metadata()?.len();
    let mut buffer = vec![0u8; super::store::CHUNK];
    for (start, end) in zeros {
        let mut at = start;
        let end = end.min(len);
        file.seek(SeekFrom::Start(at))?;
        while at < end {
            let n = ((end - at) as usize).min(buffer.len());
            file.read_exact(&mut buffer[..n])?;
            if buffer[..n].iter().any(|b| *b != 0) {
                return Err(SnapshotError::Corrupt(format!(
                    "unexpected bytes in the archive's padding after offset {at}"
                )));
            }
            at += n as u64;
        }
    }
    Ok(())
}

/// Checks the entries; returns the byte ranges that must be zeros.
fn verify_entries(path: &Path, require_manifest: bool) -> Result<Vec<(u64, u64)>, SnapshotError> {
    let mut zeros = Vec::new();
    let mut end_of_entries = 0;
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
        let data_end = entry.raw_file_position() + size;
        end_of_entries = data_end.div_ceil(BLOCK) * BLOCK;
        zeros.push((data_end, end_of_entries));
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
    zeros.push((end_of_entries, u64::MAX));
    Ok(zeros)
}

/// Streams the entry `entry` of the archive at `path` to `sink` in chunks,
/// telling it the entry's size first. Returns early when `sink` says stop.
pub fn read_entry(
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_damaged_byte_anywhere_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.snapshot");
        {
            let mut builder = tar::Builder::new(File::create(&path).unwrap());
            let mut header = tar::Header::new_gnu();
            header.set_size(3);
            header.set_mode(0o644);
            header.set_cksum();
            builder
                .append_data(&mut header, "notes.txt", &b"abc"[..])
                .unwrap();
            builder.finish().unwrap();
        }
        verify(&path, false).unwrap();
        let good = std::fs::read(&path).unwrap();
        // In the header (its checksum), in the padding, in the end blocks.
        for at in [100, 512 + 3 + 10, good.len() - 5] {
            let mut bad = good.clone();
            bad[at] ^= 0xff;
            std::fs::write(&path, &bad).unwrap();
            assert!(
                matches!(verify(&path, false), Err(SnapshotError::Corrupt(_))),
                "a damaged byte at {at} passed"
            );
        }
    }
}
