//! Quantized copies of one dense vector of one sealed segment: a fixed-size code per
//! row, so a graph walk reads a fraction of the bytes the full vectors take and the
//! full vectors are read only to re-score the best candidates.
//!
//! Three codecs: scalar (one byte per dimension), binary (one or two bits per
//! dimension) and product (one byte per group of dimensions, from k-means centroids).
//! Each estimates the user-facing score; the walk orders rows by that estimate.
//!
//! The file `quant-{i}.bin` (integers little-endian): magic, the length of a JSON
//! header (settings, distance, dimension, code length, rows, codec scalars) and the
//! header, the count of codec floats (centroids, thresholds) and the floats, then the
//! codes row after row, and a CRC32 of everything before it.

mod binary;
mod product;
mod scalar;

use std::io;
use std::path::Path;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use tessera_types::{Distance, QuantizationConfig};

use super::file::{self, Bytes, IndexFileError};

const MAGIC: &[u8; 8] = b"TSQUANT1";

/// Vectors the codecs learn their parameters from, spread evenly over the segment.
const TRAINING_SAMPLE: usize = 8192;

/// Rows encoded between checks for cancellation.
const ENCODE_CHUNK: usize = 4096;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Header {
    config: QuantizationConfig,
    distance: Distance,
    dim: usize,
    code_len: usize,
    rows: usize,
    codec: CodecHeader,
}

/// A codec's small parameters; its large ones travel as the file's floats.
#[derive(Debug, Clone, Serialize, Deserialize)]
enum CodecHeader {
    Scalar { lo: f32, step: f32 },
    Binary { bits_per_dim: usize },
    Product { sub_dim: usize, centroids: usize },
}

enum Codec {
    Scalar(scalar::Scalar),
    Binary(binary::Binary),
    Product(product::Product),
}

/// A query prepared for one codec: encoded once, compared with every code it meets.
pub enum PreparedQuery {
    Scalar(scalar::Query),
    Binary(binary::Query),
    Product(product::Query),
}

pub struct QuantizedVectors {
    header: Header,
    codec: Codec,
    bytes: Bytes,
    codes_at: usize,
}

impl QuantizedVectors {
    /// Codes for every row of a segment that holds the vector (`vector(row)`), with
    /// parameters learnt from an even sample of them. None when cancelled.
    pub fn build<'v>(
        config: &QuantizationConfig,
        distance: Distance,
        dim: usize,
        rows: usize,
        vector: &(dyn Fn(usize) -> Option<&'v [f32]> + Sync),
        cancelled: &(dyn Fn() -> bool + Sync),
    ) -> Option<QuantizedVectors> {
        let present: Vec<usize> = (0..rows).filter(|r| vector(*r).is_some()).collect();
        let step = present.len().div_ceil(TRAINING_SAMPLE).max(1);
        let sample: Vec<&[f32]> = present
            .iter()
            .step_by(step)
            .filter_map(|r| vector(*r))
            .collect();
        let (codec, codec_header, floats) = match config {
            QuantizationConfig::Scalar(c) => {
                let s = scalar::Scalar::train(&sample, dim, c.quantile.unwrap_or(1.0));
                let h = s.header();
                (Codec::Scalar(s), h, Vec::new())
            }
            QuantizationConfig::Binary(c) => {
                let b = binary::Binary::train(&sample, dim, c);
                let (h, f) = (b.header(), b.floats());
                (Codec::Binary(b), h, f)
            }
            QuantizationConfig::Product(c) => {
                let p = product::Product::train(&sample, dim, c.compression.dims_per_byte());
                let (h, f) = (p.header(), p.floats().to_vec());
                (Codec::Product(p), h, f)
            }
            QuantizationConfig::Turbo(_) => return None,
        };
        let code_len = codec.code_len(dim);
        let header = Header {
            config: config.clone(),
            distance,
            dim,
            code_len,
            rows,
            codec: codec_header,
        };
        let mut bytes = prelude(&header, &floats);
        let codes_at = bytes.len();
        bytes.resize(codes_at + rows * code_len, 0);
        let stopped = std::sync::atomic::AtomicBool::new(false);
        bytes[codes_at..]
            .par_chunks_mut(code_len.max(1) * ENCODE_CHUNK)
            .enumerate()
            .for_each(|(chunk, codes)| {
                if stopped.load(std::sync::atomic::Ordering::Relaxed) || cancelled() {
                    stopped.store(true, std::sync::atomic::Ordering::Relaxed);
                    return;
                }
                for (i, code) in codes.chunks_exact_mut(code_len).enumerate() {
                    if let Some(v) = vector(chunk * ENCODE_CHUNK + i) {
                        codec.encode(v, code);
                    }
                }
            });
        if stopped.into_inner() {
            return None;
        }
        let crc = crc32fast::hash(&bytes);
        bytes.extend_from_slice(&crc.to_le_bytes());
        Some(QuantizedVectors {
            header,
            codec,
            bytes: Bytes::Memory(bytes),
            codes_at,
        })
    }

    pub fn save(&self, path: &Path, scratch: &Path) -> io::Result<()> {
        file::save(&self.bytes, path, scratch)
    }

    /// Whether the codes are read through a mapping of their file.
    pub fn is_mapped(&self) -> bool {
        matches!(self.bytes, Bytes::Mapped(_))
    }

    /// The codes saved as `path`: mapped when the vectors they code are kept on disk,
    /// unless their settings ask for `always_ram`. None when no file is there; an error
    /// when it is damaged or was built for another distance.
    pub fn open(
        path: &Path,
        distance: Distance,
        vectors_on_disk: bool,
    ) -> Result<Option<Self>, IndexFileError> {
        let Some((bytes, mut handle)) = file::open(path, vectors_on_disk)? else {
            return Ok(None);
        };
        let damaged = || IndexFileError::Damaged("quantized vectors sizes do not add up");
        if bytes.len() < 24 || &bytes[..8] != MAGIC {
            return Err(damaged());
        }
        let header_len = u64_at(&bytes, 8) as usize;
        let header_end = 16usize.checked_add(header_len).ok_or_else(damaged)?;
        let header: Header = serde_json::from_slice(bytes.get(16..header_end).ok_or_else(damaged)?)
            .map_err(|_| damaged())?;
        let floats_at = header_end.next_multiple_of(8);
        let count = bytes
            .get(floats_at..floats_at + 8)
            .map(|b| u64_at(b, 0) as usize)
            .ok_or_else(damaged)?;
        let codes_at = floats_at + 8 + count.checked_mul(4).ok_or_else(damaged)?;
        let body = header
            .rows
            .checked_mul(header.code_len)
            .and_then(|n| n.checked_add(codes_at))
            .ok_or_else(damaged)?;
        if !file::crc_matches(&bytes, &mut handle, body)? {
            return Err(IndexFileError::Damaged(
                "quantized vectors checksum mismatch",
            ));
        }
        if header.distance != distance {
            return Err(IndexFileError::OtherDistance);
        }
        let floats: Vec<f32> = bytes[floats_at + 8..codes_at]
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes")))
            .collect();
        let codec = match header.codec {
            CodecHeader::Scalar { lo, step } => Codec::Scalar(scalar::Scalar::new(lo, step)),
            CodecHeader::Binary { bits_per_dim } => Codec::Binary(binary::Binary::new(
                &header.config,
                header.dim,
                bits_per_dim,
                floats,
            )),
            CodecHeader::Product { sub_dim, centroids } => Codec::Product(product::Product::new(
                header.dim, sub_dim, centroids, floats,
            )),
        };
        if codec.code_len(header.dim) != header.code_len {
            return Err(damaged());
        }
        let bytes = match bytes {
            Bytes::Mapped(map) if header.config.always_ram() => Bytes::Memory(map.to_vec()),
            bytes => bytes,
        };
        Ok(Some(QuantizedVectors {
            header,
            codec,
            bytes,
            codes_at,
        }))
    }

    /// The settings these codes were built with.
    pub fn config(&self) -> &QuantizationConfig {
        &self.header.config
    }

    /// Bytes the codes take (what a graph walk reads instead of the full vectors).
    pub fn code_bytes(&self) -> usize {
        self.header.rows * self.header.code_len
    }

    pub fn prepare(&self, query: &[f32]) -> PreparedQuery {
        match &self.codec {
            Codec::Scalar(c) => PreparedQuery::Scalar(c.prepare(query)),
            Codec::Binary(c) => PreparedQuery::Binary(c.prepare(query, self.header.distance)),
            Codec::Product(c) => PreparedQuery::Product(c.prepare(query, self.header.distance)),
        }
    }

    fn code(&self, row: usize) -> &[u8] {
        let len = self.header.code_len;
        let at = self.codes_at + row * len;
        &self.bytes[at..at + len]
    }

    /// The estimated user-facing score of `row` (as `kernels::score` would give).
    pub fn estimate(&self, query: &PreparedQuery, row: usize) -> f32 {
        let code = self.code(row);
        let distance = self.header.distance;
        match (query, &self.codec) {
            (PreparedQuery::Scalar(q), Codec::Scalar(c)) => c.estimate(q, code, distance),
            (PreparedQuery::Binary(q), Codec::Binary(c)) => c.estimate(q, code, distance),
            (PreparedQuery::Product(q), Codec::Product(c)) => c.estimate(q, code, distance),
            _ => unreachable!("a query is prepared by the codes it is compared with"),
        }
    }

    /// The estimate as a graph distance: smaller is closer.
    pub fn walk_distance(&self, query: &PreparedQuery, row: usize) -> f32 {
        let estimate = self.estimate(query, row);
        if self.header.distance.higher_is_better() {
            -estimate
        } else {
            estimate
        }
    }
}

impl Codec {
    fn code_len(&self, dim: usize) -> usize {
        match self {
            Codec::Scalar(_) => scalar::Scalar::code_len(dim),
            Codec::Binary(c) => c.code_len(dim),
            Codec::Product(c) => c.code_len(),
        }
    }

    fn encode(&self, v: &[f32], code: &mut [u8]) {
        match self {
            Codec::Scalar(c) => c.encode(v, code),
            Codec::Binary(c) => c.encode(v, code),
            Codec::Product(c) => c.encode(v, code),
        }
    }
}

/// The file up to its codes: magic, header, codec floats.
fn prelude(header: &Header, floats: &[f32]) -> Vec<u8> {
    let json = serde_json::to_vec(header).expect("headers serialize");
    let mut bytes = Vec::with_capacity(32 + json.len() + floats.len() * 4);
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&(json.len() as u64).to_le_bytes());
    bytes.extend_from_slice(&json);
    bytes.resize(bytes.len().next_multiple_of(8), 0);
    bytes.extend_from_slice(&(floats.len() as u64).to_le_bytes());
    for f in floats {
        bytes.extend_from_slice(&f.to_le_bytes());
    }
    bytes
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"))
}

#[cfg(test)]
mod tests;
