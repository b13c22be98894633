//! Segments, the units a shard's points are stored in: one appendable segment that takes
//! writes, and immutable segments built from it by the optimizer, each searchable on its
//! own and persisted in its own directory.

mod appendable;
mod bitmap;
mod data;
mod immutable;
mod storage;

pub(crate) use appendable::Appendable;
pub(crate) use bitmap::AtomicBitmap;
pub(crate) use data::{Column, SegmentData, StoredPoint, VaryingColumn, VectorLayout};
pub(crate) use immutable::ImmutableSegment;
pub(crate) use storage::{
    crc_of_reader, deletions_file, read_deletions, read_segment, read_segment_with,
    write_deletions, write_segment, OnDisk, StorageError,
};
