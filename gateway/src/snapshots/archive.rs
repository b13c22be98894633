//! Writes a collection snapshot archive as a stream, entry by entry, without
//! holding it anywhere: tar headers are made here, each entry's bytes come
//! straight from the data node that packs the shard.

use tessera_types::{TesseraError, COLLECTION_MANIFEST};

const BLOCK: usize = 512;

/// The header (and, for a long name, the GNU long-name record before it) of a
/// regular file `path` of `size` bytes.
pub fn entry_header(path: &str, size: u64) -> Result<Vec<u8>, TesseraError> {
    let mut out = Vec::with_capacity(3 * BLOCK);
    let mut header = tar::Header::new_gnu();
    if path.len() >= 100 {
        // A name longer than the header's field travels in a record of its own.
        let mut long = tar::Header::new_gnu();
        long.as_gnu_mut().expect("a GNU header").name[..13].copy_from_slice(b"././@LongLink");
        long.set_entry_type(tar::EntryType::GNULongName);
        long.set_mode(0o644);
        long.set_size(path.len() as u64 + 1);
        long.set_cksum();
        out.extend_from_slice(long.as_bytes());
        out.extend_from_slice(path.as_bytes());
        out.push(0);
        out.extend_from_slice(&padding(path.len() as u64 + 1));
        let name = &mut header.as_gnu_mut().expect("a GNU header").name;
        name.copy_from_slice(&path.as_bytes()[..100]);
    } else {
        header
            .set_path(path)
            .map_err(|e| TesseraError::bad_input(format!("snapshot entry `{path}`: {e}")))?;
    }
    header.set_entry_type(tar::EntryType::Regular);
    header.set_mode(0o644);
    header.set_size(size);
    header.set_mtime(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs(),
    );
    header.set_cksum();
    out.extend_from_slice(header.as_bytes());
    Ok(out)
}

/// Zeros that fill an entry of `size` bytes to a whole block.
pub fn padding(size: u64) -> Vec<u8> {
    vec![0; (BLOCK - (size as usize % BLOCK)) % BLOCK]
}

/// The two empty blocks that end an archive.
pub fn end() -> Vec<u8> {
    vec![0; 2 * BLOCK]
}

/// The manifest entry of a collection whose entries start with `prefix`.
pub fn manifest_entry(prefix: &str, json: &[u8]) -> Result<Vec<u8>, TesseraError> {
    let mut out = entry_header(&format!("{prefix}{COLLECTION_MANIFEST}"), json.len() as u64)?;
    out.extend_from_slice(json);
    out.extend_from_slice(&padding(json.len() as u64));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn a_streamed_archive_reads_back_with_the_tar_crate() {
        let long = format!("collections/{}/shards/0.snapshot", "c".repeat(150));
        let mut bytes = manifest_entry("", b"{\"a\":1}").unwrap();
        bytes.extend(entry_header(&long, 3).unwrap());
        bytes.extend(b"xyz");
        bytes.extend(padding(3));
        bytes.extend(end());
        let mut archive = tar::Archive::new(&bytes[..]);
        let mut seen = Vec::new();
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let mut data = String::new();
            entry.read_to_string(&mut data).unwrap();
            seen.push((entry.path().unwrap().to_string_lossy().into_owned(), data));
        }
        assert_eq!(
            seen,
            vec![
                ("collection.json".to_string(), "{\"a\":1}".to_string()),
                (long, "xyz".to_string())
            ]
        );
    }
}
