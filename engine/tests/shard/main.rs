//! Shard storage engine tests, on real files in temporary directories.

mod common;
mod concurrency;
mod crud;
mod model;
mod on_disk;
mod payload_index;
mod quantization;
mod records;
mod recovery;
mod search;
mod snapshot;
