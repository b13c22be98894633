//! Index files: written whole under a scratch name and renamed into place, read
//! into memory or mapped, with a CRC32 of everything before their last four bytes.

use std::fs::File;
use std::io::{self, Read, Write};
use std::ops::Deref;
use std::path::Path;

use memmap2::Mmap;

use crate::segment::crc_of_reader;
use crate::wal::sync_dir;

/// Why a saved index file (a graph, quantized codes) cannot be used: the
/// caller rebuilds it from the segment's vectors.
#[derive(Debug, thiserror::Error)]
pub enum IndexFileError {
    #[error("cannot read the index file: {0}")]
    Io(#[from] io::Error),
    /// Not an index file of this kind, or one whose sizes or checksum do not add up.
    #[error("the index file is damaged: {0}")]
    Damaged(&'static str),
    #[error("the index file was built for another distance")]
    OtherDistance,
}

/// An index file's bytes, read into memory or mapped.
pub(crate) enum Bytes {
    Memory(Vec<u8>),
    Mapped(Mmap),
}

impl Deref for Bytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            Bytes::Memory(v) => v,
            Bytes::Mapped(m) => m,
        }
    }
}

/// Writes `bytes` as the file `path`: under the same name in `scratch` (a directory on
/// the same file system), made durable, then renamed into place.
pub(crate) fn save(bytes: &[u8], path: &Path, scratch: &Path) -> io::Result<()> {
    let name = path.file_name().expect("a file path");
    let tmp = scratch.join(name);
    {
        let mut file = File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    sync_dir(path.parent().expect("a file path"))
}

/// The file at `path` (None when there is none), mapped when `mmap`, read otherwise.
pub(crate) fn open(path: &Path, mmap: bool) -> Result<Option<(Bytes, File)>, IndexFileError> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let bytes = if mmap {
        // SAFETY: index files are written whole under another name, renamed into
        // place and never modified afterwards (only removed or replaced by rename,
        // which keeps a mapped inode alive).
        Bytes::Mapped(unsafe { Mmap::map(&file) }?)
    } else {
        Bytes::Memory(std::fs::read(path)?)
    };
    Ok(Some((bytes, file)))
}

/// Whether the CRC32 of the first `body` bytes matches the four after them. A mapped
/// file is checked by a streaming read, which leaves it out of the process's resident
/// memory.
pub(crate) fn crc_matches(bytes: &Bytes, file: &mut File, body: usize) -> io::Result<bool> {
    if bytes.len() != body + 4 {
        return Ok(false);
    }
    let want = u32::from_le_bytes(bytes[body..].try_into().expect("4 bytes"));
    let crc = match bytes {
        Bytes::Memory(v) => crc32fast::hash(&v[..body]),
        Bytes::Mapped(_) => crc_of_reader(&mut file.take(body as u64))?,
    };
    Ok(crc == want)
}
