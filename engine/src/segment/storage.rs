//! Segments on disk: one directory per segment, written once under a temporary name and
//! renamed into place, every file checked against the CRC32 recorded in `meta.json`.
//!
//! * `points.bin`: per row, the id (tag byte 0 = number, 1 = UUID, then 16 bytes) and
//!   the version (u64 LE);
//! * `vectors-{i}.bin`: the rows' vectors of the i-th name in `meta.json` (f32 LE, zeros
//!   where absent), then one presence byte per row;
//! * `varying-{i}.bin`: the rows' vectors of the i-th name in `meta.json` whose size
//!   varies by row, per row a tag byte, then (all numbers LE): 0 = none; 1 = sparse: a
//!   count n (u32), n indices (u32) and n values (f32); 2 = multi-vector: a count n
//!   and a size d (u32), then n × d floats (f32);
//! * `payloads.bin`: rows + 1 offsets (u64 LE), then each row's payload as JSON.
//!
//! Segments are read into memory, or, for vectors with `on_disk: true` and payloads with
//! `on_disk_payload: true`, mapped (memmap2) from these same files: the float region of
//! `vectors-{i}.bin` is used in place, payloads are decoded from `payloads.bin` on demand.
//!
//! Deletion bitmaps change after the segment is written; each checkpoint writes them to
//! `deleted-{seq}.bin` files beside the segment, named by the checkpoint's manifest.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use memmap2::Mmap;

use serde::{Deserialize, Serialize};
use tessera_types::{Payload, PointId, SparseVector, Vector};
use uuid::Uuid;

use super::bitmap::AtomicBitmap;
use super::data::{Column, Floats, Payloads, SegmentData, VaryingColumn, VectorLayout};
use crate::wal::sync_dir;

const META: &str = "meta.json";
const POINTS: &str = "points.bin";
const PAYLOADS: &str = "payloads.bin";
const POINT_BYTES: usize = 25;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("segment I/O error: {0}")]
    Io(#[from] io::Error),
    #[error("segment data is corrupt: {0}")]
    Corrupt(String),
}

#[derive(Serialize, Deserialize)]
struct Meta {
    rows: usize,
    /// Vector names and sizes, in file order.
    vectors: Vec<(String, usize)>,
    /// Names of sparse and multi-vectors, in file order.
    #[serde(default)]
    varying: Vec<String>,
    /// CRC32 of each file.
    files: BTreeMap<String, u32>,
}

fn vector_file(i: usize) -> String {
    format!("vectors-{i}.bin")
}

fn varying_file(i: usize) -> String {
    format!("varying-{i}.bin")
}

const ABSENT: u8 = 0;
const SPARSE: u8 = 1;
const MULTI: u8 = 2;

fn encode_varying(column: &VaryingColumn) -> Vec<u8> {
    let mut out = Vec::new();
    let multi = |out: &mut Vec<u8>, vectors: &[&[f32]]| {
        out.push(MULTI);
        let dim = vectors.first().map_or(0, |v| v.len());
        out.extend_from_slice(&(vectors.len() as u32).to_le_bytes());
        out.extend_from_slice(&(dim as u32).to_le_bytes());
        for x in vectors.iter().flat_map(|v| v.iter()) {
            out.extend_from_slice(&x.to_le_bytes());
        }
    };
    for row in &column.rows {
        match row {
            None => out.push(ABSENT),
            Some(Vector::Sparse(v)) => {
                out.push(SPARSE);
                out.extend_from_slice(&(v.indices.len() as u32).to_le_bytes());
                for i in &v.indices {
                    out.extend_from_slice(&i.to_le_bytes());
                }
                for x in &v.values {
                    out.extend_from_slice(&x.to_le_bytes());
                }
            }
            Some(Vector::Multi(vectors)) => {
                let slices: Vec<&[f32]> = vectors.iter().map(Vec::as_slice).collect();
                multi(&mut out, &slices);
            }
            // Dense vectors have columns of their own; one here is a multi-vector of one.
            Some(Vector::Dense(v)) => multi(&mut out, &[v]),
        }
    }
    out
}

/// Reads little-endian numbers from the front of a byte slice.
struct Reader<'a> {
    bytes: &'a [u8],
}

impl Reader<'_> {
    fn byte(&mut self) -> Option<u8> {
        let (first, rest) = self.bytes.split_first()?;
        self.bytes = rest;
        Some(*first)
    }

    fn word(&mut self) -> Option<[u8; 4]> {
        let (word, rest) = self.bytes.split_first_chunk::<4>()?;
        self.bytes = rest;
        Some(*word)
    }

    fn u32s(&mut self, n: u32) -> Option<Vec<u32>> {
        (0..n)
            .map(|_| self.word().map(u32::from_le_bytes))
            .collect()
    }

    fn f32s(&mut self, n: u32) -> Option<Vec<f32>> {
        (0..n)
            .map(|_| self.word().map(f32::from_le_bytes))
            .collect()
    }
}

fn decode_varying(bytes: &[u8], rows: usize) -> Option<VaryingColumn> {
    let mut reader = Reader { bytes };
    let mut column = VaryingColumn::default();
    for _ in 0..rows {
        let row = match reader.byte()? {
            ABSENT => None,
            SPARSE => {
                let n = u32::from_le_bytes(reader.word()?);
                let indices = reader.u32s(n)?;
                let values = reader.f32s(n)?;
                Some(Vector::Sparse(SparseVector { indices, values }))
            }
            MULTI => {
                let n = u32::from_le_bytes(reader.word()?);
                let dim = u32::from_le_bytes(reader.word()?);
                let vectors = (0..n)
                    .map(|_| reader.f32s(dim))
                    .collect::<Option<Vec<Vec<f32>>>>()?;
                Some(Vector::Multi(vectors))
            }
            _ => return None,
        };
        column.rows.push(row);
    }
    reader.bytes.is_empty().then_some(column)
}

/// Writes `bytes` to `path` and makes it durable; returns its CRC32.
fn write_file(path: &Path, bytes: &[u8]) -> io::Result<u32> {
    let mut file = BufWriter::new(File::create(path)?);
    file.write_all(bytes)?;
    file.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    Ok(crc32fast::hash(bytes))
}

fn encode_points(data: &SegmentData) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() * POINT_BYTES);
    for (id, version) in data.ids.iter().zip(&data.versions) {
        let mut raw = [0u8; 17];
        match id {
            PointId::Num(n) => raw[1..9].copy_from_slice(&n.to_le_bytes()),
            PointId::Uuid(u) => {
                raw[0] = 1;
                raw[1..].copy_from_slice(u.as_bytes());
            }
        }
        out.extend_from_slice(&raw);
        out.extend_from_slice(&version.to_le_bytes());
    }
    out
}

fn encode_column(column: &Column) -> Vec<u8> {
    let mut out = Vec::with_capacity(column.data.len() * 4 + column.present.len());
    for x in column.data.iter() {
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.extend(column.present.iter().map(|p| u8::from(*p)));
    out
}

fn encode_payloads(payloads: &Payloads) -> Result<Vec<u8>, StorageError> {
    let mut bodies = Vec::new();
    let mut offsets = Vec::with_capacity(payloads.len() + 1);
    for p in payloads.iter() {
        offsets.push(bodies.len() as u64);
        serde_json::to_writer(&mut bodies, &*p)
            .map_err(|e| StorageError::Io(io::Error::other(e)))?;
    }
    offsets.push(bodies.len() as u64);
    let mut out = Vec::with_capacity(offsets.len() * 8 + bodies.len());
    for o in offsets {
        out.extend_from_slice(&o.to_le_bytes());
    }
    out.extend(bodies);
    Ok(out)
}

/// Writes `data` as the segment directory `dir`, atomically and durably.
pub(crate) fn write_segment(dir: &Path, data: &SegmentData) -> Result<(), StorageError> {
    let parent = dir.parent().expect("segment directories have a parent");
    let tmp = tmp_path(dir);
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp)?;
    }
    std::fs::create_dir_all(&tmp)?;
    let mut files = BTreeMap::new();
    files.insert(
        POINTS.to_string(),
        write_file(&tmp.join(POINTS), &encode_points(data))?,
    );
    files.insert(
        PAYLOADS.to_string(),
        write_file(&tmp.join(PAYLOADS), &encode_payloads(&data.payloads)?)?,
    );
    let mut vectors = Vec::new();
    for (i, (name, column)) in data.columns.iter().enumerate() {
        files.insert(
            vector_file(i),
            write_file(&tmp.join(vector_file(i)), &encode_column(column))?,
        );
        vectors.push((name.clone(), column.dim));
    }
    let mut varying = Vec::new();
    for (i, (name, column)) in data.varying.iter().enumerate() {
        files.insert(
            varying_file(i),
            write_file(&tmp.join(varying_file(i)), &encode_varying(column))?,
        );
        varying.push(name.clone());
    }
    let meta = Meta {
        rows: data.len(),
        vectors,
        varying,
        files,
    };
    let meta = serde_json::to_vec(&meta).map_err(|e| StorageError::Io(io::Error::other(e)))?;
    write_file(&tmp.join(META), &meta)?;
    sync_dir(&tmp)?;
    if dir.exists() {
        std::fs::remove_dir_all(dir)?;
    }
    std::fs::rename(&tmp, dir)?;
    sync_dir(parent)?;
    Ok(())
}

fn tmp_path(dir: &Path) -> PathBuf {
    let mut name = dir.file_name().expect("named").to_os_string();
    name.push(".tmp");
    dir.with_file_name(name)
}

fn read_checked(dir: &Path, name: &str, meta: &Meta) -> Result<Vec<u8>, StorageError> {
    let bytes = std::fs::read(dir.join(name))?;
    let want = meta
        .files
        .get(name)
        .ok_or_else(|| StorageError::Corrupt(format!("{}: {name} is not listed", dir.display())))?;
    if crc32fast::hash(&bytes) != *want {
        return Err(StorageError::Corrupt(format!(
            "{}: checksum mismatch in {name}",
            dir.display()
        )));
    }
    Ok(bytes)
}

/// Reads the dense column file `name` (`rows * dim` f32 LE, then a presence byte per
/// row) into memory through a 1 MB buffer, checking its CRC32 on the way: opening a
/// segment takes the column's floats and no second copy of its file.
fn read_column_checked(
    dir: &Path,
    name: &str,
    meta: &Meta,
    dim: usize,
) -> Result<Column, StorageError> {
    let corrupt = |what: &str| StorageError::Corrupt(format!("{}: {name} {what}", dir.display()));
    let want = *meta
        .files
        .get(name)
        .ok_or_else(|| corrupt("is not listed"))?;
    let mut file = File::open(dir.join(name))?;
    let floats_len = meta
        .rows
        .checked_mul(dim)
        .filter(|n| n.checked_mul(4).is_some())
        .ok_or_else(|| corrupt("has an impossible size"))?;
    let float_bytes = floats_len * 4;
    if file.metadata()?.len() != (float_bytes + meta.rows) as u64 {
        return Err(corrupt("has the wrong size"));
    }
    let mut hasher = crc32fast::Hasher::new();
    let mut floats = Vec::with_capacity(floats_len);
    let mut buf = vec![0u8; 1 << 20];
    let mut left = float_bytes;
    while left > 0 {
        let chunk = &mut buf[..left.min(1 << 20)];
        file.read_exact(chunk)?;
        hasher.update(chunk);
        floats.extend(
            chunk
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes"))),
        );
        left -= chunk.len();
    }
    let mut present = vec![0u8; meta.rows];
    file.read_exact(&mut present)?;
    hasher.update(&present);
    if hasher.finalize() != want {
        return Err(StorageError::Corrupt(format!(
            "{}: checksum mismatch in {name}",
            dir.display()
        )));
    }
    Ok(Column {
        dim,
        data: Floats::Memory(floats),
        present: present.iter().map(|b| *b != 0).collect(),
    })
}

/// Which parts of a segment are mapped from its files rather than read into memory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct OnDisk {
    /// Vector names stored on disk.
    pub vectors: BTreeSet<String>,
    pub payloads: bool,
    /// Qdrant's `memmap_threshold`: a segment whose vectors take more kilobytes than
    /// this maps all of them, so a collection moves to disk by itself as it grows.
    pub memmap_threshold_kb: Option<usize>,
}

impl OnDisk {
    /// Every dense vector of `layout` and the payloads.
    pub fn everything(layout: &VectorLayout) -> Self {
        OnDisk {
            vectors: layout.dense.keys().cloned().collect(),
            payloads: true,
            memmap_threshold_kb: None,
        }
    }

    /// Whether reading `data`'s segment back would map any part of it.
    pub fn maps_any_of(&self, data: &SegmentData) -> bool {
        let vector_bytes = data.columns.values().map(|c| c.data.len() * 4).sum();
        self.payloads
            || data
                .columns
                .keys()
                .any(|name| self.maps_vector(name, vector_bytes))
    }

    /// Whether vector `name` of a segment whose vectors take `segment_bytes` is mapped.
    pub fn maps_vector(&self, name: &str, segment_bytes: usize) -> bool {
        self.vectors.contains(name)
            || self
                .memmap_threshold_kb
                .is_some_and(|kb| segment_bytes > kb.saturating_mul(1024))
    }
}

/// The CRC32 of everything `reader` yields, read in 1 MB pieces (a file read this way
/// goes through the page cache and leaves the process's resident memory alone).
pub(crate) fn crc_of_reader(reader: &mut impl Read) -> io::Result<u32> {
    let mut hasher = crc32fast::Hasher::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            return Ok(hasher.finalize());
        }
        hasher.update(&buf[..n]);
    }
}

/// Maps the file `name` after checking its CRC32 with a streaming read (which goes
/// through the page cache and leaves the process's resident memory alone).
fn map_checked(dir: &Path, name: &str, meta: &Meta) -> Result<Arc<Mmap>, StorageError> {
    let want = meta
        .files
        .get(name)
        .ok_or_else(|| StorageError::Corrupt(format!("{}: {name} is not listed", dir.display())))?;
    let mut file = File::open(dir.join(name))?;
    if crc_of_reader(&mut file)? != *want {
        return Err(StorageError::Corrupt(format!(
            "{}: checksum mismatch in {name}",
            dir.display()
        )));
    }
    // SAFETY: segment files are written whole under a temporary directory name, renamed
    // into place and never modified afterwards (only removed, which keeps the inode alive
    // while mapped).
    Ok(Arc::new(unsafe { Mmap::map(&file)? }))
}

/// Reads the segment directory `dir` into memory, verifying every checksum.
pub(crate) fn read_segment(dir: &Path) -> Result<SegmentData, StorageError> {
    read_segment_with(dir, &OnDisk::default())
}

/// Reads the segment directory `dir`, mapping what `on_disk` names, verifying every
/// checksum.
pub(crate) fn read_segment_with(dir: &Path, on_disk: &OnDisk) -> Result<SegmentData, StorageError> {
    let corrupt = |what: &str| StorageError::Corrupt(format!("{}: {what}", dir.display()));
    let meta: Meta = serde_json::from_slice(&std::fs::read(dir.join(META))?)
        .map_err(|e| corrupt(&format!("unreadable {META}: {e}")))?;
    let rows = meta.rows;
    // Little-endian targets only (the files' byte order), and nothing to map when empty.
    let mappable = cfg!(target_endian = "little") && rows > 0;
    let points = read_checked(dir, POINTS, &meta)?;
    if points.len() != rows * POINT_BYTES {
        return Err(corrupt("points.bin has the wrong size"));
    }
    let mut data = SegmentData::default();
    for raw in points.chunks_exact(POINT_BYTES) {
        let id = match raw[0] {
            0 => PointId::Num(u64::from_le_bytes(raw[1..9].try_into().expect("8 bytes"))),
            1 => PointId::Uuid(Uuid::from_bytes(raw[1..17].try_into().expect("16 bytes"))),
            _ => return Err(corrupt("bad point id tag")),
        };
        data.ids.push(id);
        data.versions
            .push(u64::from_le_bytes(raw[17..25].try_into().expect("8 bytes")));
    }
    let header = (rows + 1) * 8;
    let check_offsets = |payloads: &[u8]| -> Result<Vec<usize>, StorageError> {
        if payloads.len() < header {
            return Err(corrupt("payloads.bin is too short"));
        }
        let offsets: Vec<usize> = payloads[..header]
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")) as usize)
            .collect();
        let ordered = offsets.first() == Some(&0) && offsets.windows(2).all(|w| w[0] <= w[1]);
        if !ordered || offsets[rows] > payloads.len() - header {
            return Err(corrupt("payload offsets out of range"));
        }
        Ok(offsets)
    };
    let decode = |bodies: &[u8], pair: &[usize]| -> Result<Payload, StorageError> {
        serde_json::from_slice(&bodies[pair[0]..pair[1]])
            .map_err(|e| corrupt(&format!("bad payload: {e}")))
    };
    if on_disk.payloads && mappable {
        let map = map_checked(dir, PAYLOADS, &meta)?;
        let offsets = check_offsets(&map)?;
        // Each payload is decoded once here, so a read of the mapped file
        // never meets one it cannot decode.
        for pair in offsets.windows(2) {
            decode(&map[header..], pair)?;
        }
        data.payloads = Payloads::Mapped { map, rows };
    } else {
        let payloads = read_checked(dir, PAYLOADS, &meta)?;
        let offsets = check_offsets(&payloads)?;
        data.payloads = Payloads::Memory(
            offsets
                .windows(2)
                .map(|pair| decode(&payloads[header..], pair))
                .collect::<Result<_, _>>()?,
        );
    }
    let vector_bytes: usize = meta.vectors.iter().map(|(_, dim)| rows * dim * 4).sum();
    for (i, (name, dim)) in meta.vectors.iter().enumerate() {
        let size = rows * dim * 4 + rows;
        let column = if on_disk.maps_vector(name, vector_bytes) && mappable {
            let map = map_checked(dir, &vector_file(i), &meta)?;
            if map.len() != size {
                return Err(corrupt(&format!("{} has the wrong size", vector_file(i))));
            }
            Column {
                dim: *dim,
                present: map[rows * dim * 4..].iter().map(|b| *b != 0).collect(),
                data: Floats::mapped(map, rows * dim),
            }
        } else {
            read_column_checked(dir, &vector_file(i), &meta, *dim)?
        };
        data.columns.insert(name.clone(), column);
    }
    for (i, name) in meta.varying.iter().enumerate() {
        let bytes = read_checked(dir, &varying_file(i), &meta)?;
        let column = decode_varying(&bytes, rows)
            .ok_or_else(|| corrupt(&format!("{} is malformed", varying_file(i))))?;
        data.varying.insert(name.clone(), column);
    }
    Ok(data)
}

/// A deletion bitmap's file name; `unique` keeps a new bitmap from overwriting the one
/// the current manifest names.
pub(crate) fn deletions_file(unique: u64) -> String {
    format!("deleted-{unique}.bin")
}

/// Writes a deletion bitmap into the segment directory; returns the file's CRC32.
pub(crate) fn write_deletions(
    dir: &Path,
    name: &str,
    bitmap: &AtomicBitmap,
) -> Result<u32, StorageError> {
    let crc = write_file(&dir.join(name), &bitmap.to_bytes())?;
    sync_dir(dir)?;
    Ok(crc)
}

pub(crate) fn read_deletions(
    dir: &Path,
    name: &str,
    crc: u32,
    rows: usize,
) -> Result<AtomicBitmap, StorageError> {
    let bytes = std::fs::read(dir.join(name))?;
    if crc32fast::hash(&bytes) != crc {
        return Err(StorageError::Corrupt(format!(
            "{}: checksum mismatch in {name}",
            dir.display()
        )));
    }
    AtomicBitmap::from_bytes(rows, &bytes).ok_or_else(|| {
        StorageError::Corrupt(format!("{}: {name} has the wrong size", dir.display()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::segment::data::StoredPoint;
    use tessera_types::NamedVectors;

    #[test]
    fn segments_round_trip_and_damage_is_detected() {
        let root = tempfile::tempdir().unwrap();
        let mut data = SegmentData::new(&crate::segment::VectorLayout {
            dense: BTreeMap::from([("a".to_string(), 2), ("b".to_string(), 1)]),
            varying: ["words".to_string(), "tokens".to_string()].into(),
        });
        for i in 0..5u64 {
            let mut vectors = NamedVectors::from([("a".to_string(), vec![i as f32, -1.5].into())]);
            if i % 2 == 0 {
                vectors.insert("b".into(), vec![7.0].into());
            }
            if i != 3 {
                let sparse = tessera_types::SparseVector {
                    indices: (0..i as u32).map(|k| k * 10).collect(),
                    values: (0..i).map(|k| k as f32 + 0.5).collect(),
                };
                vectors.insert("words".into(), sparse.into());
            }
            if i % 2 == 1 {
                let multi = (0..i).map(|k| vec![k as f32, -(i as f32)]).collect();
                vectors.insert("tokens".into(), Vector::Multi(multi));
            }
            data.push(&StoredPoint {
                id: if i == 4 {
                    PointId::Uuid(Uuid::from_u128(9))
                } else {
                    PointId::Num(i)
                },
                version: 100 + i,
                vectors,
                payload: serde_json::json!({"i": i, "s": "x"})
                    .as_object()
                    .unwrap()
                    .clone(),
            });
        }
        let dir = root.path().join("7");
        write_segment(&dir, &data).unwrap();
        assert_eq!(read_segment(&dir).unwrap(), data);
        // Mapped vectors and payloads read the same.
        let on_disk = OnDisk {
            vectors: ["a".to_string()].into(),
            payloads: true,
            memmap_threshold_kb: None,
        };
        let mapped = read_segment_with(&dir, &on_disk).unwrap();
        assert_eq!(mapped, data);
        assert_eq!(mapped.vector(1, "a"), Some(&[1.0, -1.5][..]));
        assert_eq!(
            mapped.payload(4).into_owned(),
            data.payloads.get(4).into_owned()
        );
        // A mapped segment converts to memory when written to.
        let mut copy = mapped.clone();
        copy.set(0, &data.point(1));
        assert_eq!(copy.point(0), data.point(1));
        assert_eq!(mapped.point(0), data.point(0));
        // Writing again replaces the directory.
        write_segment(&dir, &data).unwrap();

        let bitmap = AtomicBitmap::new(5);
        bitmap.set(3);
        let crc = write_deletions(&dir, &deletions_file(12), &bitmap).unwrap();
        let back = read_deletions(&dir, &deletions_file(12), crc, 5).unwrap();
        assert!(back.get(3) && back.count() == 1);
        assert!(read_deletions(&dir, &deletions_file(12), crc ^ 1, 5).is_err());

        let path = dir.join(vector_file(0));
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[3] ^= 1;
        std::fs::write(&path, bytes).unwrap();
        assert!(matches!(read_segment(&dir), Err(StorageError::Corrupt(_))));
    }

    /// A payload that does not decode (written so by a bug, its checksum
    /// matching) fails the read, mapped or not, rather than reading as empty.
    #[test]
    fn an_undecodable_payload_fails_the_read() {
        let root = tempfile::tempdir().unwrap();
        let mut data = SegmentData::new(&crate::segment::VectorLayout::default());
        for i in 0..3u64 {
            data.push(&StoredPoint {
                id: PointId::Num(i),
                version: i,
                vectors: NamedVectors::new(),
                payload: serde_json::json!({"i": i}).as_object().unwrap().clone(),
            });
        }
        let dir = root.path().join("1");
        write_segment(&dir, &data).unwrap();
        let path = dir.join(PAYLOADS);
        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        assert_eq!(bytes[last], b'}');
        bytes[last] = b']';
        std::fs::write(&path, &bytes).unwrap();
        let mut meta: Meta =
            serde_json::from_slice(&std::fs::read(dir.join(META)).unwrap()).unwrap();
        meta.files.insert(PAYLOADS.into(), crc32fast::hash(&bytes));
        std::fs::write(dir.join(META), serde_json::to_vec(&meta).unwrap()).unwrap();

        let mapped = OnDisk {
            payloads: true,
            ..OnDisk::default()
        };
        for on_disk in [OnDisk::default(), mapped] {
            match read_segment_with(&dir, &on_disk) {
                Err(StorageError::Corrupt(e)) => assert!(e.contains("bad payload"), "{e}"),
                other => panic!("read {other:?}"),
            }
        }
    }
}
