//! Tessera's storage engine: one shard's points on one disk. A shard
//! ([`shard::Shard`]) orders operations through its WAL ([`wal`]), keeps
//! points in segments with vector indexes ([`index`]: HNSW, sparse,
//! quantized), payload indexes and filters ([`filter`]), and writes and
//! restores snapshots ([`snapshot`]). It knows nothing of gRPC, Raft or the
//! cluster: the data plane is the node around it.

pub mod filter;
pub mod host;
pub mod index;
mod payload_index;
mod segment;
pub mod shard;
pub mod snapshot;
pub mod wal;
